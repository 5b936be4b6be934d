"""Draw one LeNet-5 training step (forward, loss, backward) with Graphviz, and write its
explorer page.

    python examples/draw_graph.py                      # build/pictures/lenet5_graph.svg, ...
    python examples/draw_graph.py --format png --grads --out /tmp
    python examples/draw_graph.py --out docs           # redraw the pictures docs/ shows

Writes the full graph (every op, grouped by layer), the layer picture (one box per
layer) and the explorer (lenet5_explorer.html: one page to open layers, hover and search,
always with gradients) into build/pictures/, a folder git ignores; the pictures in docs/
are replaced only when asked with ``--out docs`` (``make docs-pictures`` does that). See
docs/graph.md for how to read them.
"""

import argparse
import os
import sys

from tinygrad_cnn import viz

DEFAULT_OUT = os.path.join("build", "pictures")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"folder for the pictures (default {DEFAULT_OUT}, which git "
                             f"ignores; --out docs replaces the pictures tracked in docs/)")
    parser.add_argument("--format", default="svg", choices=["svg", "png", "pdf"])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--grads", action="store_true", help="run backward, show gradients")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for collapse, name in ((False, "lenet5_graph"), (True, "lenet5_layers")):
        dot = viz.draw_training_step("lenet5", args.batch_size, collapse=collapse,
                                     grads=args.grads)
        try:
            # these pictures are this script's own: replace them even if an older version of
            # the library wrote them without its signature
            print("wrote", viz.render(dot, f"{args.out}/{name}.{args.format}", force=True))
        except viz.GraphvizNotFoundError as exc:
            sys.exit(str(exc))
    explorer = viz.explore_training_step("lenet5", args.batch_size, grads=True)
    print("wrote", explorer.save(f"{args.out}/lenet5_explorer.html", force=True))


if __name__ == "__main__":
    main()
