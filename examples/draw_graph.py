"""Draw one LeNet-5 training step (forward, loss, backward) with Graphviz.

    python examples/draw_graph.py                      # docs/lenet5_graph.svg, lenet5_layers.svg
    python examples/draw_graph.py --format png --grads --out /tmp

Writes the full graph (every op, grouped by layer) and the layer picture (one box per
layer). See docs/graph.md for how to read them.
"""

import argparse
import sys

from tinygrad_cnn import viz


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", help="folder for the pictures")
    parser.add_argument("--format", default="svg", choices=["svg", "png", "pdf"])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--grads", action="store_true", help="run backward, show gradients")
    args = parser.parse_args()
    for collapse, name in ((False, "lenet5_graph"), (True, "lenet5_layers")):
        dot = viz.draw_training_step("lenet5", args.batch_size, collapse=collapse,
                                     grads=args.grads)
        try:
            # these pictures are this script's own: replace them even if an older version of
            # the library wrote them without its signature
            print("wrote", viz.render(dot, f"{args.out}/{name}.{args.format}", force=True))
        except viz.GraphvizNotFoundError as exc:
            sys.exit(str(exc))


if __name__ == "__main__":
    main()
