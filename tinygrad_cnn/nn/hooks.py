"""What tools watching a model attach to: which module is running, and hook handles.

Graph drawings group ops by the layer that made them, and inspection tools capture layer
outputs; both without the tape knowing anything of modules.

Which module is running
-----------------------
``Module.__call__`` keeps the path of modules whose ``forward`` is running, e.g.
``(("", "LeNet5"), ("conv1", "Conv2d"))``, readable with :func:`current_path` (graph
drawings use it to group ops by layer). A name is the attribute name under the parent
(``"conv1"``, or ``"0"`` inside a ``Sequential``); a module that was never assigned to a
parent has the name ``""``. Joining the non-empty names of a path with ``"."`` gives the key
of that module in the root's ``named_modules()`` (and the prefix of its parameters in
``named_parameters()``). A module assigned to several parents keeps its first name.

The path belongs to the thread running the forward: a model evaluated in one thread does
not label the ops another thread records. Forward hooks (:class:`RemovableHandle`) belong
to their module and run in whichever thread calls it, as PyTorch's do.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict


class RunningModules(threading.local):
    """``path``: (name, class name) of every module whose forward is running in this
    thread, outermost first. ``Module.__call__`` pushes and pops it around forward (what
    :class:`running` does, inlined); each thread starts with an empty path."""

    def __init__(self):
        self.path = []


running_modules = RunningModules()


def current_path() -> tuple:
    """The modules whose ``forward`` is running in this thread, outermost first, as
    (name, class) pairs."""
    return tuple(running_modules.path)


class running:
    """Inside, :func:`current_path` ends with ``(name, kind)``: what ``Module.__call__``
    does around ``forward``, usable on its own to label code that is not a module."""

    __slots__ = ("entry", "path")

    def __init__(self, name: str, kind: str):
        self.entry = (name, kind)

    def __enter__(self):
        self.path = running_modules.path  # the entering thread's, also for the exit
        self.path.append(self.entry)

    def __exit__(self, *exc):
        self.path.pop()
        return False


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` unregisters the hook.

    Removing twice is harmless; ``with module.register_forward_hook(h):`` removes the hook
    when the block ends, as PyTorch's handles do.
    """

    _ids = itertools.count()

    def __init__(self, hooks: OrderedDict):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
