"""The tape: ``Function`` nodes, grad mode, and the reverse walk that computes gradients.

A ``Function`` runs ``forward`` on raw backend arrays and, when some input needs a
gradient, becomes a node of the graph. A node points at the nodes (or leaf tensors) that
produced its inputs, never at intermediate tensors, so activations the user has dropped
are freed even while the loss is alive; only the arrays saved for ``backward`` stay, and
the walk frees those as it goes.

The tape records what backward needs and nothing else. Whoever wants more (graph drawings,
gradient statistics) registers a hook: :func:`on_record` hooks see each node as it is
created, :func:`on_backward` hooks see each node and its output gradient as the walk
reaches it.

Tensors meet the tape through a small protocol: ``data``, ``requires_grad``, ``grad``,
``grad_fn``, ``version``, ``device``, ``shape``, ``dtype`` and ``wrap(array, grad_fn)``.
"""

from __future__ import annotations

import functools

# ----------------------------------------------------------------------------- grad mode

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class no_grad:
    """Record nothing inside: ``with no_grad():`` or ``@no_grad()`` (also bare ``@no_grad``)."""

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self(func) if callable(func) else self

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)

        return wrapper


# ----------------------------------------------------------------------------- hooks

_record_hooks: list = []
_backward_hooks: list = []


class HookHandle:
    """Returned by the hook registrations; ``remove()`` unregisters the hook."""

    def __init__(self, registry: list, hook):
        self.registry, self.hook = registry, hook

    def remove(self) -> None:
        if self.hook in self.registry:
            self.registry.remove(self.hook)


def on_record(hook) -> HookHandle:
    """Call ``hook(node, output_array, params)`` whenever a node is recorded."""
    _record_hooks.append(hook)
    return HookHandle(_record_hooks, hook)


def on_backward(hook) -> HookHandle:
    """Call ``hook(node, grad_out)`` whenever ``backward()`` reaches a node."""
    _backward_hooks.append(hook)
    return HookHandle(_backward_hooks, hook)


# ----------------------------------------------------------------------------- Function

class Function:
    """One differentiable primitive; an instance is also the node (the ``ctx``).

    Subclasses define ``forward(ctx, *arrays, **params)`` returning one array and
    ``backward(ctx, grad_out)`` returning one gradient per array input (``None`` where an
    input needs none). ``ctx.needs_input_grad`` is set before ``forward`` runs, so forward
    can skip saving (or computing) what no gradient will need. Both work on raw NumPy/CuPy
    arrays; settings a backward needs are stored on ``ctx`` as plain attributes, arrays
    through ``save_for_backward``.
    ``backward`` must not write into ``grad_out`` or into saved arrays.
    """

    __slots__ = ("parents", "needs_input_grad", "input_meta", "input_versions", "saved",
                 "freed", "__dict__", "__weakref__")

    def save_for_backward(self, *arrays) -> None:
        self.saved = arrays

    @classmethod
    def apply(cls, *inputs, **params):
        """Run forward on the inputs' arrays; return a Tensor, recording the node if needed.

        ``inputs`` are Tensors on one device, the first one present; an optional input
        (a missing bias) may be None and reaches ``forward`` as None. Keyword ``params``
        are plain values.
        """
        present = [t for t in inputs if t is not None]
        device = present[0].device
        for t in present:
            if t.device != device:
                raise RuntimeError(f"{cls.name.lower()}: expected all tensors on one device, "
                                   f"got {device} and {t.device}")
        node = cls()
        # known before forward, so that forward can skip what no gradient will need
        node.needs_input_grad = tuple(_grad_enabled and t is not None and t.requires_grad
                                      for t in inputs)
        out = node.forward(*[None if t is None else t.data for t in inputs], **params)
        if not any(node.needs_input_grad):
            return present[0].wrap(out)
        node.parents = tuple((t.grad_fn or t) if needed else None
                             for t, needed in zip(inputs, node.needs_input_grad))
        node.input_meta = tuple((None, None) if t is None else (t.shape, t.dtype)
                                for t in inputs)
        node.input_versions = tuple(None if t is None else t.version for t in inputs)
        if not hasattr(node, "saved"):
            node.saved = ()
        node.freed = False
        for hook in _record_hooks:
            hook(node, out, params)
        return present[0].wrap(out, node)

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_out):  # pragma: no cover - abstract
        raise NotImplementedError

    name = "Function"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # what messages and drawings call the op: the class name, less the "Op" suffix that
        # fused ops carry so that they are never mistaken for the layers using them
        cls.name = cls.__name__.removesuffix("Op")

    def __repr__(self):
        return f"<{self.name}Backward>"


# ----------------------------------------------------------------------------- the walk

def fit_gradient(grad, shape: tuple, dtype, op_name: str = "op"):
    """``grad`` summed back to an input's ``shape`` (first the extra leading axes, then the
    size-1 axes that were broadcast) and cast to its ``dtype``. A gradient that cannot fit
    is a bug in ``op_name``'s backward, and the error says so."""
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = grad.sum(axis=tuple(range(extra)))
        if extra >= 0:
            axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
            if axes:
                grad = grad.sum(axis=axes, keepdims=True)
        if grad.shape != shape:
            raise RuntimeError(f"{op_name}: backward produced a gradient of shape "
                               f"{grad.shape} for an input of shape {shape}")
    return grad if grad.dtype == dtype else grad.astype(dtype)


def topological_order(root_node) -> list:
    """Nodes reachable from ``root_node``, each before the nodes that produced its inputs.

    Iterative depth-first search (no recursion limit); parents are visited in input order,
    so the order is deterministic.
    """
    order, visited, stack = [], {id(root_node)}, [(root_node, 0)]
    while stack:
        node, start = stack[-1]
        for i in range(start, len(node.parents)):
            parent = node.parents[i]
            if isinstance(parent, Function) and id(parent) not in visited:
                visited.add(id(parent))
                stack[-1] = (node, i + 1)
                stack.append((parent, 0))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()  # root first
    return order


def run_backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate ``grad`` from tensor ``root`` to every leaf that requires grad.

    Each leaf's gradient is added to its ``.grad`` (accumulating across calls, as PyTorch
    does). Unless ``retain_graph``, each node's saved arrays are dropped once used.
    """
    grads = {id(root.grad_fn): grad}
    leaves = {}  # id -> (leaf, summed gradient)
    for node in topological_order(root.grad_fn):
        g = grads.pop(id(node), None)
        if g is None:
            continue  # no path from the root carries a gradient here
        if node.freed:
            raise RuntimeError(
                f"backward through the graph a second time: the saved arrays of {node.name} "
                f"were freed by the first backward(); pass retain_graph=True to the first "
                f"call if you need to backward twice")
        for hook in _backward_hooks:
            hook(node, g)
        input_grads = node.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if not retain_graph:
            node.saved, node.freed = (), True
        for parent, gin, (shape, dtype), version in zip(
                node.parents, input_grads, node.input_meta, node.input_versions):
            if parent is None or gin is None:
                continue
            gin = fit_gradient(gin, shape, dtype, node.name)
            if isinstance(parent, Function):
                previous = grads.get(id(parent))
                grads[id(parent)] = gin if previous is None else previous + gin
                continue
            if parent.version != version:
                raise RuntimeError(
                    f"{node.name}: an input of shape {shape} was modified in place (e.g. by "
                    f"optimizer.step()) after forward used it, so its gradient would be "
                    f"computed from the new values; call backward() before changing it")
            previous = leaves.get(id(parent))
            leaves[id(parent)] = (parent, gin if previous is None else previous[1] + gin)
    for leaf, g in leaves.values():
        # copied: an op may hand one array to several inputs (Add), and the caller's grad
        # may arrive untouched, so a .grad must never share memory with anything else;
        # in its own memory order (a batch-last gradient stays batch-last: reordering a
        # batch of images costs a TLB miss per value, 8 ms for LeNet-5's conv1 at 256)
        total = g.copy(order="K") if leaf.grad is None else leaf.grad.data + g
        leaf.grad = leaf.wrap(total)
