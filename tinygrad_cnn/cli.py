"""The ``tinygrad-cnn`` command: train, evaluate, graph, bench, info."""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

from . import __version__, backend

DEFAULT_CHECKPOINT = os.path.join("checkpoints", "lenet5.npz")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="auto",
                   choices=["auto", "mnist", "fashion-mnist", "sample"],
                   help="auto: MNIST where it is found, else the bundled sample (default)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the IDX files (also $TINYGRAD_CNN_DATA)")
    p.add_argument("--device", default=None, choices=["cpu", "cuda", "gpu"],
                   help="default: $TINYGRAD_CNN_DEVICE, else cpu")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-cnn",
        description="Train, evaluate and draw LeNet-5 with a from-scratch autograd engine.")
    parser.add_argument("--version", action="version", version=f"tinygrad-cnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train LeNet-5",
                       description="Train LeNet-5; with no arguments, on MNIST where it is "
                       "present, else on the bundled sample.")
    _add_data_args(p)
    p.add_argument("--epochs", type=int, default=None,
                   help="default: 20 on the sample, 10 on MNIST / Fashion-MNIST")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None,
                   help="default: 2e-3 (adam) on the sample, 0.01 (sgd) on the full datasets")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help="default: adam on the sample, sgd on the full datasets")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                   help="learning-rate schedule (default: cosine on the sample, else constant)")
    p.add_argument("--augment", type=int, default=None, metavar="PIXELS",
                   help="random shifts of up to PIXELS (default: 2 on the sample, else 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                   help=f"written after every epoch (default {DEFAULT_CHECKPOINT}); "
                   "'' to disable")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--log", default=None, help="append per-epoch metrics as JSON lines here")
    p.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="feed raw [0, 1] pixels instead of mean/std normalised ones")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy and confusion matrix of a checkpoint")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    p.add_argument("--dataset", default=None,
                   choices=["auto", "mnist", "fashion-mnist", "sample"],
                   help="default: the dataset the checkpoint was trained on")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default=None, choices=["cpu", "cuda", "gpu"])
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("graph", help="draw one training step's computation graph")
    p.add_argument("--model", default="lenet5", choices=["lenet5"])
    p.add_argument("--output", default="lenet5.svg", help="file to write (default lenet5.svg)")
    p.add_argument("--format", default=None, choices=["svg", "png", "pdf", "dot"],
                   help="default: from the output's extension")
    p.add_argument("--collapse", action="store_true", help="one box per layer")
    p.add_argument("--grads", action="store_true",
                   help="run backward and show gradient statistics per tensor")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser(
        "bench", help="LeNet-5 speed and memory against PyTorch, each in its own process",
        description="Time LeNet-5 training steps (SGD with momentum) and inference, ours and "
        "PyTorch's (when installed), each library in its own processes on the same batches, "
        "alternating rounds, with the same thread count; prints medians (min-max), the "
        "ratio of the medians and peak memory. Timed blocks during which other processes "
        "used the CPU are left out. The defaults take about two minutes.")
    p.add_argument("--batch-size", type=int, nargs="+", default=[64, 256], metavar="N",
                   help="training batch sizes (default: 64 256)")
    p.add_argument("--inference-batch-size", type=int, default=1000, metavar="N",
                   help="inference batch size (default 1000; 0 skips inference)")
    p.add_argument("--rounds", type=int, default=5,
                   help="alternating rounds, a fresh process per library each (default 5)")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed blocks per round and library (default 5)")
    p.add_argument("--block-seconds", type=float, default=0.3,
                   help="length of a timed block (default 0.3)")
    p.add_argument("--warmup", type=float, default=0.5,
                   help="seconds of warm-up in every process (default 0.5)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both libraries (default: the cores available, "
                   f"{_cores()} here)")
    p.add_argument("--max-other-cpu", type=float, default=0.1, metavar="SHARE",
                   help="leave out blocks in which other processes took more than this "
                   "share of the CPU time (default 0.1)")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="time ours only")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and batches")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--device", default=None, choices=["cpu", "cuda", "gpu"],
                   help="cuda compares with PyTorch on the same GPU, never with the CPU")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("info", help="versions, default device and CUDA status")
    p.set_defaults(func=cmd_info)
    return parser


def cmd_train(args) -> int:
    from .train import TrainConfig, TrainingInterrupted, fit

    checkpoint = args.checkpoint or None
    if checkpoint:
        os.makedirs(os.path.dirname(os.path.abspath(checkpoint)), exist_ok=True)
    config = TrainConfig(
        dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
        augment=args.augment, seed=args.seed,
        device=args.device, normalize=args.normalize, checkpoint=checkpoint,
        resume=args.resume, log=args.log,
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
    from .data import DataLoader
    from .models import LeNet5
    from .train import evaluate, load_datasets, read_checkpoint

    state = read_checkpoint(args.checkpoint)
    saved = state["config"]
    dataset = args.dataset or saved["dataset"]
    _, test_set, dataset = load_datasets(dataset, args.data_dir or saved.get("data_dir"),
                                         saved.get("normalize", True))
    device = backend.parse_device(args.device) if args.device else backend.DEFAULT_DEVICE
    model = LeNet5(num_classes=len(test_set.classes))
    model.load_state_dict(state["model"])
    model.to(device)
    result = evaluate(model, DataLoader(test_set, 1000, device=device))
    print(f"{args.checkpoint}: {dataset} test set, {len(test_set):,} images, "
          f"epoch {state['epoch']}")
    print(f"accuracy {100 * result['accuracy']:.2f}%  loss {result['loss']:.4f}")
    print(format_confusion(result["confusion"], test_set.classes))
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
    from . import viz

    dot = viz.draw_training_step(args.model, batch_size=args.batch_size,
                                 collapse=args.collapse, grads=args.grads)
    try:
        path = viz.render(dot, args.output, format=args.format)
    except viz.GraphvizNotFoundError as exc:
        print(f"tinygrad-cnn graph: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def _cores() -> int:
    from .benchmark import default_threads

    return default_threads()


def cmd_bench(args) -> int:
    import json

    from .benchmark import format_report, run

    device = backend.parse_device(args.device) if args.device else backend.DEFAULT_DEVICE
    if device == "cuda":
        backend.require_cuda()

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    try:
        report = run(batch_sizes=args.batch_size, inference_batch_size=args.inference_batch_size,
                     rounds=args.rounds, blocks=args.repeat, block_seconds=args.block_seconds,
                     warmup=args.warmup, threads=args.threads, device=device,
                     max_other_cpu=args.max_other_cpu, compare=args.torch, seed=args.seed,
                     progress=progress)
    except KeyboardInterrupt:
        print("tinygrad-cnn bench: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def cmd_info(args) -> int:
    print(f"tinygrad-cnn {__version__}")
    print(f"Python {platform.python_version()} ({sys.executable})")
    print(f"NumPy {np.__version__}")
    ok, reason = backend.cuda_status()
    try:
        import cupy

        print(f"CuPy {cupy.__version__}")
    except ImportError:
        print("CuPy not installed")
    print(f"default device: {backend.DEFAULT_DEVICE} "
          f"({backend.ENV_VAR}={os.environ.get(backend.ENV_VAR, '')!r})")
    print(f"CUDA usable: {'yes' if ok else 'no'}: {reason}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, backend.DeviceError) as exc:
        print(f"tinygrad-cnn {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
