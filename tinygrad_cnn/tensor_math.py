"""What can be computed with a Tensor, and how the Python values it meets become operands.

:class:`TensorMath` holds ``Tensor``'s operators and math methods (``+``, ``@``, ``<``,
``exp``, ``sum``, ``reshape``, indexing), each one line that applies a primitive of
:mod:`tinygrad_cnn.ops`; ``Tensor`` (:mod:`tinygrad_cnn.tensor`) inherits them, as current
tinygrad's ``Tensor`` inherits its math from a mixin. Before a primitive runs, its operands
are prepared here, by the library's rules:

- where data goes and what dtype it gets (:func:`place`, :func:`as_array`, :func:`onto`;
  ``Tensor(data)`` follows the same rules);
- a Python number becomes a constant of the tensor's dtype on its device, so ``x * 2``
  stays float32 (as in PyTorch) and nothing is uploaded;
- operands of different kinds (bool, integer, floating point) meet at the dtype of the
  higher kind, as in PyTorch, and a Python float with an integer tensor gives the default
  float dtype, float32 (NumPy would make ``int64 * 0.5`` float64); true division of
  integers gives float32 too;
- shapes are checked first, so an error names the operator (``add (+): shapes (2, 3) and
  (4,) cannot be broadcast together``).

A ``TensorMath`` needs of the class using it what the tape needs (``data``, ``device``,
``shape``, ``ndim``, ``dtype``, ``wrap(array)``). Every Tensor is a ``TensorMath``: that is
how the functions below tell a Tensor from other data.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from . import backend, ops
from .autograd import memory_root
from .checks import axis_tuple, is_int, shape_tuple


class TensorMath:
    """The operators and math methods of ``Tensor`` (see the module docstring)."""

    __slots__ = ()
    __array_ufunc__ = None  # ndarray + Tensor -> Tensor.__radd__

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
        """Mean over ``axis``; NaN over no values (an empty tensor), as PyTorch, silently."""
        axes = axis_tuple(axis, self.ndim, "mean")
        count = math.prod(self.shape[a] for a in axes)
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count if count else math.nan)

    def max(self, axis=None, keepdims=False):
        """Largest value over ``axis``; its gradient goes to the first maximum."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return -((-self).max(axis=axis, keepdims=keepdims))

    def argmax(self, axis=None):
        """Index of the first maximum (not differentiable), over all values or one axis."""
        if axis is not None:
            if not is_int(axis):
                raise TypeError(f"argmax: axis must be an int or None, got {axis!r}")
            (axis,) = axis_tuple(axis, self.ndim, "argmax")
        return self.wrap(self.data.argmax(axis=axis))

    # ------------------------------------------------------------------ movement
    def reshape(self, *shape):
        return _viewing(ops.Reshape.apply(self, shape=shape_tuple(shape)), self)

    def view(self, *shape):
        return self.reshape(*shape)

    def transpose(self, *axes):
        """Permute axes (NumPy semantics): a full permutation, or none to reverse them."""
        axes = shape_tuple(axes) if axes else tuple(reversed(range(self.ndim)))
        return _viewing(ops.Transpose.apply(self, axes=axes), self)

    @property
    def T(self):
        return self.transpose()

    def flatten(self, start_axis: int = 0):
        start = start_axis % max(self.ndim, 1)
        # the size spelled out, not -1: reshape(0, -1) of an empty batch is ambiguous
        return self.reshape(*self.shape[:start], math.prod(self.shape[start:]))

    def __getitem__(self, index):
        return _viewing(ops.GetItem.apply(self, index=_index_arrays(index, self)), self)

    def pad(self, pad_width, value=0.0):
        """Constant padding; ``pad_width`` as in ``numpy.pad`` (int, pair, or one pair per axis)."""
        widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (self.ndim, 2))
        return ops.Pad.apply(self, pad_width=tuple(map(tuple, widths.tolist())), value=value)


# ----------------------------------------------------------------------------- operands

def place(data, device=None) -> str:
    """Where the array for ``data`` lives: the library's one rule.

    An explicit ``device`` wins; Tensors and arrays on an accelerator (CuPy) stay where they
    are; Python data and NumPy arrays go to the default device (``TINYGRAD_CNN_DEVICE``), so
    that one environment variable moves a whole script to the GPU.
    """
    if device is not None:
        return backend.parse_device(device)
    if isinstance(data, TensorMath):
        return data.device
    if backend.on_accelerator(data):
        return backend.device_of(data)
    return backend.default_device()


def as_array(data, dtype=None, device=None):
    """``data`` as a backend array on :func:`place`'s device, with the library's dtype rule:
    floats become float32 unless ``dtype`` says otherwise; integers and booleans keep their
    kind (labels stay int64)."""
    target = place(data, device)
    if isinstance(data, TensorMath):
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
    source = data.device if isinstance(data, TensorMath) else backend.device_of(data)
    if source != like.device and (isinstance(data, TensorMath) or source != backend.HOST):
        raise RuntimeError(f"{what} is on {source} but the tensor is on {like.device}; move "
                           f"it with .to({like.device!r})")
    return backend.move(data.data if isinstance(data, TensorMath) else data, like.device)


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


def _viewing(result, source):
    """``result``, sharing ``source``'s version when its array is a view of ``source``'s
    memory: a change through either is a change of both (PyTorch's views share it too)."""
    if memory_root(result.data) is memory_root(source.data):
        result.version_counter = source.version_counter
    return result


# the kinds of dtypes, in PyTorch's order of promotion
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}
KIND_NAMES = ("bool", "integer", "floating-point")


def kind_rank(dtype) -> int:
    """0 for bool, 1 for integers, 2 for floating point: an operand of a higher kind decides
    the result's dtype."""
    return _KIND_RANK[np.dtype(dtype).kind]


def _number_rank(value) -> int:
    return 0 if isinstance(value, (bool, np.bool_)) else \
        1 if isinstance(value, numbers.Integral) else 2


def lift(value, like):
    """A Python number or array as a constant Tensor next to ``like``; Tensors as they are.

    Python numbers take the tensor's dtype when their kind is not higher, as in PyTorch
    (``x * 2`` stays float32); else the default dtype of their kind (int64, float32).
    """
    if isinstance(value, TensorMath):
        return value
    if isinstance(value, numbers.Number):
        if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
            raise TypeError(f"complex numbers are not supported, got {value!r}")
        xp = backend.array_module(like.device)
        rank = _number_rank(value)
        dtype = like.dtype if rank <= kind_rank(like.dtype) else \
            (np.int64, np.float32)[rank - 1]
        return like.wrap(xp.full((), value, dtype=dtype))  # filled there: no upload
    return like.wrap(as_array(value, None, like.device))  # as Tensor(value, device=...)


def _promoted(fn, a, b):
    """``a`` and ``b`` cast to the dtype PyTorch computes ``fn`` in, where NumPy's would
    differ: the dtype of the operand of the higher kind (an integer tensor times a float32
    one is float32, not float64), and floating point for a division."""
    ra, rb = kind_rank(a.dtype), kind_rank(b.dtype)
    target = a.dtype if ra > rb else b.dtype if rb > ra else None
    if fn is ops.Div and max(ra, rb) < 2:
        target = np.dtype(np.float32)
    if target is None:
        return a, b  # one kind: NumPy's promotion is PyTorch's (int32 + int64 is int64)
    return tuple(t if t.dtype == target else ops.Cast.apply(t, dtype=target) for t in (a, b))


_OP_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**"}


def _binary(fn, a, b):
    like = a if isinstance(a, TensorMath) else b
    a, b = lift(a, like), lift(b, like)
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(
                f"{fn.__name__.lower()} ({_OP_SYMBOLS[fn.__name__]}): shapes {a.shape} and "
                f"{b.shape} cannot be broadcast together"
            ) from None
    if a.dtype != b.dtype or fn is ops.Div:
        a, b = _promoted(fn, a, b)
    return fn.apply(a, b)


def matmul(a, b):
    like = a if isinstance(a, TensorMath) else b
    a, b = lift(a, like), lift(b, like)
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
    like = a if isinstance(a, TensorMath) else b
    a, b = lift(a, like), lift(b, like)
    if a.device != b.device:
        raise RuntimeError(f"comparison {symbol}: tensors on {a.device} and {b.device}")
    try:
        out = _COMPARISONS[symbol](a.data, b.data)
    except ValueError:
        raise ValueError(
            f"comparison {symbol}: shapes {a.shape} and {b.shape} cannot be broadcast together"
        ) from None
    return like.wrap(out)
