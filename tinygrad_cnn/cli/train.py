"""``tinygrad-cnn train``: train LeNet-5 with :func:`tinygrad_cnn.train.fit`, with the
dataset's recipe for every setting not given."""

from __future__ import annotations

from .arguments import (
    DEFAULT_CHECKPOINT,
    UsageError,
    add_data_args,
    add_threads,
    positive_float,
    setting,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train LeNet-5",
                              description="Train LeNet-5; with no arguments, on MNIST where it "
                              "is present, else on the bundled sample.")
    add_data_args(p)
    p.add_argument("--epochs", type=setting("epochs"), default=None,
                   help="default: 20 on the sample, 10 on MNIST / Fashion-MNIST")
    p.add_argument("--batch-size", type=setting("batch_size"), default=64)
    p.add_argument("--lr", type=positive_float, default=None,
                   help="default: 2e-3 (adam) on the sample, 0.01 (sgd) on the full datasets")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                   help="default: adam on the sample, sgd on the full datasets")
    p.add_argument("--momentum", type=setting("momentum"), default=0.9,
                   help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=setting("weight_decay"), default=0.0)
    p.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                   help="learning-rate schedule (default: cosine on the sample, else constant)")
    p.add_argument("--augment", type=setting("augment"), default=None, metavar="PIXELS",
                   help="random shifts of up to PIXELS (default: 2 on the sample, else 0)")
    p.add_argument("--seed", type=setting("seed"), default=0)
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
    add_threads(p)
    p.set_defaults(run_command=run, parser=p)


def run(args) -> int:
    from ..data import check_data_source
    from ..train.config import TrainConfig
    from ..train.loop import fit
    from ..train.progress import say

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
        threads=args.threads,
    )
    before = _finished_epochs(checkpoint) if args.resume else 0
    _, history = fit(config)  # Ctrl-C: TrainingInterrupted, reported by the boundary
    if len(history) <= before:  # fit said that nothing was left to train
        return 0
    last = history[-1]
    total = sum(m["seconds"] for m in history)
    say(f"done: test accuracy {100 * last['test_accuracy']:.2f}% after "
        f"{last['epoch']} epochs, {total:.1f} s of training"
        + (f"; checkpoint {checkpoint}" if checkpoint else ""))
    return 0


def _finished_epochs(checkpoint) -> int:
    """How many epochs the checkpoint to resume holds (0 where there is none to read:
    ``fit`` then says why)."""
    from ..serialization import CheckpointError
    from ..train.checkpoint import inspect_checkpoint

    try:
        return inspect_checkpoint(checkpoint)["epoch"]
    except (OSError, CheckpointError):
        return 0
