"""``Tensor``: an array on a device, its gradient, and the node that produced it."""

from __future__ import annotations

import numbers
import operator

import numpy as np

from . import autograd, backend, ops


def _as_array(data, dtype, device):
    """Convert user data to a backend array with the library's dtype policy.

    Floats become float32 unless ``dtype`` says otherwise; integers and booleans keep
    their kind (labels stay int64).
    """
    if isinstance(data, Tensor):
        data = data.data
    src_device = backend.device_of(data)
    if device is None:
        device = src_device if not isinstance(data, (list, tuple, numbers.Number)) else None
        device = device or backend.DEFAULT_DEVICE
    else:
        device = backend.parse_device(device)
    if src_device == "cuda" or device == "cuda":
        xp = backend.array_module(device)
        array = backend.move(data, device) if src_device != device else data
        array = xp.asarray(array)
    else:
        array = np.asarray(data)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if array.dtype != dtype:
            array = array.astype(dtype)
    elif array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    elif array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: unsupported data type {array.dtype} (from {type(data)})")
    return array


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : list, scalar, NumPy or CuPy array
        Float data becomes float32 unless ``dtype`` is given.
    requires_grad : bool
        Record operations on this tensor so ``backward()`` can reach it.
    dtype : numpy dtype, optional
    device : ``"cpu"`` or ``"cuda"``, optional
        Defaults to the data's own device, or ``TINYGRAD_CNN_DEVICE`` for Python data.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "device", "__weakref__")
    __array_ufunc__ = None  # ndarray + Tensor -> Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        self.data = _as_array(data, dtype, device)
        self.device = backend.device_of(self.data)
        self.grad = None
        self._ctx = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _from_array(array, ctx):
        """Wrap an op's output array (already on the right device and dtype).

        Always a plain Tensor, even when the input was a subclass such as
        ``nn.Parameter``: ``w.T`` or ``w * 2`` is a result, not a parameter.
        """
        t = Tensor.__new__(Tensor)
        t.data = array
        t.device = backend.device_of(array)
        t.grad = None
        t._ctx = ctx
        t.requires_grad = ctx is not None
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
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

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
        if not flag and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(flag)
        return self

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory, as PyTorch's)."""
        return Tensor._from_array(self.data, None)

    def _accumulate_grad(self, g) -> None:
        if self.grad is None:
            self.grad = Tensor._from_array(g, None)  # the walk hands over an owned array
        else:
            self.grad = Tensor._from_array(self.grad.data + g, None)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf requiring grad."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (no input had "
                "requires_grad=True, or it was computed under no_grad)"
            )
        xp = backend.array_module(self.device)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() needs a gradient argument for a non-scalar tensor of shape "
                    f"{self.shape}; pass grad= of that shape or reduce it (e.g. .sum()) first"
                )
            g = xp.ones(self.shape, dtype=self.dtype)
        else:
            g = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if backend.device_of(g) != self.device:
                raise RuntimeError(
                    f"backward(): grad is on {backend.device_of(g)} but the tensor is on "
                    f"{self.device}"
                )
            if g.shape != self.shape:
                raise RuntimeError(
                    f"backward(): grad has shape {g.shape} but the tensor has shape {self.shape}"
                )
        if self._ctx is None:
            self._accumulate_grad(g.astype(self.dtype, copy=True))  # never alias the caller's
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
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def astype(self, dtype) -> Tensor:
        return ops.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        body = np.array2string(
            self.numpy(), separator=", ", prefix="tensor(", precision=4, threshold=100
        )
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

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
        xp = backend.array_module(_device(device))
        return Tensor(xp.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad,
                      dtype=dtype)

    @staticmethod
    def ones(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        xp = backend.array_module(_device(device))
        return Tensor(xp.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad,
                      dtype=dtype)

    @staticmethod
    def full(shape, value, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        xp = backend.array_module(_device(device))
        return Tensor(xp.full(_shape((shape,)), value, dtype=dtype),
                      requires_grad=requires_grad, dtype=dtype)

    @staticmethod
    def randn(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        """Standard normal draws from the library generator (seed with ``manual_seed``)."""
        values = backend.host_rng().standard_normal(_shape(shape)).astype(dtype)
        return Tensor(values, requires_grad=requires_grad, device=_device(device), dtype=dtype)

    @staticmethod
    def uniform(low, high, shape, requires_grad=False, device=None, dtype=np.float32):
        """Uniform draws in [low, high) from the library generator."""
        values = backend.host_rng().uniform(low, high, _shape((shape,))).astype(dtype)
        return Tensor(values, requires_grad=requires_grad, device=_device(device), dtype=dtype)

    @staticmethod
    def arange(*args, device=None, dtype=None) -> Tensor:
        xp = backend.array_module(_device(device))
        return Tensor(xp.arange(*args, dtype=dtype))

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
        return ops.ReLU.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self)

    def tanh(self):
        return ops.Tanh.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        axes = ops._normalize_axis(axis, self.ndim, "mean")
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
        return Tensor._from_array(self.data.argmax(axis=axis), None)

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
        return self.reshape(*self.shape[:start], -1)

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=_index_arrays(index, self.device))

    def pad(self, pad_width, value=0.0):
        """Constant padding; ``pad_width`` as in ``numpy.pad`` (int, pair, or one pair per axis)."""
        widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (self.ndim, 2))
        return ops.Pad.apply(self, pad_width=tuple(map(tuple, widths.tolist())), value=value)


# ----------------------------------------------------------------------------- helpers

def _device(device):
    return backend.DEFAULT_DEVICE if device is None else backend.parse_device(device)


def _shape(args) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    try:
        return tuple(int(n) for n in args)
    except TypeError:
        raise TypeError(f"shape must be integers, got {args!r}") from None


def _index_arrays(index, device):
    """Replace Tensors and lists inside an index by backend arrays."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.data
        elif isinstance(item, list):
            item = backend.array_module(device).asarray(item)
        out.append(item)
    return tuple(out) if isinstance(index, tuple) else out[0]


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
        return Tensor._from_array(xp.asarray(value, dtype=dtype), None)
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
    return Tensor._from_array(out, None)
