"""``tinygrad-cnn evaluate``: accuracy, loss and the confusion matrix of a checkpoint on
its test set, and, on request, pictures of the matrix and of the most confident
mistakes."""

from __future__ import annotations

import numpy as np

from .arguments import (
    DEFAULT_CHECKPOINT,
    UsageError,
    add_data_args,
    add_force,
    add_threads,
    checkpoint_model,
    chosen_device,
    mistakes_count,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy and confusion matrix of a checkpoint")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    add_data_args(p, dataset_default=None,
                  dataset_help="default: the dataset the checkpoint was trained on")
    p.add_argument("--confusion", default=None, metavar="PICTURE",
                   help="also draw the confusion matrix into this .png/.svg/.pdf")
    p.add_argument("--misclassified", default=None, metavar="PICTURE",
                   help="also draw the most confident mistakes into this .png/.svg/.pdf")
    p.add_argument("--count", type=mistakes_count, default=24,
                   help="mistakes shown by --misclassified (default 24)")
    add_force(p, "the pictures")
    add_threads(p)
    p.set_defaults(run_command=run, parser=p)


def run(args) -> int:
    from ..backend import threads
    from ..data import DataLoader, check_data_source
    from ..train.checkpoint import inspect_checkpoint
    from ..train.loop import load_datasets
    from ..train.metrics import evaluate

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
    device = chosen_device(args.device)
    model, state = checkpoint_model(args.checkpoint, num_classes=len(test_set.classes))
    model.to(device)
    with threads.fixed_for(args.threads):
        result = evaluate(model, DataLoader(test_set, 1000, device=device),
                          predictions=args.misclassified is not None)
    print(f"{args.checkpoint}: {dataset} test set, {len(test_set):,} images, "
          f"epoch {state['epoch']}")
    print(f"accuracy {100 * result['accuracy']:.2f}%  loss {result['loss']:.4f}")
    print(format_confusion(result["confusion"], test_set.classes))
    _draw_pictures(args, result, test_set, dataset, state["epoch"])
    return 0


def _draw_pictures(args, result: dict, test_set, dataset: str, epoch: int) -> None:
    """The --confusion and --misclassified pictures, where asked for."""
    if args.confusion:
        from ..viz.plots import confusion_matrix, save_figure

        figure = confusion_matrix(result["confusion"], test_set.classes,
                                  title=f"{dataset} test set, epoch {epoch}: "
                                  f"{100 * result['accuracy']:.2f}% correct")
        print(f"wrote {save_figure(figure, args.confusion, args.force, '--confusion picture')}")
    if args.misclassified:
        from ..viz.plots import misclassified_grid, save_figure

        figure = misclassified_grid(test_set.images, test_set.labels, result["predicted"],
                                    result["confidence"], test_set.classes, count=args.count)
        path = save_figure(figure, args.misclassified, args.force, "--misclassified picture")
        print(f"wrote {path}")


def format_confusion(confusion: np.ndarray, classes) -> str:
    """The confusion matrix as text: rows are true classes, columns predictions."""
    labels = [str(c)[:7] for c in classes]
    width = max(5, len(str(confusion.max())) + 1, *(len(s) + 1 for s in labels))
    lines = ["true \\ predicted"]
    lines.append(" " * 8 + "".join(s.rjust(width) for s in labels))
    for name, row in zip(labels, confusion):
        lines.append(name.ljust(8) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)
