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
``grad_fn``, ``version_counter`` (a :class:`VersionCounter`), ``device``, ``shape``, ``dtype``
and ``wrap(array, grad_fn)``.

In-place changes count in the version counter that tensors sharing memory share (a tensor,
its ``detach()`` and its views, as in PyTorch). A node keeps the counters of its inputs (and
of its result, when ``backward`` needs the result), never the tensors, and ``backward()``
refuses a node whose inputs or needed result changed after forward: its gradient would be
computed from values forward never saw. PyTorch refuses only what the op saved; refusing
every changed input is simpler and never gives a wrong gradient.
"""

from __future__ import annotations

import functools
import threading

# ----------------------------------------------------------------------------- versions

class VersionCounter:
    """How often some memory was changed in place: one per array of memory, shared by every
    tensor using it (``value`` only grows)."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def memory_root(array):
    """The array (or buffer) owning ``array``'s memory: itself, or the end of its ``base``
    chain, so two arrays with one root may share memory (a view and its source)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


# ----------------------------------------------------------------------------- per thread


class _Hooks:
    """A registry of hooks, kept as tuples that a registration replaces (never changes in
    place), so a walk reading them in one thread never sees another thread's change half
    done."""

    __slots__ = ("record", "backward")

    def __init__(self):
        self.record, self.backward = (), ()


class _PerThread(threading.local):
    """What belongs to the computation running in one thread, as in PyTorch: grad mode and
    the hooks registered for this thread alone. A new thread starts with grad enabled and
    none of these hooks, whatever the thread that started it was doing."""

    def __init__(self):
        self.grad_enabled = True
        self.hooks = _Hooks()


_this_thread = _PerThread()
_all_threads = _Hooks()  # listeners: they see the nodes of every thread
_registering = threading.Lock()


# ----------------------------------------------------------------------------- grad mode

def is_grad_enabled() -> bool:
    """Whether operations are recorded in this thread (each thread has its own mode)."""
    return _this_thread.grad_enabled


class set_grad_enabled:
    """Turn recording on or off in this thread, at once: ``set_grad_enabled(False)``; as a
    context (``with set_grad_enabled(flag):``) the previous mode comes back at its end."""

    def __init__(self, mode: bool):
        self._previous = _this_thread.grad_enabled
        _this_thread.grad_enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _this_thread.grad_enabled = self._previous
        return False


class no_grad:
    """Record nothing inside: ``with no_grad():`` or ``@no_grad()`` (also bare ``@no_grad``).

    Grad mode belongs to the thread (``no_grad`` in one thread leaves the others recording),
    and each block restores, in the thread that leaves it, the mode that thread had when it
    entered, as PyTorch's does; one object may be entered again inside itself, and by
    several threads.
    """

    def __new__(cls, func=None):
        self = super().__new__(cls)
        self._saved = {}  # thread id -> the modes found on entering, innermost last
        return self(func) if callable(func) else self

    def __enter__(self):
        thread = _this_thread
        self._saved.setdefault(threading.get_ident(), []).append(thread.grad_enabled)
        thread.grad_enabled = False
        return self

    def __exit__(self, *exc):
        key = threading.get_ident()
        saved = self._saved[key]
        _this_thread.grad_enabled = saved.pop()
        if not saved:
            del self._saved[key]
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)

        return wrapper


# ----------------------------------------------------------------------------- hooks

class HookHandle:
    """Returned by the hook registrations; ``remove()`` unregisters the hook (from the
    registry it was added to, whichever thread calls it)."""

    def __init__(self, registry: _Hooks, kind: str, hook):
        self.registry, self.kind, self.hook = registry, kind, hook

    def remove(self) -> None:
        with _registering:
            hooks = getattr(self.registry, self.kind)
            setattr(self.registry, self.kind, tuple(h for h in hooks if h is not self.hook))


def _register(kind: str, hook, only_this_thread: bool) -> HookHandle:
    registry = _this_thread.hooks if only_this_thread else _all_threads
    with _registering:
        setattr(registry, kind, getattr(registry, kind) + (hook,))
    return HookHandle(registry, kind, hook)


def on_record(hook, only_this_thread: bool = False) -> HookHandle:
    """Call ``hook(node, output_array, params)`` whenever a node is recorded.

    By default in every thread: a listener, like PyTorch's global hooks (graph drawings
    note where each node came from, whichever thread made it). With ``only_this_thread``
    the hook belongs to the computation running in the calling thread, and other threads'
    nodes never reach it. Hooks for all threads run first, each group in registration
    order.
    """
    return _register("record", hook, only_this_thread)


def on_backward(hook, only_this_thread: bool = False) -> HookHandle:
    """Call ``hook(node, grad_out)`` whenever ``backward()`` reaches a node; in every
    thread, or with ``only_this_thread`` only in the walks of the calling thread (as a
    statistics recorder running around one training step needs)."""
    return _register("backward", hook, only_this_thread)


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

    __slots__ = ("parents", "needs_input_grad", "input_meta", "input_versions",
                 "output_version", "saved", "freed", "__dict__", "__weakref__")

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
        thread = _this_thread
        # known before forward, so that forward can skip what no gradient will need
        recording = thread.grad_enabled
        node.needs_input_grad = tuple(recording and t is not None and t.requires_grad
                                      for t in inputs)
        out = node.forward(*[None if t is None else t.data for t in inputs], **params)
        if not any(node.needs_input_grad):
            return present[0].wrap(out)
        node.parents = tuple((t.grad_fn or t) if needed else None
                             for t, needed in zip(inputs, node.needs_input_grad))
        node.input_meta = tuple((None, None) if t is None else (t.shape, t.dtype)
                                for t in inputs)
        # (counter, value) of each input as forward read it
        node.input_versions = tuple(None if t is None else
                                    (t.version_counter, t.version_counter.value)
                                    for t in inputs)
        if not hasattr(node, "saved"):
            node.saved = ()
        node.freed = False
        for hook in _all_threads.record + thread.hooks.record:
            hook(node, out, params)
        result = present[0].wrap(out, node)
        node.output_version = None
        if node.saved:  # does backward read the result's memory (Exp, ReLU)?
            root = memory_root(out)
            if any(memory_root(a) is root for a in node.saved):
                counter = result.version_counter
                node.output_version = (counter, counter.value)
        return result

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


def check_unchanged(node) -> None:
    """Raise if an input of ``node``, or the result its backward reads, was changed in place
    after forward (see the module docstring)."""
    if node.output_version is not None:
        counter, value = node.output_version
        if counter.value != value:
            raise RuntimeError(
                f"{node.name}: its result was modified in place after forward computed it, "
                f"and its backward needs that result; change a copy (y = y * 2, not "
                f"y *= 2), or call backward() before changing it")
    for (shape, _), version in zip(node.input_meta, node.input_versions):
        if version is not None and version[0].value != version[1]:
            raise RuntimeError(
                f"{node.name}: an input of shape {shape} was modified in place (e.g. by "
                f"optimizer.step() or +=) after forward used it, so its gradient would be "
                f"computed from the new values; call backward() before changing it")


def run_backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate ``grad`` from tensor ``root`` to every leaf that requires grad.

    Each leaf's gradient is added to its ``.grad`` (accumulating across calls, as PyTorch
    does). Unless ``retain_graph``, each node's saved arrays are dropped once used.
    """
    grads = {id(root.grad_fn): grad}
    backward_hooks = _all_threads.backward + _this_thread.hooks.backward
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
        check_unchanged(node)
        for hook in backward_hooks:
            hook(node, g)
        input_grads = node.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if not retain_graph:
            node.saved, node.freed = (), True
        for parent, gin, (shape, dtype) in zip(node.parents, input_grads, node.input_meta):
            if parent is None or gin is None:
                continue
            gin = fit_gradient(gin, shape, dtype, node.name)
            if isinstance(parent, Function):
                previous = grads.get(id(parent))
                grads[id(parent)] = gin if previous is None else previous + gin
                continue
            previous = leaves.get(id(parent))
            leaves[id(parent)] = (parent, gin if previous is None else previous[1] + gin)
    for leaf, g in leaves.values():
        # copied: an op may hand one array to several inputs (Add), and the caller's grad
        # may arrive untouched, so a .grad must never share memory with anything else;
        # in its own memory order (a batch-last gradient stays batch-last: reordering a
        # batch of images costs a TLB miss per value, 8 ms for LeNet-5's conv1 at 256)
        total = g.copy(order="K") if leaf.grad is None else leaf.grad.data + g
        leaf.grad = leaf.wrap(total)
