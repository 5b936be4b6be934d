"""``Tensor``: an array on a device, its gradient, and the node that produced it."""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from . import autograd, backend, display, ops
from .checks import axis_tuple


def place(data, device=None) -> str:
    """Where the array for ``data`` lives: the library's one rule.

    An explicit ``device`` wins; Tensors and arrays on an accelerator (CuPy) stay where they
    are; Python data and NumPy arrays go to the default device (``TINYGRAD_CNN_DEVICE``), so
    that one environment variable moves a whole script to the GPU.
    """
    if device is not None:
        return backend.parse_device(device)
    if isinstance(data, Tensor):
        return data.device
    if backend.on_accelerator(data):
        return backend.device_of(data)
    return backend.default_device()


def as_array(data, dtype=None, device=None):
    """``data`` as a backend array on :func:`place`'s device, with the library's dtype rule:
    floats become float32 unless ``dtype`` says otherwise; integers and booleans keep their
    kind (labels stay int64)."""
    target = place(data, device)
    if isinstance(data, Tensor):
        data = data.data
    array = backend.move(data, target)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if array.dtype != dtype:
            array = array.astype(dtype)
    elif array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    elif array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: unsupported data type {array.dtype} (from {type(data)})")
    return array


def onto(data, like, what: str):
    """``data`` as an array on ``like``'s device, for arguments tied to a tensor (a gradient,
    an index): host data (Python, NumPy) is moved there; Tensors and GPU arrays must already
    be there, since moving them would hide a mistake."""
    source = data.device if isinstance(data, Tensor) else backend.device_of(data)
    if source != like.device and (isinstance(data, Tensor) or source != backend.HOST):
        raise RuntimeError(f"{what} is on {source} but the tensor is on {like.device}; move "
                           f"it with .to({like.device!r})")
    return backend.move(data.data if isinstance(data, Tensor) else data, like.device)


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : list, scalar, NumPy or CuPy array, Tensor
        Float data becomes float32 unless ``dtype`` is given.
    requires_grad : bool
        Record operations on this tensor so ``backward()`` can reach it.
    dtype : numpy dtype, optional
    device : ``"cpu"`` or ``"cuda"``, optional
        Default: CuPy arrays and Tensors stay where they are; Python data and NumPy arrays
        go to the default device (``TINYGRAD_CNN_DEVICE``).

    Notes
    -----
    ``data`` is the raw array. Writing into it (``t.data[...] = 0``) bypasses autograd, as
    PyTorch's ``.data`` does: a graph built earlier computes its gradients from the new
    values. The library's own in-place updates (``optimizer.step()``, initialisers,
    ``load_state_dict``) count in ``version``, and ``backward()`` refuses a graph whose
    inputs changed that way since forward.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "device", "version", "__weakref__")
    __array_ufunc__ = None  # ndarray + Tensor -> Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        self.data = as_array(data, dtype, device)
        self.device = backend.device_of(self.data)
        self.grad = None
        self.grad_fn = None
        self.version = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def wrap(array, grad_fn=None) -> Tensor:
        """A Tensor around an array that is already on its device and dtype (no copy, no
        conversion): how op results and gradients become Tensors.

        Always a plain Tensor, even when called on a subclass such as ``nn.Parameter``:
        ``w.T`` or ``w * 2`` is a result, not a parameter.
        """
        t = Tensor.__new__(Tensor)
        t.data = array
        t.device = backend.device_of(array)
        t.grad = None
        t.grad_fn = grad_fn
        t.version = 0
        t.requires_grad = grad_fn is not None
        return t

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ------------------------------------------------------------------ grad bookkeeping
    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad; this one is {self.dtype}"
            )
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(flag)
        return self

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory, as PyTorch's)."""
        return Tensor.wrap(self.data)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf requiring grad.

        ``grad`` (needed unless the tensor has one element) is the gradient flowing in: a
        Tensor on this tensor's device, or host data (moved there).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (no input had "
                "requires_grad=True, or it was computed under no_grad)"
            )
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() needs a gradient argument for a non-scalar tensor of shape "
                    f"{self.shape}; pass grad= of that shape or reduce it (e.g. .sum()) first"
                )
            g = backend.array_module(self.device).ones(self.shape, dtype=self.dtype)
        else:
            g = onto(grad, self, "backward(): grad")
            if g.shape != self.shape:
                raise RuntimeError(
                    f"backward(): grad has shape {g.shape} but the tensor has shape {self.shape}"
                )
            g = g.astype(self.dtype, copy=False)
        if self.grad_fn is None:  # a leaf: its gradient is grad itself (copied, never aliased)
            self.grad = Tensor.wrap(g.copy() if self.grad is None else self.grad.data + g)
            return
        autograd.run_backward(self, g, retain_graph=retain_graph)

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a host NumPy array (a copy from the GPU, a view on the CPU)."""
        return backend.to_host(self.data)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item(): tensor has {self.size} elements, expected 1")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device) -> Tensor:
        """This tensor on ``device``; differentiable, like PyTorch's ``to``."""
        device = backend.parse_device(device)
        if device == self.device:
            return self
        return ops.ToDevice.apply(self, device=device)

    def cpu(self) -> Tensor:
        return self.to(backend.HOST)

    def cuda(self) -> Tensor:
        return self.to(backend.ACCELERATOR)

    def astype(self, dtype) -> Tensor:
        return ops.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        return display.tensor_text(self)

    def _repr_html_(self) -> str:  # Jupyter
        return display.tensor_html(self)

    def __bool__(self):
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.size} elements is ambiguous"
            )
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    # ------------------------------------------------------------------ factories
    @staticmethod
    def zeros(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).zeros(_shape(shape), dtype=dtype),
                      requires_grad=requires_grad, dtype=dtype, device=device)

    @staticmethod
    def ones(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).ones(_shape(shape), dtype=dtype),
                      requires_grad=requires_grad, dtype=dtype, device=device)

    @staticmethod
    def full(shape, value, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).full(_shape((shape,)), value, dtype=dtype),
                      requires_grad=requires_grad, dtype=dtype, device=device)

    @staticmethod
    def randn(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        """Standard normal draws from the library generator (seed with ``manual_seed``)."""
        values = backend.host_rng().standard_normal(_shape(shape)).astype(dtype)
        return Tensor(values, requires_grad=requires_grad, device=device, dtype=dtype)

    @staticmethod
    def uniform(low, high, shape, requires_grad=False, device=None, dtype=np.float32):
        """Uniform draws in [low, high) from the library generator."""
        values = backend.host_rng().uniform(low, high, _shape((shape,))).astype(dtype)
        return Tensor(values, requires_grad=requires_grad, device=device, dtype=dtype)

    @staticmethod
    def arange(*args, device=None, dtype=None) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).arange(*args, dtype=dtype), dtype=dtype,
                      device=device)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _binary(ops.Add, self, other)

    def __radd__(self, other):
        return _binary(ops.Add, other, self)

    def __sub__(self, other):
        return _binary(ops.Sub, self, other)

    def __rsub__(self, other):
        return _binary(ops.Sub, other, self)

    def __mul__(self, other):
        return _binary(ops.Mul, self, other)

    def __rmul__(self, other):
        return _binary(ops.Mul, other, self)

    def __truediv__(self, other):
        return _binary(ops.Div, self, other)

    def __rtruediv__(self, other):
        return _binary(ops.Div, other, self)

    def __pow__(self, other):
        return _binary(ops.Pow, self, other)

    def __rpow__(self, other):
        return _binary(ops.Pow, other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    # comparisons: not differentiable, return bool tensors
    def __lt__(self, other):
        return _compare("<", self, other)

    def __le__(self, other):
        return _compare("<=", self, other)

    def __gt__(self, other):
        return _compare(">", self, other)

    def __ge__(self, other):
        return _compare(">=", self, other)

    def __eq__(self, other):
        return _compare("==", self, other)

    def __ne__(self, other):
        return _compare("!=", self, other)

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ unary math
    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)

    def relu(self):
        return ops.ReLUOp.apply(self)

    def sigmoid(self):
        return ops.SigmoidOp.apply(self)

    def tanh(self):
        return ops.TanhOp.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        axes = axis_tuple(axis, self.ndim, "mean")
        count = 1
        for a in axes:
            count *= self.shape[a]
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / max(count, 1))

    def max(self, axis=None, keepdims=False):
        """Largest value over ``axis``; its gradient goes to the first maximum."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return -((-self).max(axis=axis, keepdims=keepdims))

    def argmax(self, axis=None):
        """Index of the first maximum (not differentiable)."""
        return Tensor.wrap(self.data.argmax(axis=axis))

    # ------------------------------------------------------------------ movement
    def reshape(self, *shape):
        return ops.Reshape.apply(self, shape=_shape(shape))

    def view(self, *shape):
        return self.reshape(*shape)

    def transpose(self, *axes):
        """Permute axes (NumPy semantics): a full permutation, or none to reverse them."""
        axes = _shape(axes) if axes else tuple(reversed(range(self.ndim)))
        return ops.Transpose.apply(self, axes=axes)

    @property
    def T(self):
        return self.transpose()

    def flatten(self, start_axis: int = 0):
        start = start_axis % max(self.ndim, 1)
        # the size spelled out, not -1: reshape(0, -1) of an empty batch is ambiguous
        return self.reshape(*self.shape[:start], math.prod(self.shape[start:]))

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=_index_arrays(index, self))

    def pad(self, pad_width, value=0.0):
        """Constant padding; ``pad_width`` as in ``numpy.pad`` (int, pair, or one pair per axis)."""
        widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (self.ndim, 2))
        return ops.Pad.apply(self, pad_width=tuple(map(tuple, widths.tolist())), value=value)


# ----------------------------------------------------------------------------- helpers

def _shape(args) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    try:
        return tuple(int(n) for n in args)
    except TypeError:
        raise TypeError(f"shape must be integers, got {args!r}") from None


def _index_arrays(index, like):
    """An index with its Tensors, arrays and lists as arrays on ``like``'s device."""
    items = index if isinstance(index, tuple) else (index,)
    out = [item if isinstance(item, (numbers.Integral, slice)) or item is None or item is Ellipsis
           else onto(np.asarray(item, dtype=np.intp) if _empty_list(item) else item, like,
                     "index") for item in items]
    return tuple(out) if isinstance(index, tuple) else out[0]


def _empty_list(item) -> bool:
    """``[]`` as an index means "no rows" (NumPy would read it as float64 and refuse it)."""
    return isinstance(item, (list, tuple)) and len(item) == 0


def _lift(value, like: Tensor) -> Tensor:
    """A Python number or array as a constant Tensor next to ``like``.

    Python numbers take the tensor's dtype, as in PyTorch (``x * 2`` stays float32).
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number):
        xp = backend.array_module(like.device)
        dtype = like.dtype if like.dtype.kind == "f" or isinstance(value, numbers.Integral) \
            else np.float32
        return Tensor.wrap(xp.full((), value, dtype=dtype))  # filled there: no upload
    return Tensor(value, device=like.device)


_OP_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**"}


def _binary(fn, a, b):
    like = a if isinstance(a, Tensor) else b
    a, b = _lift(a, like), _lift(b, like)
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(
                f"{fn.__name__.lower()} ({_OP_SYMBOLS[fn.__name__]}): shapes {a.shape} and "
                f"{b.shape} cannot be broadcast together"
            ) from None
    return fn.apply(a, b)


def matmul(a, b) -> Tensor:
    like = a if isinstance(a, Tensor) else b
    a, b = _lift(a, like), _lift(b, like)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul (@): operands must be at least 1-d, got {a.shape} @ {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    batch_ok = True
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        batch_ok = False
    if k_a != k_b or not batch_ok:
        raise ValueError(
            f"matmul (@): shapes {a.shape} and {b.shape} cannot be multiplied "
            f"({k_a} columns vs {k_b} rows)"
        )
    return ops.MatMul.apply(a, b)


_COMPARISONS = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


def _compare(symbol, a, b):
    like = a if isinstance(a, Tensor) else b
    a, b = _lift(a, like), _lift(b, like)
    if a.device != b.device:
        raise RuntimeError(f"comparison {symbol}: tensors on {a.device} and {b.device}")
    try:
        out = _COMPARISONS[symbol](a.data, b.data)
    except ValueError:
        raise ValueError(
            f"comparison {symbol}: shapes {a.shape} and {b.shape} cannot be broadcast together"
        ) from None
    return Tensor.wrap(out)
