"""Where the time of a ``tinygrad-cnn train`` epoch goes: ``tinygrad-cnn bench --epoch``.

The goal: the CLI's epoch on Fashion-MNIST takes at most :data:`OVERHEAD_LIMIT` (1.15)
times the bare training steps over the same images. This module measures both, and the parts between
them, each in processes of its own with the same thread count; every round runs our
worker, PyTorch's, then the CLI, so a slow phase of a shared machine hits all of them.
Every part trains LeNet-5 at batch 64 with SGD, momentum 0.9 and lr 0.01 (the CLI's recipe
for MNIST and Fashion-MNIST); the two libraries' bare steps start from the same weights.

* bare training steps: the epoch's batches, cut in a shuffled order and wrapped as tensors
  before the clock starts; only forward, loss, backward and the SGD step are timed;
* data loader alone: a pass of ``DataLoader(train_set, 64, shuffle=True)``;
* loader + steps: the steps fed by the loader;
* training loop: the CLI's own epoch (``train.train_epoch``), which adds the running loss
  and accuracy (summed on the device, read every ``train.READ_INTERVAL`` seconds), with
  no progress bar, as when the output is not a terminal;
* training loop + progress bar: the same with the bar drawn (into ``/dev/null``);
* evaluation: ``train.evaluate`` over the test set in batches of 1,000;
* CLI: ``tinygrad-cnn train --epochs 1 --checkpoint ''`` with that recipe, as a user runs
  it with its output going to a pipe: the training seconds it logs (``--log``) and the
  process's wall time (interpreter start, data loading and evaluation included).

The criterion is the CLI's logged training seconds over our bare steps. ``images`` times
the parts on the first N shuffled images only, scaled to a whole epoch (the CLI always
runs a whole epoch). Each measurement notes the share of the CPU that other processes took
meanwhile; those above ``max_other_cpu`` are left out of the medians (all are kept, and
flagged, when none was quiet). Training runs on the CPU only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile

import numpy as np

from .. import backend
from ..checks import is_int
from ..data import check_data_source, dataset_names, get_dataset, load_datasets
from . import worker as bw
from .harness import (
    LIMITS,
    BenchmarkError,
    default_threads,
    run_process,
    threads_bound,
    torch_status,
    worker_env,
)
from .stats import format_ratio, quiet_or_all, ratio_summary, same_result, spread

BATCH = 64
#: The dataset an epoch is timed on unless another is named: the largest of the classic
#: recipe, so the loop's own costs show at their real size.
DEFAULT_DATASET = "fashion-mnist"
#: The goal for the CLI's training seconds over our bare training steps.
OVERHEAD_LIMIT = 1.15
STEPS = "bare training steps"
OURS_PARTS = (STEPS, "data loader alone", "loader + steps",
              "training loop (loss and accuracy kept, no bar)", "training loop + progress bar",
              "evaluation of the test set")
CLI_SECONDS = "CLI: training seconds it logs"
CLI_WALL = "CLI: process wall time"
TORCH_STEPS = "PyTorch: bare training steps"
_MODULE = "tinygrad_cnn.bench.epoch"


# ----------------------------------------------------------------------------- workers

def epoch_batches(train_set, images: int) -> list:
    """The first ``images`` of a fixed shuffled order of ``train_set``, as ``(images,
    labels)`` batches of :data:`BATCH`: the same in every worker."""
    order = np.random.default_rng(0).permutation(len(train_set))[:images]
    return [(train_set.images[order[i:i + BATCH]], train_set.labels[order[i:i + BATCH]])
            for i in range(0, len(order), BATCH)]


def _load(settings: dict):
    train_set, test_set, _ = load_datasets(settings["dataset"], settings["data_dir"])
    return train_set, test_set


def _warm_up(step, batches, steps: int = 5) -> None:
    """A few steps before any clock starts, however few the batches."""
    for i in range(1, 1 + steps):
        step(*batches[i % len(batches)])


def _timed(fn) -> dict:
    with bw.CpuWatch() as watch:
        fn()
    return watch.record


def _ours(settings: dict, weights: dict) -> dict:
    """Every part of our epoch but the CLI, in this process."""
    import tinygrad_cnn as tg

    from ..data import ArrayDataset, DataLoader
    from ..train.epoch import train_epoch
    from ..train.metrics import evaluate

    train_set, test_set = _load(settings)
    images = settings["images"]
    subset = ArrayDataset(train_set.images[:images], train_set.labels[:images],
                          train_set.classes)
    batches = [(tg.Tensor(x), tg.Tensor(y)) for x, y in epoch_batches(train_set, images)]
    model, opt = bw.build_ours(weights)
    tg.manual_seed(0)
    # the BLAS threads chosen as the training loop below chooses them, so parts compare
    step = bw.tuned(bw.train_step_ours(model, opt), "training")

    def steps():
        for x, y in batches:
            step(x, y)

    def loader():
        for _ in DataLoader(subset, BATCH, shuffle=True):
            pass

    def loader_steps():
        for x, y in DataLoader(subset, BATCH, shuffle=True):
            step(x, y)

    def loop(bar: bool):
        def run():
            epoch = DataLoader(subset, BATCH, shuffle=True, device=backend.HOST)
            with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
                train_epoch(model, opt, epoch, label="epoch 1/1", progress=bar)
        return run

    def evaluation():
        evaluate(model, DataLoader(test_set, 1000, device=backend.HOST), progress=False)

    check = float(step(*batches[0]).item())  # the first loss, compared with PyTorch's
    _warm_up(step, batches)
    parts = {}
    for name, fn in zip(OURS_PARTS, (steps, loader, loader_steps, loop(False), loop(True),
                                     evaluation)):
        parts[name] = _timed(fn)
        if fn is not evaluation:
            parts[name]["seconds"] *= len(train_set) / images  # scaled to a whole epoch
    return {"parts": parts, "check": check, "version": tg.__version__}


def _torch(settings: dict, weights: dict) -> dict:
    """PyTorch's bare training steps over the same batches, in this process."""
    import torch

    torch.set_num_threads(settings["threads"])
    train_set, _ = _load(settings)
    batches = [(torch.from_numpy(x), torch.from_numpy(y))
               for x, y in epoch_batches(train_set, settings["images"])]
    model, opt = bw.build_torch(weights)
    step = bw.train_step_torch(model, opt)

    def steps():
        for x, y in batches:
            step(x, y)

    check = float(step(*batches[0]).detach())
    _warm_up(step, batches)
    record = _timed(steps)
    record["seconds"] *= len(train_set) / settings["images"]
    return {"parts": {TORCH_STEPS: record}, "check": check, "version": torch.__version__}


def worker(library: str, inputs: str) -> None:
    """Run one library's parts with the settings in ``inputs``; write the result there."""
    with open(os.path.join(inputs, "settings.json")) as f:
        settings = json.load(f)
    result = (_ours if library == "ours" else _torch)(settings, bw.read_weights(inputs))
    with open(os.path.join(inputs, f"result-{library}.json"), "w") as f:
        json.dump(result, f)


# ----------------------------------------------------------------------------- the parent

def _cpu_env(threads: int) -> dict:
    env = worker_env(threads)
    env[backend.ENV_VAR] = backend.HOST
    return env


def _run_worker(library: str, inputs: str, threads: int, timeout: float) -> dict:
    command = [sys.executable, "-m", _MODULE, "worker", library, inputs]
    run_process(command, _cpu_env(threads), f"the {library} epoch worker", timeout)
    path = os.path.join(inputs, f"result-{library}.json")
    with open(path) as f:
        result = json.load(f)
    os.remove(path)
    return result


def cli_command(dataset: str, log: str, data_dir: str | None = None) -> list:
    """``tinygrad-cnn train`` for one epoch with the recipe every other part uses."""
    return ([sys.executable, "-m", "tinygrad_cnn", "train", "--dataset", dataset,
             "--epochs", "1", "--checkpoint", "", "--log", log, "--device", backend.HOST,
             "--batch-size", str(BATCH), "--optimizer", "sgd", "--lr", "0.01",
             "--momentum", "0.9", "--schedule", "constant", "--augment", "0", "--seed", "0"]
            + (["--data-dir", str(data_dir)] if data_dir else []))


def run_cli_epoch(dataset: str, scratch: str, threads: int, data_dir: str | None = None,
                  timeout: float = 1800) -> dict:
    """One CLI epoch as a user runs it: its logged seconds, wall time and test accuracy."""
    log = os.path.join(scratch, "cli-log.jsonl")
    if os.path.exists(log):
        os.remove(log)
    with bw.CpuWatch(children=True) as watch:
        run_process(cli_command(dataset, log, data_dir), _cpu_env(threads),
                    "tinygrad-cnn train (the CLI epoch)", timeout)
    with open(log) as f:
        logged = json.loads(f.readline())
    return {CLI_SECONDS: dict(watch.record, seconds=logged["seconds"]),
            CLI_WALL: watch.record, "test_accuracy": logged["test_accuracy"]}


def _check_settings(dataset, rounds, threads, images, max_other_cpu) -> None:
    if dataset not in dataset_names():
        raise BenchmarkError(f"unknown dataset {dataset!r} for the epoch benchmark; choose "
                             f"one of {', '.join(dataset_names())}")
    LIMITS["rounds"].check(rounds, "rounds", BenchmarkError)
    LIMITS["max_other_cpu"].check(max_other_cpu, "max-other-cpu", BenchmarkError)
    if threads is not None:
        threads_bound().check(threads, "threads", BenchmarkError)
    if images is not None and not (is_int(images) and images >= 1):
        raise BenchmarkError(f"images must be a positive integer, got {images!r}")


def run_epoch(dataset: str = DEFAULT_DATASET, rounds: int = 2, threads: int | None = None,
              images: int | None = None, max_other_cpu: float = 0.1, compare: bool = True,
              data_dir: str | None = None, download: bool = False, progress=None,
              timeout: float = 1800) -> dict:
    """Measure every part of an epoch over ``rounds`` rounds; return the report as a dict.

    The dataset is read here first, so a missing one fails at once, in one line
    (``FileNotFoundError`` naming it and how to get it); ``download`` fetches it instead.
    ``progress(line)``, when given, is told about every finished round.
    """
    _check_settings(dataset, rounds, threads, images, max_other_cpu)
    check_data_source(dataset, data_dir, download, error=BenchmarkError)
    threads = threads or default_threads()
    train_set, test_set, _ = load_datasets(dataset, data_dir, download=download)
    n_train, n_test = len(train_set), len(test_set)
    del train_set, test_set  # the workers read their own copies
    if images is not None and images > n_train:
        raise BenchmarkError(f"images: {get_dataset(dataset).title} has {n_train:,} training "
                             f"images, fewer than the {images:,} asked for")
    libraries, notes = ["ours"], []
    if compare:
        usable, why = torch_status(backend.HOST)
        libraries += ["torch"] if usable else []
        notes += [] if usable else [why]
    settings = {"dataset": dataset, "data_dir": data_dir, "images": images or n_train,
                "threads": threads}
    records, accuracy, checks, versions = _measure(libraries, settings, rounds, timeout,
                                                   progress)
    order = [*OURS_PARTS, CLI_SECONDS, CLI_WALL, TORCH_STEPS]
    report = {
        "dataset": dataset, "train_images": n_train, "test_images": n_test,
        "timed_images": settings["images"], "batch_size": BATCH, "threads": threads,
        "rounds": rounds, "max_other_cpu": max_other_cpu, "cores": default_threads(),
        "numpy": np.__version__, "python": sys.version.split()[0], "versions": versions,
        "notes": notes,
        "parts": {name: summarize_part(records[name], max_other_cpu)
                  for name in order if name in records},
        "overhead": dict(ratio_of(records[CLI_SECONDS], records[STEPS], max_other_cpu),
                         limit=OVERHEAD_LIMIT),
        "cli_test_accuracy": accuracy,
    }
    report["overhead"]["within_limit"] = report["overhead"]["median"] <= OVERHEAD_LIMIT
    if "torch" in libraries:
        report["ours_over_torch"] = ratio_of(records[STEPS], records[TORCH_STEPS],
                                             max_other_cpu)
        report["same_start"] = same_result(checks["ours"], checks["torch"])
        report["first_loss"] = checks
    return report


def _measure(libraries: list, settings: dict, rounds: int, timeout: float, progress):
    """Run the rounds: each library's worker, then the CLI. Return the records of every
    part by round, the CLI's test accuracy per round, and each library's check and
    version."""
    records, accuracy, checks, versions = {}, [], {}, {}
    threads, dataset, data_dir = settings["threads"], settings["dataset"], settings["data_dir"]
    with tempfile.TemporaryDirectory(prefix="tinygrad-cnn-epoch-") as inputs:
        bw.write_inputs(inputs, [])
        with open(os.path.join(inputs, "settings.json"), "w") as f:
            json.dump(settings, f)
        for r in range(rounds):
            parts = {}
            for lib in libraries:
                result = _run_worker(lib, inputs, threads, timeout)
                parts.update(result["parts"])
                checks[lib], versions[lib] = result["check"], result["version"]
            cli = run_cli_epoch(dataset, inputs, threads, data_dir, timeout)
            accuracy.append(cli.pop("test_accuracy"))
            parts.update(cli)
            for name, record in parts.items():
                records.setdefault(name, []).append(record)
            if progress:
                progress(f"round {r + 1}/{rounds}: {_round_line(parts)}")
    return records, accuracy, checks, versions


def _round_line(parts: dict) -> str:
    line = (f"bare steps {parts[STEPS]['seconds']:.2f} s, CLI {parts[CLI_SECONDS]['seconds']:.2f}"
            f" s logged / {parts[CLI_WALL]['seconds']:.2f} s wall")
    if TORCH_STEPS in parts:
        line += f", PyTorch bare steps {parts[TORCH_STEPS]['seconds']:.2f} s"
    return line


# ----------------------------------------------------------------------------- statistics

def summarize_part(records: list, max_other_cpu: float) -> dict:
    """Median, min and max seconds of one part over its runs (one per round), leaving out
    runs in which other processes took more than ``max_other_cpu`` of the CPU; when every
    run was disturbed, all are kept and ``disturbed`` says so."""
    kept, disturbed = quiet_or_all(records, max_other_cpu)
    return {**spread(r["seconds"] for r in kept),
            "runs": len(kept), "left_out": len(records) - len(kept), "disturbed": disturbed,
            "seconds": [r["seconds"] for r in records],
            "other_cpu": [r.get("other_cpu") for r in records]}


def ratio_of(numerator: list, denominator: list, max_other_cpu: float) -> dict:
    """The ratio of two parts' median seconds, and its range over the rounds in which both
    runs were quiet (None when no round was); the runs are aligned by round."""
    per_round = [a["seconds"] / b["seconds"] for a, b in zip(numerator, denominator)
                 if bw.is_quiet(a, max_other_cpu) and bw.is_quiet(b, max_other_cpu)]
    return ratio_summary(summarize_part(numerator, max_other_cpu)["median"],
                         summarize_part(denominator, max_other_cpu)["median"], per_round)


# ----------------------------------------------------------------------------- output

def format_epoch_report(report: dict) -> str:
    """The report as a Markdown table with a few lines of context."""
    name, parts = get_dataset(report["dataset"]).title, report["parts"]
    timed = report["timed_images"]
    torch_version = report["versions"].get("torch")
    lines = [
        f"{name}: one epoch of {report['train_images']:,} training images at batch "
        f"{report['batch_size']}, SGD with momentum 0.9, lr 0.01"
        + (f" (parts timed on {timed:,} images, scaled to the epoch; the CLI runs it whole)"
           if timed < report["train_images"] else "")
        + f"; evaluation of {report['test_images']:,} test images",
        f"{report['threads']} thread{'s' if report['threads'] > 1 else ''} per process "
        f"({report['cores']} cores available), "
        f"NumPy {report['numpy']}" + (f", PyTorch {torch_version}" if torch_version else "")
        + f"; each part in processes of its own, {report['rounds']} alternating "
        + ("round" if report["rounds"] == 1 else "rounds"),
        f"seconds per epoch, median (min-max) over the rounds in which other processes took "
        f"at most {100 * report['max_other_cpu']:g}% of the CPU",
        "",
        "| part | seconds | relative to our bare steps |",
        "| --- | --- | --- |",
    ]
    bare = parts[STEPS]["median"]
    for part, s in parts.items():
        flag = " (disturbed)" if s["disturbed"] else ""
        lines.append(f"| {part} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}){flag} | "
                     f"{s['median'] / bare:.2f} |")
    overhead = report["overhead"]
    lines += ["", "ratios of the medians (min-max of the quiet rounds' ratios):",
              f"CLI epoch (its logged training seconds) / bare steps: {format_ratio(overhead)}; "
              f"the goal is at most {overhead['limit']:.2f}: "
              + ("met" if overhead["within_limit"] else "NOT met")]
    if "ours_over_torch" in report:
        lines.append(f"our bare steps / PyTorch's: {format_ratio(report['ours_over_torch'])}")
    lines.append("CLI test accuracy after its epoch: "
                 + ", ".join(f"{100 * a:.2f}%" for a in report["cli_test_accuracy"]))
    left = [f"{part} {s['left_out']} of {s['left_out'] + s['runs']}"
            for part, s in parts.items() if s["left_out"]]
    lines.append(f"runs left out (other processes took over {100 * report['max_other_cpu']:g}% "
                 "of the CPU): " + ("; ".join(left) if left else "none"))
    lines += [f"WARNING: {part}: every run was disturbed by other processes; this figure is "
              "not reliable" for part, s in parts.items() if s["disturbed"]]
    if report.get("same_start") is False:
        first = report["first_loss"]
        lines.append(f"WARNING: the first losses differ (ours {first['ours']:.6g}, PyTorch "
                     f"{first['torch']:.6g}): the libraries did not compute the same thing")
    return "\n".join(lines + report["notes"])


def main(argv=None) -> int:
    """``python -m tinygrad_cnn.bench.epoch worker LIBRARY INPUTS`` (started by
    :func:`run_epoch`)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "worker" or argv[1] not in bw.LIBRARIES:
        print("usage: python -m tinygrad_cnn.bench.epoch worker {ours,torch} INPUTS "
              "(started by `tinygrad-cnn bench --epoch`)", file=sys.stderr)
        return 2
    worker(argv[1], argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
