"""One library, one case, one process: the worker behind ``tinygrad-cnn bench``.

Started by :mod:`tinygrad_cnn.bench.harness` as ``python -c <bootstrap> this_file worker ...``
rather than ``python -m``, so that the PyTorch worker never imports tinygrad_cnn (which
would add to its memory): this module imports only the standard library and NumPy at the
top, and our library inside :func:`_ours`. The same entry point also works as
``python -m tinygrad_cnn.bench.worker worker ...``.

Timing: a warm-up, then blocks of steps of about ``block_seconds`` each. For every block the
worker reads how much CPU time the machine spent on its cores (``/proc/stat``) and how much
of it was its own (``getrusage``); a block in which other processes took more than
``max_other_cpu`` of the cores' time measured the neighbours as much as the code, so it is
flagged, and another block is run in its place (up to three times the number asked for).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np

LIBRARIES = ("ours", "torch")
TASKS = ("train", "infer")
_LENET_SHAPES = {
    "conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,),
    "conv2.weight": (16, 6, 5, 5), "conv2.bias": (16,),
    "fc1.weight": (120, 400), "fc1.bias": (120,),
    "fc2.weight": (84, 120), "fc2.bias": (84,),
    "fc3.weight": (10, 84), "fc3.bias": (10,),
}
_FAN_IN = {"conv1": 25, "conv2": 150, "fc1": 400, "fc2": 120, "fc3": 84}


def batches_per_case(batch_size: int) -> int:
    """Distinct batches written for a case: a few, cycled through, at most 4,096 images."""
    return max(2, min(8, 4096 // batch_size))


# ----------------------------------------------------------------------------- CPU accounting

def machine_busy_seconds(cpus) -> float | None:
    """CPU seconds the machine has spent busy on ``cpus`` since boot (``/proc/stat``);
    steal time counts as busy (another guest had the core). None where unreadable."""
    wanted = {f"cpu{c}" for c in cpus}
    busy = 0
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                fields = line.split()
                if fields and fields[0] in wanted:
                    # user nice system idle iowait irq softirq steal (guest is within user)
                    values = [int(v) for v in fields[1:9]]
                    busy += sum(values) - values[3] - values[4]
    except (OSError, ValueError):
        return None
    return busy / os.sysconf("SC_CLK_TCK")


def proc_kib(path: str, key: str) -> int | None:
    """The kB figure of line ``key:`` of a ``/proc`` file, or None where it cannot be read
    (not Linux, or no such line)."""
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident memory: ``VmHWM`` from ``/proc/self/status``.

    ``ru_maxrss`` would do elsewhere, but on Linux it keeps the high-water mark of the
    address space a process had before ``exec``, i.e. the parent's copy at ``fork``; a
    large parent would inflate every worker's figure.
    """
    peak = proc_kib("/proc/self/status", "VmHWM")
    if peak is not None:
        return peak * 1024
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def own_cpu_seconds(children: bool = False) -> float:
    """CPU seconds used by every thread of this process so far; with ``children``, also by
    the child processes that have ended and been waited for."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)[:1 + children]:
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def other_cpu_share(wall: float, machine_busy: float, own: float, cores: int) -> float:
    """The share of the cores' time during ``wall`` seconds that went to other processes."""
    return (machine_busy - own) / (wall * cores)


def tick_resolution(wall: float, cores: int) -> float:
    """How far :func:`other_cpu_share` can be off: ``/proc/stat`` counts in clock ticks
    (1/100 s), so the machine's busy time is known to about a tick per reading."""
    return 2 / (os.sysconf("SC_CLK_TCK") * wall * cores)


class CpuWatch:
    """``with CpuWatch() as w: ...`` leaves in ``w.record`` the block's wall time
    (``seconds``), the share of this process's cores that other processes took
    (``other_cpu``, None where ``/proc/stat`` cannot be read) and that share's
    ``resolution``. With ``children=True`` the child processes the block ran to their end
    count as this process (a block that runs a command and waits for it)."""

    def __init__(self, children: bool = False):
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.children = children
        self.record = None

    def __enter__(self):
        self._busy = machine_busy_seconds(self.cpus)
        self._own = own_cpu_seconds(self.children)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._start
        own, busy = own_cpu_seconds(self.children), machine_busy_seconds(self.cpus)
        self.record = {"seconds": wall, "other_cpu": None}
        if self._busy is not None and busy is not None and self.cpus and wall > 0:
            cores = len(self.cpus)
            self.record["other_cpu"] = round(
                other_cpu_share(wall, busy - self._busy, own - self._own, cores), 4)
            self.record["resolution"] = round(tick_resolution(wall, cores), 4)
        return False


def is_quiet(record: dict, max_other_cpu: float) -> bool:
    """Whether other processes took at most ``max_other_cpu`` of the CPU during a block
    (within the counters' resolution); blocks that could not be checked count as quiet."""
    if record.get("other_cpu") is None:
        return True
    return record["other_cpu"] <= max_other_cpu + record.get("resolution", 0.0)


# ----------------------------------------------------------------------------- inputs

def write_inputs(directory: str, cases, seed: int = 0) -> None:
    """Weights (PyTorch's default init ranges) and the batches of every case, from ``seed``."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in _LENET_SHAPES.items():
        bound = 1.0 / math.sqrt(_FAN_IN[name.split(".")[0]])
        weights[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    np.savez(os.path.join(directory, "weights.npz"), **weights)
    for task, batch_size in cases:
        n = batches_per_case(batch_size) * batch_size
        # pixels normalised as the datasets are (mean 0.286, std 0.353 for Fashion-MNIST)
        images = (rng.random((n, 1, 28, 28), dtype=np.float32) - np.float32(0.286)) / np.float32(
            0.353)
        labels = rng.integers(0, 10, n).astype(np.int64)
        np.save(os.path.join(directory, f"{task}{batch_size}-images.npy"), images)
        np.save(os.path.join(directory, f"{task}{batch_size}-labels.npy"), labels)


def read_weights(directory: str) -> dict:
    """The LeNet-5 weights that :func:`write_inputs` wrote, by state-dict name."""
    with np.load(os.path.join(directory, "weights.npz")) as npz:
        return {k: npz[k] for k in npz.files}


def read_inputs(directory: str, task: str, batch_size: int):
    """The weights and the list of ``(images, labels)`` batches of one case."""
    weights = read_weights(directory)
    images = np.load(os.path.join(directory, f"{task}{batch_size}-images.npy"))
    labels = np.load(os.path.join(directory, f"{task}{batch_size}-labels.npy"))
    batches = [(images[i:i + batch_size], labels[i:i + batch_size])
               for i in range(0, len(images), batch_size)]
    return weights, batches


# ----------------------------------------------------------------------------- workers

def build_ours(weights, device: str = "cpu"):
    """Our LeNet-5 holding ``weights``, and SGD with momentum over it."""
    from tinygrad_cnn import optim
    from tinygrad_cnn.models import LeNet5

    model = LeNet5()
    model.load_state_dict(weights)
    model.to(device)
    return model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def train_step_ours(model, opt):
    """``step(x, y)``: one training step of ``model`` on a batch (forward, cross-entropy,
    backward, ``opt.step()``), returning the loss. The same step as :func:`train_step_torch`,
    so the two libraries do the same work wherever they are timed."""
    from tinygrad_cnn.nn import functional as F

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def train_step_torch(model, opt):
    """PyTorch's :func:`train_step_ours`."""
    import torch

    def step(x, y):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def build_torch(weights, device: str = "cpu"):
    """The same LeNet-5 in PyTorch (attributes named as ours, so the state dicts match)."""
    import torch

    nn, F = torch.nn, torch.nn.functional

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2 = nn.Linear(400, 120), nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = F.relu(self.fc1(x.flatten(1)))
            return self.fc3(F.relu(self.fc2(x)))

    model = LeNet5()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    model.to(torch.device(device))
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def tuned(fn, kind: str):
    """``fn(x, ...)`` run between the ``begin`` and ``end`` of the process's thread tuner
    for ``kind`` (``x.shape[0]`` items), so a benchmark's steps choose their BLAS threads
    as ``tinygrad-cnn train`` does (CPU only). The tuner is ``run.tuner``."""
    from tinygrad_cnn.backend import threads

    tuner = threads.tuner(kind)

    def run(x, *rest):
        tuner.begin()
        result = fn(x, *rest)
        tuner.end(x.shape[0])
        return result

    run.tuner = tuner
    return run


def _ours(task, device, weights, batches):
    """Our step (or forward pass), its checked value, a sync function, the version and
    the thread tuner (None on a GPU)."""
    import tinygrad_cnn as tg
    from tinygrad_cnn import backend

    model, opt = build_ours(weights, device)
    data = [(tg.Tensor(x, device=device), tg.Tensor(y, device=device)) for x, y in batches]
    if task == "train":
        work = train_step_ours(model, opt)
    else:
        model.eval()

        def work(x, _labels):
            with tg.no_grad():
                return model(x)

    if backend.is_accelerator(device):
        def step(i):
            return work(*data[i])
        return step, _value, lambda: backend.synchronize(device), tg.__version__, None
    work = tuned(work, "training" if task == "train" else "inference")

    def step(i):
        return work(*data[i])

    return step, _value, lambda: None, tg.__version__, work.tuner


def _value(result):
    return float(result.numpy().astype(np.float64).mean())


def _torch(task, device, weights, batches, threads):
    import torch

    torch.set_num_threads(threads)
    model, opt = build_torch(weights, device)
    data = [(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
            for x, y in batches]
    if task == "train":
        train = train_step_torch(model, opt)

        def step(i):
            return train(*data[i])
    else:
        model.eval()

        def step(i):
            with torch.no_grad():
                return model(data[i][0])

    def value(result):
        return float(result.detach().cpu().double().mean())

    sync = getattr(torch, torch.device(device).type).synchronize  # torch.cpu's does nothing
    return step, value, sync, torch.__version__


def time_blocks(step, sync, n_batches: int, warmup_seconds: float, block_seconds: float,
                blocks: int, max_other_cpu: float) -> dict:
    """Warm up, then time blocks of steps until ``blocks`` of them ran on a quiet machine
    (or ``3 * blocks`` ran in all). Each block reports seconds per step and the share of
    the cores' time that other processes took."""
    n = 0
    start = time.perf_counter()
    while n < 2 or time.perf_counter() - start < warmup_seconds:
        step(n % n_batches)
        n += 1
    sync()
    start = time.perf_counter()
    for _ in range(3):
        step(n % n_batches)
        n += 1
    sync()
    per_block = max(1, round(block_seconds / ((time.perf_counter() - start) / 3)))
    records, clean = [], 0
    while clean < blocks and len(records) < 3 * blocks:
        sync()
        with CpuWatch() as watch:
            for _ in range(per_block):
                step(n % n_batches)
                n += 1
            sync()
        record = watch.record
        record["seconds_per_step"] = record.pop("seconds") / per_block
        records.append(record)
        clean += is_quiet(record, max_other_cpu)
    return {"steps_per_block": per_block, "blocks": records}


def worker(args) -> dict:
    """Run one library on one case in this process and return what it measured."""
    weights, batches = read_inputs(args.inputs, args.task, args.batch_size)
    tuner = None
    if args.library == "ours":
        step, value, sync, version, tuner = _ours(args.task, args.device, weights, batches)
    else:
        step, value, sync, version = _torch(args.task, args.device, weights, batches,
                                            args.threads)
    check = value(step(0))  # the first step's loss (training) or mean logit (inference)
    result = time_blocks(step, sync, len(batches), args.warmup, args.block_seconds,
                         args.blocks, args.max_other_cpu)
    result.update(library=args.library, version=version, task=args.task,
                  batch_size=args.batch_size, device=args.device, threads=args.threads,
                  check=check, peak_rss_bytes=peak_rss_bytes())
    if tuner is not None:
        result["blas"] = tuner.describe()
    return result


def _worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinygrad_cnn.bench.worker worker")
    p.add_argument("--library", choices=LIBRARIES, required=True)
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--inputs", required=True, help="folder written by write_inputs")
    p.add_argument("--result", required=True, help="JSON file to write")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--block-seconds", type=float, default=0.3)
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--max-other-cpu", type=float, default=0.1)
    return p


def main(argv=None) -> int:
    """``python -m tinygrad_cnn.bench.worker worker ...``: the worker entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "worker":
        print("usage: python -m tinygrad_cnn.bench.worker worker ... (started by "
              "`tinygrad-cnn bench`)", file=sys.stderr)
        return 2
    args = _worker_parser().parse_args(argv[1:])
    result = worker(args)
    with open(args.result, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
