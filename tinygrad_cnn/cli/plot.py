"""``tinygrad-cnn plot``: learning curves (loss and accuracy per epoch) of one run, from the
JSON lines that ``tinygrad-cnn train --log`` wrote."""

from __future__ import annotations

import os

from .arguments import UsageError, add_force


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("plot", help="learning curves from a train --log file",
                              description="Draw loss and accuracy per epoch, training and "
                              "test, of one run in the JSON lines that train --log wrote.")
    p.add_argument("metrics", help="the --log file of tinygrad-cnn train")
    p.add_argument("-o", "--output", default="learning_curves.png",
                   help="picture to write, .png/.svg/.pdf (default learning_curves.png)")
    p.add_argument("--run", default=None, metavar="RUN",
                   help="which run, when the file holds several: its id (or the start of "
                   "it), or its number in the file (1 = first, -1 = last to start); "
                   "default: the run that wrote the file's last line")
    add_force(p, "the output")
    p.set_defaults(run_command=run, parser=p)


def choose_run(runs: list, choice: str | None, shown: str):
    """The run ``--run`` names in ``runs`` (read from ``shown``): default the one that
    wrote the last line; else a run id, a number in range, or the start of one id."""
    if choice is None:
        return max(runs, key=lambda r: r.last_line)
    exact = [r for r in runs if r.name == choice]
    if exact:
        return exact[0]
    try:
        number = int(choice)
    except ValueError:
        number = 0
    if number and -len(runs) <= number <= len(runs):
        return runs[number - 1 if number > 0 else number]
    matches = [r for r in runs if r.name.startswith(choice)]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f"--run {choice}: {shown} holds "
                     + ("several runs starting so" if matches else
                        f"no such run; choose a number from 1 to {len(runs)}, or an id")
                     + f" (its runs: {', '.join(r.name for r in runs)})")


def run(args) -> int:
    from ..train.progress import say
    from ..viz.metrics import read_metrics
    from ..viz.plots import check_picture_path, learning_curves, save_figure

    # the log first: a wrong input is named even where matplotlib is missing
    runs = read_metrics(args.metrics)
    chosen = choose_run(runs, args.run, args.metrics)
    check_picture_path(args.output, args.force)
    title = os.path.basename(args.metrics) + (f", run {chosen.name}" if len(runs) > 1 else "")
    path = save_figure(learning_curves(chosen.epochs, title=title), args.output, args.force)
    say(f"wrote {path} ({len(chosen.epochs)} epochs"
        + (f" of run {chosen.name}; {args.metrics} holds {len(runs)} runs "
           f"({', '.join(r.name for r in runs)}): choose one with --run)"
           if len(runs) > 1 else ")"))
    return 0
