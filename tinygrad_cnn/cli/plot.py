"""``tinygrad-cnn plot``: learning curves (loss and accuracy per epoch) from the JSON lines
that ``tinygrad-cnn train --log`` wrote."""

from __future__ import annotations

import os

from .arguments import UsageError, add_force


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("plot", help="learning curves from a train --log file",
                              description="Draw loss and accuracy per epoch, training and "
                              "test, from the JSON lines that train --log wrote.")
    p.add_argument("metrics", help="the --log file of tinygrad-cnn train")
    p.add_argument("-o", "--output", default="learning_curves.png",
                   help="picture to write, .png/.svg/.pdf (default learning_curves.png)")
    p.add_argument("--run", type=int, default=-1,
                   help="which run of the file, when it holds several (1 = first, "
                   "default: the last)")
    add_force(p, "the output")
    p.set_defaults(run_command=run, parser=p)


def run(args) -> int:
    from ..viz.plots import check_picture_path, learning_curves, read_metrics, save_figure

    check_picture_path(args.output, args.force)
    runs = read_metrics(args.metrics)
    if not (-len(runs) <= args.run <= len(runs)) or args.run == 0:
        raise UsageError(f"--run {args.run}: {args.metrics} holds {len(runs)} run(s); "
                         f"choose 1 to {len(runs)}")
    chosen = runs[args.run - 1 if args.run > 0 else args.run]
    number = args.run if args.run > 0 else len(runs) + 1 + args.run
    title = os.path.basename(args.metrics) + (f", run {number} of {len(runs)}"
                                              if len(runs) > 1 else "")
    path = save_figure(learning_curves(chosen, title=title), args.output, args.force)
    print(f"wrote {path} ({len(chosen)} epochs" + (f"; run {number} of {len(runs)} in "
                                                  f"{args.metrics}, choose with --run)"
                                                  if len(runs) > 1 else ")"))
    return 0
