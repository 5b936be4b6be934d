"""The ``tinygrad-cnn`` command: train, evaluate, graph, plot, filters, bench, info.

Expected failures (files, data, checkpoints, devices, settings) end in one line naming the
file or setting and exit status 1 (2 for usage errors, as argparse does); anything else is
a bug and keeps its traceback. Every file a command writes is checked before the long work
starts, and no command replaces a file it did not write unless given ``--force``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys

import numpy as np

from .. import __version__, backend

DEFAULT_CHECKPOINT = os.path.join("checkpoints", "lenet5.npz")


class UsageError(Exception):
    """Arguments that do not go together; reported like argparse's errors (status 2)."""


# ----------------------------------------------------------------------------- argument types

def _number(convert, zero_allowed: bool, expected: str):
    """An argparse type: ``convert(text)``, finite, above zero (or at least zero), else an
    error that says what was ``expected``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value >= 0 if zero_allowed else value > 0)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, False, "a positive integer")
_non_negative_int = _number(int, True, "an integer >= 0")
_positive_float = _number(float, False, "a positive finite number")
_non_negative_float = _number(float, True, "a finite number >= 0")


# ----------------------------------------------------------------------------- the parser

def _add_data_args(p: argparse.ArgumentParser, dataset_default="auto", dataset_help=None):
    from ..data import MIRRORS, dataset_names, get_dataset

    p.add_argument("--dataset", default=dataset_default,
                   choices=["auto", *dataset_names()],
                   help=dataset_help or "auto: MNIST where it is found, else the bundled "
                   "sample (default)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the IDX files (also $TINYGRAD_CNN_DATA); when given, "
                   "the data must be there")
    p.add_argument("--download", action="store_true",
                   help=f"fetch {' / '.join(get_dataset(n).title for n in MIRRORS)} (SHA-256 "
                   "checked) when not found")
    p.add_argument("--device", default=None, choices=["cpu", "cuda", "gpu"],
                   help="default: $TINYGRAD_CNN_DEVICE, else cpu")


def _add_force(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--force", action="store_true",
                   help=f"replace {what} even if tinygrad-cnn did not write it")


def build_parser() -> argparse.ArgumentParser:
    from ..bench.epoch import DATASETS as EPOCH_DATASETS

    parser = argparse.ArgumentParser(
        prog="tinygrad-cnn",
        description="Train, evaluate and draw LeNet-5 with a from-scratch autograd engine.")
    parser.add_argument("--version", action="version", version=f"tinygrad-cnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train LeNet-5",
                       description="Train LeNet-5; with no arguments, on MNIST where it is "
                       "present, else on the bundled sample.")
    _add_data_args(p)
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="default: 20 on the sample, 10 on MNIST / Fashion-MNIST")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="default: 2e-3 (adam) on the sample, 0.01 (sgd) on the full datasets")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help="default: adam on the sample, sgd on the full datasets")
    p.add_argument("--momentum", type=_non_negative_float, default=0.9,
                   help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=_non_negative_float, default=0.0)
    p.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                   help="learning-rate schedule (default: cosine on the sample, else constant)")
    p.add_argument("--augment", type=_non_negative_int, default=None, metavar="PIXELS",
                   help="random shifts of up to PIXELS (default: 2 on the sample, else 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                   help=f"written after every epoch (default {DEFAULT_CHECKPOINT}); "
                   "'' to disable")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--force", action="store_true",
                   help="start afresh even if --checkpoint holds another run, replacing it")
    p.add_argument("--log", default=None,
                   help="append per-epoch metrics as JSON lines here (see: tinygrad-cnn plot)")
    p.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="feed raw [0, 1] pixels instead of mean/std normalised ones")
    p.set_defaults(func=cmd_train, parser=p)

    p = sub.add_parser("evaluate", help="accuracy and confusion matrix of a checkpoint")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    _add_data_args(p, dataset_default=None,
                   dataset_help="default: the dataset the checkpoint was trained on")
    p.add_argument("--confusion", default=None, metavar="PICTURE",
                   help="also draw the confusion matrix into this .png/.svg/.pdf")
    p.add_argument("--misclassified", default=None, metavar="PICTURE",
                   help="also draw the most confident mistakes into this .png/.svg/.pdf")
    p.add_argument("--count", type=_positive_int, default=24,
                   help="mistakes shown by --misclassified (default 24)")
    _add_force(p, "the pictures")
    p.set_defaults(func=cmd_evaluate, parser=p)

    p = sub.add_parser("graph", help="draw one training step's computation graph")
    p.add_argument("--model", default="lenet5", choices=["lenet5"])
    p.add_argument("--output", default="lenet5.svg", help="file to write (default lenet5.svg)")
    p.add_argument("--format", default=None, choices=["svg", "png", "pdf", "dot"],
                   help="default: from the output's extension")
    p.add_argument("--collapse", action="store_true", help="one box per layer")
    p.add_argument("--grads", action="store_true",
                   help="run backward and show gradient statistics per tensor")
    p.add_argument("--batch-size", type=_positive_int, default=8)
    _add_force(p, "the output")
    p.set_defaults(func=cmd_graph, parser=p)

    p = sub.add_parser("plot", help="learning curves from a train --log file",
                       description="Draw loss and accuracy per epoch, training and test, "
                       "from the JSON lines that train --log wrote.")
    p.add_argument("metrics", help="the --log file of tinygrad-cnn train")
    p.add_argument("-o", "--output", default="learning_curves.png",
                   help="picture to write, .png/.svg/.pdf (default learning_curves.png)")
    p.add_argument("--run", type=int, default=-1,
                   help="which run of the file, when it holds several (1 = first, "
                   "default: the last)")
    _add_force(p, "the output")
    p.set_defaults(func=cmd_plot, parser=p)

    p = sub.add_parser("filters", help="draw the convolution filters of a checkpoint")
    p.add_argument("checkpoint", nargs="?", default=DEFAULT_CHECKPOINT,
                   help=f"a training checkpoint or a saved state dict (default "
                   f"{DEFAULT_CHECKPOINT})")
    p.add_argument("-o", "--output", default="filters.png",
                   help="picture to write, .png/.svg/.pdf (default filters.png)")
    _add_force(p, "the output")
    p.set_defaults(func=cmd_filters, parser=p)

    p = sub.add_parser(
        "bench", help="LeNet-5 speed and memory against PyTorch, each in its own process",
        description="Time LeNet-5 training steps (SGD with momentum) and inference, ours and "
        "PyTorch's (when installed), each library in its own processes on the same batches, "
        "alternating rounds, with the same thread count; prints medians (min-max), the "
        "ratio of the medians and peak memory. Timed blocks during which other processes "
        "used the CPU are left out. The defaults take about two minutes. With --epoch, "
        "instead: where the time of a `tinygrad-cnn train` epoch goes.")
    p.add_argument("--batch-size", type=_positive_int, nargs="+", default=[64, 256], metavar="N",
                   help="training batch sizes (default: 64 256)")
    p.add_argument("--inference-batch-size", type=int, default=1000, metavar="N",
                   help="inference batch size (default 1000; 0 skips inference)")
    p.add_argument("--rounds", type=_positive_int, default=None,
                   help="alternating rounds, a fresh process per library each (default 5; "
                   "2 with --epoch)")
    p.add_argument("--repeat", type=_positive_int, default=5,
                   help="timed blocks per round and library (default 5)")
    p.add_argument("--block-seconds", type=float, default=0.3,
                   help="length of a timed block (default 0.3)")
    p.add_argument("--warmup", type=float, default=0.5,
                   help="seconds of warm-up in every process (default 0.5)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for both libraries (default: the cores available, "
                   f"{_cores()} here)")
    p.add_argument("--max-other-cpu", type=float, default=0.1, metavar="SHARE",
                   help="leave out blocks (with --epoch: runs) in which other processes took "
                   "more than this share of the CPU time (default 0.1)")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="time ours only")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and batches")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--device", default=None, choices=["cpu", "cuda", "gpu"],
                   help="cuda compares with PyTorch on the same GPU, never with the CPU")
    epoch = p.add_argument_group(
        "the epoch breakdown (issue 10: the CLI's epoch at most 1.15x the bare steps)")
    epoch.add_argument("--epoch", nargs="?", const="fashion-mnist", default=None,
                       choices=EPOCH_DATASETS, metavar="DATASET",
                       help="instead of the step and inference table, time one epoch on "
                       "DATASET (fashion-mnist when not named; also mnist, sample) in its "
                       "parts: bare training steps, data loader, loss and accuracy "
                       "bookkeeping, progress bar, evaluation, the `tinygrad-cnn train` CLI "
                       "itself, and PyTorch's bare steps; CPU only, about 30 s per round on "
                       "Fashion-MNIST with 2 cores. --threads, --rounds, --max-other-cpu, "
                       "--no-torch and --json apply")
    epoch.add_argument("--images", type=_positive_int, default=None, metavar="N",
                       help="time the parts on N training images, scaled to the epoch (the "
                       "CLI always runs a whole epoch; default: all)")
    epoch.add_argument("--data-dir", default=None,
                       help="folder holding the dataset's IDX files (also $TINYGRAD_CNN_DATA)")
    epoch.add_argument("--download", action="store_true",
                       help="fetch the dataset (SHA-256 checked) when not found")
    p.set_defaults(func=cmd_bench, parser=p)

    p = sub.add_parser("info", help="versions, default device and CUDA status")
    p.set_defaults(func=cmd_info, parser=p)
    return parser


# ----------------------------------------------------------------------------- commands

def _device(name):
    return backend.parse_device(name) if name else backend.default_device()


def cmd_train(args) -> int:
    from ..data import check_data_source
    from ..train.loop import TrainConfig, TrainingInterrupted, fit

    if args.resume and not args.checkpoint:
        raise UsageError("--resume continues from --checkpoint, but --checkpoint '' "
                         "disables checkpoints; name the checkpoint to resume")
    check_data_source(args.dataset, args.data_dir, args.download, named_by="--dataset",
                      error=UsageError)
    checkpoint = args.checkpoint or None
    config = TrainConfig(
        dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
        augment=args.augment, seed=args.seed,
        device=args.device, normalize=args.normalize, checkpoint=checkpoint,
        resume=args.resume, log=args.log, force=args.force, download=args.download,
    )
    try:
        _, history = fit(config)
    except TrainingInterrupted as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    if not history:
        print("nothing to do: the checkpoint has already reached --epochs")
        return 0
    last = history[-1]
    total = sum(m["seconds"] for m in history)
    print(f"done: test accuracy {100 * last['test_accuracy']:.2f}% after "
          f"{last['epoch']} epochs, {total:.1f} s of training"
          + (f"; checkpoint {checkpoint}" if checkpoint else ""))
    return 0


def cmd_evaluate(args) -> int:
    from ..data import DataLoader, check_data_source
    from ..models import LeNet5
    from ..train.loop import evaluate, inspect_checkpoint, load_datasets, read_checkpoint

    pictures = [(path, what) for path, what in ((args.confusion, "--confusion picture"),
                                                (args.misclassified, "--misclassified picture"))
                if path]
    if pictures:
        from ..viz.plots import check_picture_path

        for path, what in pictures:
            check_picture_path(path, args.force, what)
    saved = inspect_checkpoint(args.checkpoint)["config"]
    dataset = args.dataset or saved["dataset"]
    data_dir = args.data_dir or (saved.get("data_dir") if dataset == saved["dataset"] else None)
    check_data_source(dataset, args.data_dir, args.download,
                      named_by="--dataset" if args.dataset else None, error=UsageError)
    _, test_set, dataset = load_datasets(dataset, data_dir, saved["normalize"], args.download,
                                         train=False)
    device = _device(args.device)
    model = LeNet5(num_classes=len(test_set.classes))
    state = read_checkpoint(args.checkpoint, model=model)
    model.load_state_dict(state["model"])
    model.to(device)
    result = evaluate(model, DataLoader(test_set, 1000, device=device),
                      predictions=args.misclassified is not None)
    print(f"{args.checkpoint}: {dataset} test set, {len(test_set):,} images, "
          f"epoch {state['epoch']}")
    print(f"accuracy {100 * result['accuracy']:.2f}%  loss {result['loss']:.4f}")
    print(format_confusion(result["confusion"], test_set.classes))
    if args.confusion:
        from ..viz.plots import confusion_matrix, save_figure

        figure = confusion_matrix(result["confusion"], test_set.classes,
                                  title=f"{dataset} test set, epoch {state['epoch']}: "
                                  f"{100 * result['accuracy']:.2f}% correct")
        print(f"wrote {save_figure(figure, args.confusion, args.force, '--confusion picture')}")
    if args.misclassified:
        from ..viz.plots import misclassified_grid, save_figure

        figure = misclassified_grid(test_set.images, test_set.labels, result["predicted"],
                                    result["confidence"], test_set.classes, count=args.count)
        path = save_figure(figure, args.misclassified, args.force, "--misclassified picture")
        print(f"wrote {path}")
    return 0


def format_confusion(confusion: np.ndarray, classes) -> str:
    """The confusion matrix as text: rows are true classes, columns predictions."""
    labels = [str(c)[:7] for c in classes]
    width = max(5, len(str(confusion.max())) + 1, *(len(s) + 1 for s in labels))
    lines = ["true \\ predicted"]
    lines.append(" " * 8 + "".join(s.rjust(width) for s in labels))
    for name, row in zip(labels, confusion):
        lines.append(name.ljust(8) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)



def cmd_graph(args) -> int:
    from ..viz import graph as viz

    dot = viz.draw_training_step(args.model, batch_size=args.batch_size,
                                 collapse=args.collapse, grads=args.grads)
    try:
        path = viz.render(dot, args.output, format=args.format, force=args.force)
    except viz.GraphvizNotFoundError as exc:
        print(f"tinygrad-cnn graph: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # the output's suffix and --format disagree
        raise UsageError(str(exc).removeprefix("render: ")) from None
    print(f"wrote {path}")
    return 0


def cmd_plot(args) -> int:
    from ..viz.plots import check_picture_path, learning_curves, read_metrics, save_figure

    check_picture_path(args.output, args.force)
    runs = read_metrics(args.metrics)
    if not (-len(runs) <= args.run <= len(runs)) or args.run == 0:
        raise UsageError(f"--run {args.run}: {args.metrics} holds {len(runs)} run(s); "
                         f"choose 1 to {len(runs)}")
    run = runs[args.run - 1 if args.run > 0 else args.run]
    number = args.run if args.run > 0 else len(runs) + 1 + args.run
    title = os.path.basename(args.metrics) + (f", run {number} of {len(runs)}"
                                              if len(runs) > 1 else "")
    path = save_figure(learning_curves(run, title=title), args.output, args.force)
    print(f"wrote {path} ({len(run)} epochs" + (f"; run {number} of {len(runs)} in "
                                               f"{args.metrics}, choose with --run)"
                                               if len(runs) > 1 else ")"))
    return 0


def cmd_filters(args) -> int:
    from ..viz.plots import PlotInputError, check_picture_path, conv_filters, save_figure
    from ..serialization import CheckpointError, load

    check_picture_path(args.output, args.force)
    state = load(args.checkpoint)
    title = os.path.basename(args.checkpoint)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        title += f", epoch {state.get('epoch')}"
        state = state["model"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{args.checkpoint}: holds no state dict to take filters from")
    try:
        figure = conv_filters(state, title=title)
    except PlotInputError as exc:
        raise CheckpointError(f"{args.checkpoint}: {exc}") from None
    print(f"wrote {save_figure(figure, args.output, args.force)}")
    return 0


def _cores() -> int:
    from ..bench.harness import default_threads

    return default_threads()


def cmd_bench(args) -> int:
    import json

    from ..bench.harness import format_report, run
    from ..bench.epoch import format_epoch_report, run_epoch

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    if args.epoch is None:
        given = [flag for flag, value in (("--images", args.images),
                                          ("--data-dir", args.data_dir),
                                          ("--download", args.download)) if value]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --epoch")
        device = _device(args.device)
        if device == "cuda":
            backend.require_cuda()
    elif args.device not in (None, "cpu"):
        raise UsageError("--epoch times training on the CPU only: leave out --device")
    try:
        if args.epoch is None:
            report = run(batch_sizes=args.batch_size,
                         inference_batch_size=args.inference_batch_size,
                         rounds=args.rounds or 5, blocks=args.repeat,
                         block_seconds=args.block_seconds, warmup=args.warmup,
                         threads=args.threads, device=device, max_other_cpu=args.max_other_cpu,
                         compare=args.torch, seed=args.seed, progress=progress)
        else:
            report = run_epoch(dataset=args.epoch, rounds=args.rounds or 2,
                               threads=args.threads, images=args.images,
                               max_other_cpu=args.max_other_cpu, compare=args.torch,
                               data_dir=args.data_dir, download=args.download,
                               progress=progress)
    except KeyboardInterrupt:
        print("tinygrad-cnn bench: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report) if args.epoch is None else format_epoch_report(report))
    return 0


def cmd_info(args) -> int:
    """Versions and devices; runs even when the device setting is unusable, to explain it."""
    print(f"tinygrad-cnn {__version__}")
    print(f"Python {platform.python_version()} ({sys.executable})")
    print(f"NumPy {np.__version__}")
    labels = {"cupy": "CuPy", "cuda runtime": "CUDA runtime", "cuda driver": "CUDA driver",
              "gpu": "GPU"}
    for key, value in backend.cuda_versions().items():
        print(f"{labels[key]}: {value}")
    setting = f"{backend.ENV_VAR}={backend.default_device_setting()!r}"
    try:
        print(f"default device: {backend.default_device()} ({setting})")
    except backend.DeviceError as exc:
        print(f"default device: none usable: {exc}")
    usable, reason = backend.cuda_status()
    print(f"CUDA usable: {'yes' if usable else 'no'}: {reason}")
    return 0


# ----------------------------------------------------------------------------- the boundary

def _expected_errors() -> tuple:
    """The failures a user can cause and fix: reported in one line, never a traceback."""
    from ..bench.harness import BenchmarkError
    from ..data import DataFormatError
    from ..viz.plots import MissingDependencyError, PlotInputError
    from ..serialization import CheckpointError
    from ..train.loop import ConfigError, TrainingDiverged

    return (OSError, CheckpointError, DataFormatError, ConfigError, TrainingDiverged,
            MissingDependencyError, PlotInputError, BenchmarkError, backend.DeviceError)


def describe_error(exc: BaseException) -> str:
    """One message for an expected error; OSErrors as ``file: problem``."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    prefix = f"tinygrad-cnn {args.command}"
    try:
        return args.func(args)
    except UsageError as exc:
        args.parser.error(str(exc))  # usage and message on stderr, exit status 2
    except KeyboardInterrupt:
        print(f"\n{prefix}: interrupted", file=sys.stderr)
        return 130
    except _expected_errors() as exc:
        print(f"{prefix}: error: {describe_error(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
