"""Where each node of the tape came from: the module running when it was made, the op's
settings, and its output's shape and dtype.

The tape keeps only what ``backward`` needs. Graph drawings need more, and need it later,
after the activations are gone, so this module notes it down as nodes are recorded
(through :func:`tinygrad_cnn.autograd.on_record`) in a table keyed by node that forgets a
node when the graph is freed. It is imported with the package, so every graph is drawable.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

from .. import autograd
from ..nn.hooks import current_path


class Provenance(NamedTuple):
    module_path: tuple  # ((name, class name), ...), outermost module first
    params: dict  # the op's keyword settings (stride, axis, ...)
    out_shape: tuple
    out_dtype: object


_notes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _note(node, output, params) -> None:
    _notes[node] = Provenance(current_path(), params, output.shape, output.dtype)


def of(node) -> Provenance:
    """What was noted for ``node`` (a node recorded before the package was imported, or
    by a tape without this hook, gets an empty record)."""
    return _notes.get(node) or Provenance((), {}, (), None)


autograd.on_record(_note)
