"""The tape: ``Function`` nodes, grad mode, and the reverse walk that computes gradients.

A ``Function`` runs ``forward`` on raw backend arrays and, when some input needs a
gradient, becomes a node of the graph. A node points at the nodes (or leaf tensors) that
produced its inputs, never at intermediate tensors, so activations the user has dropped
are freed even while the loss is alive; only the arrays saved for ``backward`` stay, and
the walk frees those as it goes.
"""

from __future__ import annotations

import functools

from . import backend

# ----------------------------------------------------------------------------- grad mode

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class no_grad:
    """Record nothing inside: ``with no_grad():`` or ``@no_grad()`` (also bare ``@no_grad``)."""

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if callable(func):
            return self(func)
        return self

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False
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


# ----------------------------------------------------------------------------- module scope

# The path of modules whose forward is running, as ((name, class name), ...). nn.Module
# pushes itself here so that each node remembers which layer created it (viz clusters).
_module_path: tuple = ()


class module_scope:
    """Mark nodes created inside as belonging to module ``name`` of class ``kind``."""

    __slots__ = ("entry", "previous")

    def __init__(self, name: str, kind: str):
        self.entry = (name, kind)

    def __enter__(self):
        global _module_path
        self.previous = _module_path
        _module_path = _module_path + (self.entry,)

    def __exit__(self, *exc):
        global _module_path
        _module_path = self.previous
        return False


# ----------------------------------------------------------------------------- Function

class Function:
    """One differentiable primitive; an instance is also the node (the ``ctx``).

    Subclasses define ``forward(ctx, *arrays, **params)`` returning one array and
    ``backward(ctx, grad_out)`` returning one gradient per array input (``None`` where an
    input needs none). Both work on raw NumPy/CuPy arrays. ``backward`` must not write
    into ``grad_out`` or into saved arrays.
    """

    __slots__ = (
        "parents", "needs_input_grad", "input_meta", "saved", "params", "module_path",
        "out_shape", "out_dtype", "freed", "grad_stats", "seq", "__dict__",
    )
    _counter = 0

    def save_for_backward(self, *arrays) -> None:
        self.saved = arrays

    @classmethod
    def apply(cls, *inputs, **params):
        """Run forward on the inputs' arrays and return a Tensor, recording the node if needed.

        ``inputs`` are Tensors; keyword ``params`` (axis, stride, ...) are plain values.
        """
        ctx = cls()
        device = inputs[0].device
        for t in inputs:
            if t.device != device:
                raise RuntimeError(
                    f"{cls.__name__.lower()}: expected all tensors on one device, "
                    f"got {device} and {t.device}"
                )
        out = ctx.forward(*[t.data for t in inputs], **params)
        tensor_type = type(inputs[0])
        if not _grad_enabled or not any(t.requires_grad for t in inputs):
            return tensor_type._from_array(out, None)
        ctx.parents = tuple(
            (t._ctx if t._ctx is not None else t) if t.requires_grad else None for t in inputs
        )
        ctx.needs_input_grad = tuple(t.requires_grad for t in inputs)
        ctx.input_meta = tuple((t.shape, t.dtype) for t in inputs)
        ctx.params = params
        ctx.module_path = _module_path
        ctx.out_shape = out.shape
        ctx.out_dtype = out.dtype
        ctx.freed = False
        ctx.grad_stats = None
        Function._counter += 1
        ctx.seq = Function._counter
        if not hasattr(ctx, "saved"):
            ctx.saved = ()
        return tensor_type._from_array(out, ctx)

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_out):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name}Backward>"


# ----------------------------------------------------------------------------- the walk

def unbroadcast(grad, shape: tuple, op_name: str = "op"):
    """Sum ``grad`` back to ``shape``: first the extra leading axes, then size-1 axes."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise RuntimeError(
            f"{op_name}: backward produced a gradient of shape {grad.shape} for an input of "
            f"shape {shape}"
        )
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        raise RuntimeError(
            f"{op_name}: backward produced a gradient of shape {grad.shape} for an input of "
            f"shape {shape}"
        )
    return grad


def topological_order(root_node) -> list:
    """Nodes reachable from ``root_node``, each after all nodes that consume its output.

    Iterative depth-first search (no recursion limit); parents are visited in input order,
    so the order is deterministic.
    """
    order = []
    visited = {id(root_node)}
    stack = [(root_node, 0)]
    while stack:
        node, i = stack[-1]
        parents = node.parents
        while i < len(parents):
            p = parents[i]
            i += 1
            if isinstance(p, Function) and id(p) not in visited:
                visited.add(id(p))
                stack[-1] = (node, i)
                stack.append((p, 0))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()  # root first
    return order


_record_grad_stats = False


class record_grad_stats:
    """Inside, ``backward()`` stores (norm, min, max, nonfinite, dtype) of each node's
    output gradient on the node, for graph drawings; off by default because it costs."""

    def __enter__(self):
        global _record_grad_stats
        self._previous = _record_grad_stats
        _record_grad_stats = True

    def __exit__(self, *exc):
        global _record_grad_stats
        _record_grad_stats = self._previous
        return False


def grad_statistics(grad) -> dict:
    xp = backend.array_module(backend.device_of(grad))
    finite = bool(xp.isfinite(grad).all())
    g = grad.astype("float64")
    return {
        "norm": float(xp.sqrt((g * g).sum())),
        "min": float(g.min()) if g.size else 0.0,
        "max": float(g.max()) if g.size else 0.0,
        "nonfinite": not finite,
        "dtype": str(grad.dtype),
    }


def run_backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate ``grad`` from tensor ``root`` to every leaf that requires grad.

    Leaf gradients are added to ``leaf.grad`` (accumulating across calls, as PyTorch
    does). Unless ``retain_graph``, each node's saved arrays are dropped once it is used.
    """
    root_node = root._ctx
    order = topological_order(root_node)
    grads = {id(root_node): grad}
    leaves = {}
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue  # no path from the root carries a gradient here
        if node.freed:
            raise RuntimeError(
                f"backward through the graph a second time: the saved arrays of "
                f"{node.name} were freed by the first backward(); pass retain_graph=True "
                f"to the first call if you need to backward twice"
            )
        if _record_grad_stats:
            node.grad_stats = grad_statistics(g)
        input_grads = node.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if not retain_graph:
            node.saved = ()
            node.freed = True
        for parent, gin, (shape, dtype) in zip(node.parents, input_grads, node.input_meta):
            if parent is None or gin is None:
                continue
            gin = unbroadcast(gin, shape, node.name)
            if gin.dtype != dtype:
                gin = gin.astype(dtype)
            key = id(parent)
            if isinstance(parent, Function):
                previous = grads.get(key)
                grads[key] = gin if previous is None else previous + gin
            else:
                previous = leaves.get(key)
                leaves[key] = (parent, gin if previous is None else previous[1] + gin)
    # A leaf's .grad must own its array: an op may hand one array to several inputs (Add),
    # and the caller's `grad` may arrive untouched, so shared or viewed arrays are copied.
    handed_out = {id(grad)}
    for leaf, g in leaves.values():
        if id(g) in handed_out or g.base is not None:
            g = g.copy()
        handed_out.add(id(g))
        leaf._accumulate_grad(g)
