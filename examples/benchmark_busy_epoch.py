"""One training epoch on a quiet machine and beside busy processes, ours against PyTorch.

    python examples/benchmark_busy_epoch.py [--rounds 3] [--busy 1] [--dataset fashion-mnist]

Users' machines are rarely idle. This runs, in alternating rounds and each in a process of
its own, one epoch of

* ``tinygrad-cnn train`` as a user runs it (BLAS threads chosen by measuring),
* the same with ``--threads`` fixed at the cores available (what NumPy does by itself,
  the behaviour before the threads were chosen), and
* ``examples/train_lenet_torch.py`` (plain PyTorch, the same recipe, ``torch`` threads =
  the cores available),

first on the machine as it is, then beside ``--busy`` processes spinning on the CPU
(:class:`tinygrad_cnn.bench.busy.BusyProcesses`). What is compared is the training time
each program reports for its epoch (``--log`` seconds for ours; the ``s of training`` of
the PyTorch script), not the process's wall time. Prints one line per run, then per
program the median of the rounds (with min-max), busy over quiet, and ours over PyTorch
beside the same load; ``--json`` prints everything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from tinygrad_cnn.backend.threads import available_cores
from tinygrad_cnn.bench.busy import BusyProcesses

HERE = os.path.dirname(os.path.abspath(__file__))
CORES = available_cores()


def programs(dataset: str, log: str) -> dict:
    cli = [sys.executable, "-m", "tinygrad_cnn", "train", "--dataset", dataset, "--epochs",
           "1", "--checkpoint", "", "--log", log]
    return {
        "tinygrad-cnn train": cli,
        f"tinygrad-cnn train --threads {CORES}": cli + ["--threads", str(CORES)],
        "PyTorch": [sys.executable, os.path.join(HERE, "train_lenet_torch.py"), "--dataset",
                    dataset, "--epochs", "1", "--threads", str(CORES)],
    }


def training_seconds(name: str, output: str, log: str) -> float:
    """The training seconds the program reported for its one epoch."""
    if name == "PyTorch":
        return float(re.search(r"([0-9.]+) s of training", output).group(1))
    with open(log) as f:
        return json.loads(f.read().splitlines()[-1])["seconds"]


def run_once(name: str, command: list, log: str, busy: int) -> float:
    if os.path.exists(log):
        os.remove(log)
    with BusyProcesses(busy, seconds=900):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"{name} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return training_seconds(name, done.stdout, log)


def format_table(result: dict) -> str:
    """The measurements of :func:`main` (its ``--json`` output) as a Markdown table."""
    times = result["seconds"]
    med = {n: {load: statistics.median(v) for load, v in t.items()} for n, t in times.items()}
    lines = [f"one {result['dataset']} epoch, training seconds, median of {result['rounds']} "
             f"rounds (min-max); busy = beside {result['busy']} spinning process"
             f"{'es' if result['busy'] > 1 else ''}, {result['cores']} cores", "",
             "| program | quiet | busy | busy / quiet | busy, over PyTorch's busy |",
             "| --- | --- | --- | --- | --- |"]
    for name, t in times.items():
        q, b = med[name]["quiet"], med[name]["busy"]
        lines.append(f"| {name} | {q:.2f} ({min(t['quiet']):.2f}-{max(t['quiet']):.2f}) | "
                     f"{b:.2f} ({min(t['busy']):.2f}-{max(t['busy']):.2f}) | {b / q:.2f} | "
                     f"{b / med['PyTorch']['busy']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--busy", type=int, default=1, help="spinning processes (default 1)")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    times: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        log = os.path.join(scratch, "metrics.jsonl")
        for r in range(args.rounds):
            for name, command in programs(args.dataset, log).items():
                for load in ("quiet", "busy"):
                    seconds = run_once(name, command, log, args.busy if load == "busy" else 0)
                    times.setdefault(name, {}).setdefault(load, []).append(seconds)
                    print(f"round {r + 1}/{args.rounds}  {name:32s} {load:5s} {seconds:6.2f} s",
                          file=sys.stderr, flush=True)
    result = {"busy": args.busy, "cores": CORES, "dataset": args.dataset,
              "rounds": args.rounds, "seconds": times}
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
