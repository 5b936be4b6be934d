"""Gradient statistics for the graph drawings: norm, range, NaN/Inf and dtype of each
gradient that ``backward()`` computes.

The tape keeps no gradients of interior nodes (it frees them as it walks), so a drawing
that shows them needs them noted down while ``backward()`` runs: inside
:func:`record_grad_stats` a hook (:func:`tinygrad_cnn.autograd.on_backward`) keeps the
statistics, keyed by node, forgotten with the graph.
"""

from __future__ import annotations

import contextlib
import weakref

from .. import autograd, backend

_grad_stats: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def grad_statistics(grad) -> dict:
    """Norm, min, max of a gradient array, whether it holds NaN/Inf, and its dtype."""
    xp = backend.xp_of(grad)
    g = grad.astype("float64")
    return {
        "norm": float(xp.sqrt((g * g).sum())),
        "min": float(g.min()) if g.size else 0.0,
        "max": float(g.max()) if g.size else 0.0,
        "nonfinite": not bool(xp.isfinite(grad).all()),
        "dtype": str(grad.dtype),
    }


@contextlib.contextmanager
def record_grad_stats():
    """Inside, ``backward()`` in this thread notes the statistics of each node's output
    gradient for :func:`~tinygrad_cnn.viz.make_dot` (``show_grads``); off by default, because
    each costs a reduction and a read of the device (other threads' walks are not slowed)."""
    handle = autograd.on_backward(lambda node, g: _grad_stats.__setitem__(
        node, grad_statistics(g)), only_this_thread=True)
    try:
        yield
    finally:
        handle.remove()


def node_grad_stats(node):
    """The statistics noted for ``node``'s output gradient, or ``None`` (not recorded)."""
    return _grad_stats.get(node)
