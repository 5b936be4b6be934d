"""``tinygrad-cnn bench``: LeNet-5's speed and memory against PyTorch's
(:mod:`tinygrad_cnn.bench.harness`), or with ``--epoch`` where the time of a training
epoch goes (:mod:`tinygrad_cnn.bench.epoch`)."""

from __future__ import annotations

import argparse
import json
import sys

from .. import backend
from .arguments import UsageError, chosen_device, positive_int, within


def add_parser(subparsers) -> None:
    from ..bench.harness import BUSY_BOUND, LIMITS, default_threads, threads_bound

    p = subparsers.add_parser(
        "bench", help="LeNet-5 speed and memory against PyTorch, each in its own process",
        description="Time LeNet-5 training steps (SGD with momentum) and inference, ours and "
        "PyTorch's (when installed), each library in its own processes on the same batches, "
        "alternating rounds, with the same thread count; prints medians (min-max), the "
        "ratio of the medians and peak memory. Timed blocks during which other processes "
        "used the CPU are left out. The defaults take about two minutes. With --epoch, "
        "instead: where the time of a `tinygrad-cnn train` epoch goes.")
    p.add_argument("--batch-size", type=within(LIMITS["batch_size"]), nargs="+",
                   default=[64, 256], metavar="N", help="training batch sizes (default: 64 256)")
    p.add_argument("--inference-batch-size", type=within(LIMITS["inference_batch_size"]),
                   default=1000, metavar="N",
                   help="inference batch size (default 1000; 0 skips inference)")
    p.add_argument("--rounds", type=within(LIMITS["rounds"]), default=None,
                   help="alternating rounds, a fresh process per library each (default 5; "
                   "2 with --epoch)")
    p.add_argument("--repeat", type=within(LIMITS["repeat"]), default=5,
                   help="timed blocks per round and library (default 5)")
    p.add_argument("--block-seconds", type=within(LIMITS["block_seconds"]), default=0.3,
                   help="length of a timed block (default 0.3)")
    p.add_argument("--warmup", type=within(LIMITS["warmup"]), default=0.5,
                   help="seconds of warm-up in every process (default 0.5)")
    p.add_argument("--threads", type=within(threads_bound()), default=None,
                   help="threads for both libraries (default: the cores available, "
                   f"{default_threads()} here)")
    p.add_argument("--max-other-cpu", type=within(LIMITS["max_other_cpu"]), default=0.1,
                   metavar="SHARE", help="leave out blocks (with --epoch: runs) in which other "
                   "processes took more than this share of the CPU time (default 0.1)")
    p.add_argument("--busy", type=within(BUSY_BOUND), default=0, metavar="N",
                   help="also measure every case beside N processes spinning on the CPU "
                   "(started and stopped around each worker), printed beside the quiet table")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="time ours only")
    p.add_argument("--seed", type=within(LIMITS["seed"]), default=0,
                   help="seed of the weights and batches")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--device", default=None, choices=backend.device_choices(),
                   help="cuda compares with PyTorch on the same GPU, never with the CPU")
    _add_epoch_arguments(p)
    p.set_defaults(run_command=run, parser=p)


def _add_epoch_arguments(p: argparse.ArgumentParser) -> None:
    from ..bench.epoch import DEFAULT_DATASET, OVERHEAD_LIMIT
    from ..data import dataset_names

    others = ", ".join(name for name in dataset_names() if name != DEFAULT_DATASET)

    epoch = p.add_argument_group(
        f"the epoch breakdown (the goal: the CLI's epoch at most {OVERHEAD_LIMIT:g}x the bare "
        "steps)")
    epoch.add_argument("--epoch", nargs="?", const=DEFAULT_DATASET, default=None,
                       choices=dataset_names(), metavar="DATASET",
                       help="instead of the step and inference table, time one epoch on "
                       f"DATASET ({DEFAULT_DATASET} when not named; also {others}) in its "
                       "parts: bare training steps, data loader, loss and accuracy "
                       "bookkeeping, progress bar, evaluation, the `tinygrad-cnn train` CLI "
                       "itself, and PyTorch's bare steps; CPU only, about 30 s per round on "
                       "Fashion-MNIST with 2 cores. --threads, --rounds, --max-other-cpu, "
                       "--no-torch and --json apply")
    epoch.add_argument("--images", type=positive_int, default=None, metavar="N",
                       help="time the parts on N training images, scaled to the epoch (the "
                       "CLI always runs a whole epoch; default: all)")
    epoch.add_argument("--data-dir", default=None,
                       help="folder holding the dataset's IDX files (also $TINYGRAD_CNN_DATA)")
    epoch.add_argument("--download", action="store_true",
                       help="fetch the dataset (SHA-256 checked) when not found")


def run(args) -> int:
    from ..bench.epoch import format_epoch_report, run_epoch
    from ..bench.harness import run as run_steps
    from ..bench.report import format_report

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    if args.epoch is None:
        given = [flag for flag, value in (("--images", args.images),
                                          ("--data-dir", args.data_dir),
                                          ("--download", args.download)) if value]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --epoch")
        device = chosen_device(args.device)
        backend.array_module(device)  # an unusable device fails here, saying why
        report = run_steps(batch_sizes=args.batch_size,
                           inference_batch_size=args.inference_batch_size,
                           rounds=args.rounds or 5, blocks=args.repeat,
                           block_seconds=args.block_seconds, warmup=args.warmup,
                           threads=args.threads, device=device,
                           max_other_cpu=args.max_other_cpu, compare=args.torch,
                           seed=args.seed, progress=progress, busy=args.busy)
    elif args.device is not None and backend.is_accelerator(args.device):
        raise UsageError("--epoch times training on the CPU only: leave out --device")
    else:
        report = run_epoch(dataset=args.epoch, rounds=args.rounds or 2,
                           threads=args.threads, images=args.images,
                           max_other_cpu=args.max_other_cpu, compare=args.torch,
                           data_dir=args.data_dir, download=args.download,
                           progress=progress)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report) if args.epoch is None else format_epoch_report(report))
    return 0
