"""LeNet-5 speed against PyTorch, measured the way a user would see it.

Two libraries timed in one process slow each other down (their OpenMP and OpenBLAS
thread pools compete for the same cores), so each library runs in a process of its own:

* the parent writes the weights and the batches once, from a seed, to ``.npy`` files that
  every worker reads, so both libraries compute the same thing (the first step's loss or
  the logits are compared as a check);
* rounds alternate (ours, PyTorch, ours, PyTorch, ...), a fresh worker each time, so a
  slow phase of a shared machine hits both alike; every worker gets the same thread count
  (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and
  ``torch.set_num_threads``);
* a worker (:mod:`tinygrad_cnn.bench.worker`) warms up, then times blocks of steps,
  and flags every block during which other processes took more than ``max_other_cpu`` of
  the CPU time; such blocks are left out here, and said so.

The report gives medians with min-max over the clean blocks of all rounds, the ratio of the
medians (and its range over rounds) and each worker's peak resident memory (``VmHWM``;
see :func:`tinygrad_cnn.bench.worker.peak_rss_bytes` for why not ``ru_maxrss``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from .. import backend
from ..backend.threads import available_cores
from ..train.config import LIMITS as TRAIN_LIMITS
from ..train.config import Bound
from . import worker as bw
from .busy import BusyProcesses
from .report import case_name, library_name
from .stats import quiet_or_all, ratio_summary, same_result, spread

# A worker's peak resident memory: a fixed part (the interpreter and PyTorch, ~300 MB) plus
# bytes per image of the batch. Measured with this harness (NumPy 2.4, PyTorch 2.13, Linux;
# ours is the larger per image: 0.39 MB training, 0.29 MB inference between batch 1,000 and
# 4,000) and rounded up by about a quarter; tests/test_benchmark.py checks that they still
# cover what a worker uses.
_BASE_BYTES = 400 << 20
_BYTES_PER_IMAGE = {"train": 500_000, "infer": 360_000}
_BOOTSTRAP = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"


class BenchmarkError(ValueError):
    """A benchmark that cannot run as asked (memory, a failed worker, bad settings)."""


#: Seconds a worker may run before it is stopped as hung, and the most it may be asked to
#: time (warm-up, and blocks re-run up to three times), leaving the rest for starting up.
WORKER_TIMEOUT, TIMED_SECONDS_LIMIT = 900, 600

#: setting -> its :class:`~tinygrad_cnn.train.config.Bound`, for :func:`run` and the CLI;
#: ``threads`` is bounded by the cores available (:func:`threads_bound`).
LIMITS = {
    "batch_size": TRAIN_LIMITS["batch_size"],
    "inference_batch_size": Bound(0, 1 << 20, "an inference pass keeps about 0.3 MB per "
                                  "image, so a batch of more than 2**20 needs hundreds of GB; "
                                  "0 skips inference", integer=True),
    "rounds": Bound(1, 100, "every round starts fresh processes for every case; 100 take "
                    "hours already", integer=True),
    "repeat": Bound(1, 100, "the median of 100 quiet blocks is as steady as it gets",
                    integer=True),
    "block_seconds": Bound(0.001, 10, "shorter than a millisecond is below the resolution of "
                           "the CPU counters that tell disturbed blocks; a longer block is "
                           "not more precise, only more often disturbed"),
    "warmup": Bound(0, 60, "the libraries reach their speed within seconds; a minute is "
                    "plenty"),
    "max_other_cpu": Bound(0, 1, "a share of the machine's CPU time"),
    "seed": TRAIN_LIMITS["seed"],
}


#: ``--busy``: spinning processes beside each worker.
BUSY_BOUND = Bound(0, 64, "each spinner takes a core; 64 only measure the scheduler",
                   integer=True)


def threads_bound() -> Bound:
    """Threads per library: at most the cores this process may run on."""
    cores = default_threads()
    return Bound(1, cores, f"this process may run on {cores} core{'s' * (cores > 1)}; more "
                 "threads would time their contention, not the libraries", integer=True)


def default_threads() -> int:
    """The cores this process may run on (the count the thread tuners also start from)."""
    return available_cores()


# ----------------------------------------------------------------------------- memory

def estimate_peak_bytes(task: str, batch_size: int) -> int:
    """A generous estimate of a worker's peak resident memory for one case."""
    batches = bw.batches_per_case(batch_size)
    data = batches * batch_size * (28 * 28 * 4 + 8)
    return _BASE_BYTES + data + _BYTES_PER_IMAGE[task] * batch_size


def available_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo``, or None where it cannot be read."""
    available = bw.proc_kib("/proc/meminfo", "MemAvailable")
    return None if available is None else available * 1024


def check_memory(cases, device: str = backend.HOST, free_bytes: int | None = None) -> None:
    """Refuse, before anything runs, a case that would not fit in memory.

    A batch too large for the machine would otherwise get the worker killed by the
    kernel's out-of-memory killer after minutes of swapping, with no message at all.
    """
    if free_bytes is None:
        free_bytes = backend.free_memory_bytes(device)
        if free_bytes is None:  # the host: what the system can still give
            free_bytes = available_bytes()
    if free_bytes is None:
        return
    for task, batch_size in cases:
        need = estimate_peak_bytes(task, batch_size)
        if backend.is_accelerator(device):
            need -= _BASE_BYTES  # the libraries live in host memory
        if need > free_bytes:
            what = "a training step" if task == "train" else "an inference pass"
            where = "GPU memory is free" if backend.is_accelerator(device) else \
                "memory is available"
            raise BenchmarkError(
                f"{what} at batch {batch_size:,} needs about {need / 2**30:.1f} GiB "
                f"(estimated), but only {free_bytes / 2**30:.1f} GiB of {where}; "
                f"choose a smaller batch size")


def thread_env(threads: int, base=None) -> dict:
    """``base`` (default: this environment) with every thread-count variable set."""
    env = dict(os.environ if base is None else base)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def worker_env(threads: int) -> dict:
    """The environment of a worker process: :func:`thread_env`, and this package first on
    ``PYTHONPATH``, so the worker times the same checkout as its parent."""
    env = thread_env(threads)
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tinygrad_cnn/
    package_parent = os.path.dirname(package)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env


def run_process(command: list, env: dict, what: str, timeout: float):
    """Run ``command`` to its end and return its ``CompletedProcess``; a timeout, a signal or
    a non-zero exit becomes a one-line :class:`BenchmarkError` about ``what``."""
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{what} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        if done.returncode < 0:
            why = f"was killed by signal {-done.returncode}"
            if -done.returncode == 9:
                why += " (most likely out of memory)"
        else:
            last = done.stderr.strip().splitlines()[-1:] or ["no message"]
            why = f"failed (exit status {done.returncode}): {last[0]}"
        raise BenchmarkError(f"{what} {why}")
    return done


def run_worker(library: str, task: str, batch_size: int, inputs: str, threads: int,
               device: str = backend.HOST, warmup: float = 0.5, block_seconds: float = 0.3,
               blocks: int = 5, max_other_cpu: float = 0.1,
               timeout: float = WORKER_TIMEOUT) -> dict:
    """Start a worker process for one library and case; return its result."""
    result_path = os.path.join(inputs, f"result-{library}-{task}{batch_size}.json")
    command = [sys.executable, "-c", _BOOTSTRAP, os.path.abspath(bw.__file__), "worker",
               "--library", library, "--task", task, "--batch-size", str(batch_size),
               "--inputs", inputs, "--result", result_path, "--device", device,
               "--threads", str(threads), "--warmup", str(warmup),
               "--block-seconds", str(block_seconds), "--blocks", str(blocks),
               "--max-other-cpu", str(max_other_cpu)]
    run_process(command, worker_env(threads), f"the {library} worker ({task}, batch "
                f"{batch_size})", timeout)
    with open(result_path) as f:
        result = json.load(f)
    os.remove(result_path)
    return result


# ----------------------------------------------------------------------------- statistics

def summarize(results: list, max_other_cpu: float) -> dict:
    """Pool the blocks of a library's workers over all rounds into medians and ranges.

    Blocks in which other processes took more than ``max_other_cpu`` of the CPU are left
    out; if every block was disturbed, all are kept and ``disturbed`` says so.
    ``round_medians`` holds each round's median over its quiet blocks (None for a round
    without any), for the per-round ratios.
    """
    batch_size = results[0]["batch_size"]

    def rate(block):
        return batch_size / block["seconds_per_step"]

    blocks = [b for r in results for b in r["blocks"]]
    kept, disturbed = quiet_or_all(blocks, max_other_cpu)
    round_medians = []
    for r in results:
        rates_r = [rate(b) for b in r["blocks"] if bw.is_quiet(b, max_other_cpu)]
        round_medians.append(statistics.median(rates_r) if rates_r else None)
    return {
        "version": results[0]["version"],
        "images_per_s": spread(rate(b) for b in kept),
        "ms_per_step": statistics.median(1e3 * b["seconds_per_step"] for b in kept),
        "round_medians": round_medians,
        "blocks": len(kept),
        "blocks_left_out": len(blocks) - len(kept),
        "disturbed": disturbed,
        "peak_rss_mb": max(r["peak_rss_bytes"] for r in results) / 2**20,
        "check": results[0]["check"],
        "threads": results[0]["threads"],
        # ours: the BLAS threads each worker's tuner chose, and what it measured
        "blas": [r["blas"] for r in results if r.get("blas")],
        "samples": [{"round": i, "images_per_s": rate(b), "other_cpu": b["other_cpu"]}
                    for i, r in enumerate(results) for b in r["blocks"]],
    }


def ratio_stats(ours: dict, theirs: dict) -> dict:
    """The ratio of the median throughputs (ours / PyTorch), and its range over the rounds
    in which both libraries had quiet blocks (None when no round had)."""
    per_round = [a / b for a, b in zip(ours["round_medians"], theirs["round_medians"])
                 if a is not None and b is not None]
    return ratio_summary(ours["images_per_s"]["median"], theirs["images_per_s"]["median"],
                         per_round)


# ----------------------------------------------------------------------------- the run

def torch_status(device: str) -> tuple[bool, str]:
    """Whether PyTorch can be compared on ``device``, and why not. Asked without importing
    torch here (this process stays small): by its spec on the CPU, by a child process that
    asks ``torch.cuda.is_available()`` for the GPU."""
    if importlib.util.find_spec("torch") is None:
        return False, "PyTorch is not installed: ours only"
    if not backend.is_accelerator(device):
        return True, "PyTorch"
    probe = "import sys, torch; print(torch.__version__); sys.exit(torch.cuda.is_available())"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=300)
    except subprocess.TimeoutExpired:
        return False, "PyTorch did not import within 300 s: ours only"
    if done.returncode == 1:
        return True, f"PyTorch {done.stdout.strip()}"
    if done.returncode == 0:
        return False, f"PyTorch {done.stdout.strip()} has no CUDA here: ours only"
    return False, "PyTorch failed to import: ours only"


def check_settings(batch_sizes, inference_batch_size, rounds, blocks, block_seconds, warmup,
                   threads, max_other_cpu, seed) -> list:
    """The cases ``(task, batch size)`` to measure; every setting checked against
    :data:`LIMITS` first (a :class:`BenchmarkError` naming it, its range and why), and
    the time a worker would be asked to run against :data:`TIMED_SECONDS_LIMIT`."""
    settings = [("batch size", "batch_size", b) for b in batch_sizes] + [
        ("inference batch size", "inference_batch_size", inference_batch_size or 0),
        ("rounds", "rounds", rounds), ("repeat", "repeat", blocks),
        ("block seconds", "block_seconds", block_seconds), ("warm-up", "warmup", warmup),
        ("max-other-cpu", "max_other_cpu", max_other_cpu), ("seed", "seed", seed)]
    for what, name, value in settings:
        LIMITS[name].check(value, what, BenchmarkError)
    if threads is not None:
        threads_bound().check(threads, "threads", BenchmarkError)
    cases = [("train", int(b)) for b in batch_sizes]
    if inference_batch_size:
        cases.append(("infer", int(inference_batch_size)))
    if not cases:
        raise BenchmarkError("nothing to measure: give a training or inference batch size")
    timed = warmup + 3 * blocks * block_seconds
    if timed > TIMED_SECONDS_LIMIT:
        raise BenchmarkError(
            f"a worker would time up to {timed:,.0f} s (warm-up {warmup:g} s + 3 x {blocks} "
            f"blocks of {block_seconds:g} s: disturbed blocks are re-run), more than the "
            f"{TIMED_SECONDS_LIMIT} s it is allowed; lower the repeat or the block seconds")
    return cases


def run(batch_sizes=(64, 256), inference_batch_size: int | None = 1000, rounds: int = 5,
        blocks: int = 5, block_seconds: float = 0.3, warmup: float = 0.5,
        threads: int | None = None, device: str = backend.HOST, max_other_cpu: float = 0.1,
        compare: bool = True, seed: int = 0, progress=None, busy: int = 0) -> dict:
    """Measure every case, each library in its own processes; return the report as a dict.

    With ``busy`` > 0 every case is measured a second time with that many spinning
    processes beside each worker (:class:`~.busy.BusyProcesses`), into ``report["busy"]``;
    blocks are then left out only when *other* processes, beyond those, took more than
    ``max_other_cpu``. ``progress(line)``, when given, is told about every finished worker.
    """
    cases = check_settings(batch_sizes, inference_batch_size, rounds, blocks, block_seconds,
                           warmup, threads, max_other_cpu, seed)
    BUSY_BOUND.check(busy, "busy", BenchmarkError)
    threads = threads or default_threads()
    check_memory(cases, device)
    libraries, notes = ["ours"], []
    if compare:
        usable, why = torch_status(device)
        if usable:
            libraries.append("torch")
        else:
            notes.append(why)
    report = {
        "device": device, "threads": threads, "rounds": rounds, "blocks_per_round": blocks,
        "block_seconds": block_seconds, "warmup_seconds": warmup,
        "max_other_cpu": max_other_cpu, "seed": seed, "cores": default_threads(),
        "numpy": np.__version__, "python": sys.version.split()[0], "notes": notes,
        "results": [],
    }
    settings = dict(threads=threads, device=device, warmup=warmup,
                    block_seconds=block_seconds, blocks=blocks)
    with tempfile.TemporaryDirectory(prefix="tinygrad-cnn-bench-") as inputs:
        bw.write_inputs(inputs, cases, backend.canonical_seed(seed))
        report["results"] = _measure(cases, libraries, rounds, inputs, settings,
                                     max_other_cpu, 0, progress)
        if busy:
            # the spinners' own share of the cores is expected; only more is "other"
            allowed = min(1.0, max_other_cpu + busy / default_threads())
            report["busy"] = {"processes": busy, "max_other_cpu": allowed,
                              "results": _measure(cases, libraries, rounds, inputs, settings,
                                                  allowed, busy, progress)}
    return report


def _measure(cases, libraries, rounds, inputs, settings, max_other_cpu, busy,
             progress) -> list:
    """Every case in alternating rounds, beside ``busy`` spinning processes; one entry per
    case with each library's summary and the ratio."""
    entries = []
    beside = f" beside {busy} busy" if busy else ""
    for task, batch_size in cases:
        per_library = {lib: [] for lib in libraries}
        for r in range(rounds):
            for lib in libraries:
                with BusyProcesses(busy, WORKER_TIMEOUT):
                    result = run_worker(lib, task, batch_size, inputs,
                                        max_other_cpu=max_other_cpu, **settings)
                per_library[lib].append(result)
                if progress:
                    rate = statistics.median(batch_size / b["seconds_per_step"]
                                             for b in result["blocks"])
                    progress(f"round {r + 1}/{rounds}  {case_name(task, batch_size)}{beside}  "
                             f"{library_name(lib)}: {rate:,.0f} images/s"
                             + (f" ({result['blas']})" if result.get("blas") else ""))
        entry = {"task": task, "batch_size": batch_size}
        for lib in libraries:
            entry[lib] = summarize(per_library[lib], max_other_cpu)
        if "torch" in entry:
            entry["ratio"] = ratio_stats(entry["ours"], entry["torch"])
            entry["same_result"] = same_result(entry["ours"]["check"],
                                               entry["torch"]["check"])
        entries.append(entry)
    return entries
