"""Tools for looking at a network: the computation graph drawn with Graphviz (and the
provenance notes it is drawn from), inspection of layers and receptive fields, and plots.

``viz.make_dot`` / ``viz.render`` draw a graph; :mod:`.inspect` and :mod:`.plots` are the
other tools. Nothing below ``viz`` imports it: the tools attach to the tape through hooks.
"""

from . import provenance  # noqa: F401  (notes each node's module for graph drawings)
from .graph import (  # noqa: F401
    GraphvizNotFoundError, draw_training_step, grad_statistics, make_dot, record_grad_stats,
    render,
)

__all__ = ["GraphvizNotFoundError", "draw_training_step", "grad_statistics", "make_dot",
           "record_grad_stats", "render"]
