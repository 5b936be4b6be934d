"""``tinygrad-cnn graph``: draw one training step's computation graph with Graphviz, or
write it as an explorer page (an output ending in ``.html``, or ``--format html``)."""

from __future__ import annotations

import os
import sys

from .arguments import UsageError, add_force, graph_batch_size


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("graph", help="draw one training step's computation graph")
    p.add_argument("--model", default="lenet5", choices=["lenet5"])
    p.add_argument("--output", default="lenet5.svg",
                   help="file to write (default lenet5.svg); a .html file is the explorer: "
                        "one page to open layers, hover, search and pan, needing no network")
    p.add_argument("--format", default=None, choices=["svg", "png", "pdf", "dot", "html"],
                   help="default: from the output's extension")
    p.add_argument("--collapse", action="store_true",
                   help="one box per layer (the explorer always opens that way)")
    p.add_argument("--grads", action="store_true",
                   help="run backward and show gradient statistics per tensor")
    p.add_argument("--batch-size", type=graph_batch_size, default=8)
    add_force(p, "the output")
    p.set_defaults(run_command=run, parser=p)


def _wants_html(args) -> bool:
    suffix = args.output.rsplit(".", 1)[-1].lower() if "." in args.output else ""
    if args.format is not None and suffix in ("html", "htm", "svg", "png", "pdf", "dot") \
            and (args.format == "html") != (suffix in ("html", "htm")):
        raise UsageError(f"{args.output} ends in .{suffix} but the format is "
                         f"{args.format!r}")
    return args.format == "html" or (args.format is None and suffix in ("html", "htm"))


def run(args) -> int:
    from .. import viz

    if _wants_html(args):
        explorer = viz.explore_training_step(args.model, batch_size=args.batch_size,
                                             grads=args.grads)
        path = args.output if "." in os.path.basename(args.output) else args.output + ".html"
        print(f"wrote {explorer.save(path, force=args.force)}")
        return 0
    dot = viz.draw_training_step(args.model, batch_size=args.batch_size,
                                 collapse=args.collapse, grads=args.grads)
    try:
        path = viz.render(dot, args.output, format=args.format, force=args.force)
    except viz.GraphvizNotFoundError as exc:  # its message says how to install Graphviz
        print(f"tinygrad-cnn graph: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # the output's suffix and --format disagree
        raise UsageError(str(exc).removeprefix("render: ")) from None
    print(f"wrote {path}")
    return 0
