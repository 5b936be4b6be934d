"""``tinygrad-cnn filters``: draw the first convolution's filters of a training checkpoint
or a saved state dict."""

from __future__ import annotations

import os

from .arguments import DEFAULT_CHECKPOINT, add_force


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("filters", help="draw the convolution filters of a checkpoint")
    p.add_argument("checkpoint", nargs="?", default=DEFAULT_CHECKPOINT,
                   help=f"a training checkpoint or a saved state dict (default "
                   f"{DEFAULT_CHECKPOINT})")
    p.add_argument("-o", "--output", default="filters.png",
                   help="picture to write, .png/.svg/.pdf (default filters.png)")
    add_force(p, "the output")
    p.set_defaults(run_command=run, parser=p)


def run(args) -> int:
    from ..checks import is_int
    from ..serialization import CheckpointError, load
    from ..viz.plots import PlotInputError, check_picture_path, conv_filters, save_figure

    check_picture_path(args.output, args.force)
    state = load(args.checkpoint)
    title = os.path.basename(args.checkpoint)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        if is_int(state.get("epoch")):
            title += f", epoch {state['epoch']}"
        state = state["model"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{args.checkpoint}: holds no state dict to take filters from")
    try:
        figure = conv_filters(state, title=title)
    except PlotInputError as exc:
        raise CheckpointError(f"{args.checkpoint}: {exc}") from None
    print(f"wrote {save_figure(figure, args.output, args.force)}")
    return 0
