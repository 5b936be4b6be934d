"""Tools for looking at a network: the computation graph drawn with Graphviz (and the
provenance notes it is drawn from), inspection of layers and receptive fields, and plots.

``viz.make_dot`` / ``viz.render`` draw a graph; :mod:`.inspect` and :mod:`.plots` are the
other tools, :mod:`.architecture` draws the package itself. Nothing below ``viz`` imports
it: the tools attach to the tape through hooks.

The graph drawing, module by module: :mod:`.provenance` notes where each node came from,
:mod:`.gradstats` the gradients ``backward`` computed; :mod:`.walk` finds what to draw,
:mod:`.labels` what each box says, :mod:`.style` how it looks, :mod:`.graph` writes the DOT
text (:func:`make_dot`), :mod:`.rendering` the picture (:func:`render`), and
:mod:`.training_step` draws one step of training (:func:`draw_training_step`).
:mod:`.explorer` writes the same graph as one HTML page to explore in a browser or inline in
Jupyter (:func:`explore`), from the data :mod:`.explorer_data` reads off the same walk.
"""

from . import provenance  # noqa: F401  (notes each node's module for graph drawings)
from .explorer import Explorer, explore, explore_training_step  # noqa: F401
from .gradstats import grad_statistics, record_grad_stats  # noqa: F401
from .graph import make_dot  # noqa: F401
from .rendering import GraphvizNotFoundError, render  # noqa: F401
from .training_step import draw_training_step  # noqa: F401

__all__ = ["Explorer", "GraphvizNotFoundError", "draw_training_step", "explore",
           "explore_training_step", "grad_statistics", "make_dot", "record_grad_stats",
           "render"]
