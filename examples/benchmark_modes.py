"""Why do processes run at one of two speeds? One line per fresh process, with what might
explain its speed.

    python examples/benchmark_modes.py [--processes 12] [--batch-size 64] [--threads 1]
                                       [--library ours|torch]

On the shared VMs this project is measured on, a process of either library runs at one of
two speeds and keeps it (ours at batch 64: about 8,900 or 14,100 images/s). Each process
started here times LeNet-5 training steps for ``--seconds`` and reports, beside its speed:

* ``cpu``: the cores it ran on (sampled from ``/proc/self/stat`` during the run) — thread
  placement;
* ``steal``: the share of its cores' time the hypervisor gave to other guests
  (``/proc/stat``) — a neighbour on the host;
* ``thp MiB``: anonymous memory backed by transparent huge pages (``/proc/self/smaps_rollup``)
  — huge pages;
* ``faults``: minor page faults per step while timed — allocation;
* ``align``: how many of the ten largest NumPy buffers of a step start on a 4 KiB page
  (ours only) — allocation alignment;
* ``kernel``: the BLAS kernel OpenBLAS chose (threadpoolctl's ``architecture``).

Then the speeds are split into two groups at the largest gap, and each column compared
between the groups. Not a unit test: it measures this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r'''
import json, os, resource, sys, time
import numpy as np
library, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds = float(sys.argv[4])
from threadpoolctl import ThreadpoolController
rng = np.random.default_rng(0)
x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
y = rng.integers(0, 10, batch)
sizes = []
if library == "ours":
    import tinygrad_cnn as tg
    from tinygrad_cnn import Tensor, optim
    from tinygrad_cnn.models import LeNet5
    from tinygrad_cnn.nn import functional as F
    tg.set_num_threads(threads)
    tg.manual_seed(0)
    model = LeNet5()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = Tensor(x), Tensor(y)
    def step():
        loss = F.cross_entropy(model(xt), yt)
        opt.zero_grad(); loss.backward(); opt.step()
        return loss
else:
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    def step():
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad(); loss.backward(); opt.step()
        return loss
def cpu_now():
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])
def stat_cpus():
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            p = line.split()
            if p[0].startswith("cpu") and p[0] != "cpu":
                v = [int(a) for a in p[1:9]]
                out[int(p[0][3:])] = (sum(v), v[7])
    return out
for _ in range(20):
    step()
cpus, n = set(), 0
before, faults = stat_cpus(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
while time.perf_counter() - start < seconds:
    step(); n += 1
    if n % 10 == 0:
        cpus.add(cpu_now())
wall = time.perf_counter() - start
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
after = stat_cpus()
total = sum(after[c][0] - before[c][0] for c in after)
steal = sum(after[c][1] - before[c][1] for c in after)
thp = 0
try:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                thp = int(line.split()[1]) // 1024
except OSError:
    pass
align = None
if library == "ours":  # the recycled buffers of a step: where in a page does each start?
    from tinygrad_cnn import workspace
    held = workspace.held_buffers()[:10]
    align = sum(b.ctypes.data % 4096 == 0 for b in held)
blas = ThreadpoolController().select(user_api="blas").info()
print(json.dumps({"rate": batch * n / wall, "cpus": sorted(cpus), "steal": steal / max(total, 1),
                  "thp_mib": thp, "faults_per_step": faults / n, "align": align,
                  "kernel": blas[0].get("architecture") if blas else None}))
'''


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--library", choices=["ours", "torch"], default="ours")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = []
    for i in range(args.processes):
        done = subprocess.run([sys.executable, "-c", CHILD, args.library, str(args.batch_size),
                               str(args.threads), str(args.seconds)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            sys.exit(done.stderr.strip().splitlines()[-1])
        row = json.loads(done.stdout)
        rows.append(row)
        print(f"{i + 1:3d}  {row['rate']:8,.0f} images/s  cpu {row['cpus']}  steal "
              f"{100 * row['steal']:4.1f}%  thp {row['thp_mib']:4d} MiB  faults/step "
              f"{row['faults_per_step']:6.1f}  align {row['align']}  kernel {row['kernel']}",
              file=sys.stderr,
              flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    rates = sorted(r["rate"] for r in rows)
    gaps = [(rates[i + 1] / rates[i], i) for i in range(len(rates) - 1)]
    ratio, at = max(gaps) if gaps else (1.0, 0)
    cut = rates[at]
    slow = [r for r in rows if r["rate"] <= cut]
    fast = [r for r in rows if r["rate"] > cut]
    print(f"{args.library}, batch {args.batch_size}, {args.threads} thread(s): largest gap "
          f"{ratio:.2f}x between {cut:,.0f} and {rates[min(at + 1, len(rates) - 1)]:,.0f} "
          "images/s")
    for name, group in (("slow", slow), ("fast", fast)):
        if not group:
            continue
        med = statistics.median
        print(f"{name:4s} {len(group):2d} processes: {med(r['rate'] for r in group):8,.0f} "
              f"images/s, steal {100 * med(r['steal'] for r in group):4.1f}%, thp "
              f"{med(r['thp_mib'] for r in group):.0f} MiB, faults/step "
              f"{med(r['faults_per_step'] for r in group):.1f}, page-aligned buffers "
              f"{med(r['align'] or 0 for r in group):.0f}/10, cpus "
              f"{sorted({c for r in group for c in r['cpus']})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
