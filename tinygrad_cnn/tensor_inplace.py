"""Changing a tensor in place, with PyTorch's names and rules: ``add_``, ``sub_``, ``mul_``,
``div_``, ``copy_``, ``fill_``, ``zero_`` and the operators ``+=``, ``-=``, ``*=``, ``/=``.

So PyTorch's manual update changes the model itself (the parameter objects that the model
and its optimizer hold), where ``p = p - lr * p.grad`` would only rebind a name::

    with no_grad():
        for p in model.parameters():
            p -= lr * p.grad

The rules, each checked before anything is written:

- **The tensor keeps its shape, dtype and device.** The other operand is broadcast to the
  tensor's shape (an error if the result would be larger) and must be on its device (host
  data is moved there). The result is cast to the tensor's dtype within its kind, as
  PyTorch: a float32 tensor takes an integer or a float64 operand, an integer tensor
  refuses a float one (``i += 0.5``) and a division (``i /= 2``), a bool tensor refuses
  numbers. ``copy_`` casts anything and copies from any device; ``fill_`` takes a number
  or a 0-d tensor.
- **Autograd.** Under ``no_grad()`` anything may change (the optimizers' way). While
  autograd records, a leaf that requires grad refuses, as in PyTorch (its ``.grad`` would
  belong to values it no longer has). A result of recorded ops (``total += loss``,
  ``out += identity``), or a plain tensor given an operand that requires grad, gets the
  change recorded in its history, as PyTorch does, unless the op that made it reads that
  result in its own backward (``y = x.exp(); y += 1``: PyTorch fails at ``backward()``,
  this fails at once) or it is a view (``x[0] += 1``); both say to write ``y = y + 1``.
  ``copy_``, ``fill_`` and ``zero_`` record nothing, so while recording they refuse a
  tensor or a value that requires grad.
- **Versions.** Every change counts in ``version``, shared with ``detach()`` and views, so
  ``backward()`` refuses a graph that read the tensor before it changed (see
  :mod:`tinygrad_cnn.autograd`).
"""

from __future__ import annotations

import numbers

import numpy as np

from . import autograd, backend, ops
from .checks import is_real
from .tensor_math import KIND_NAMES, TensorMath, kind_rank, lift

_SYMBOLS = {ops.Add: "+", ops.Sub: "-", ops.Mul: "*", ops.Div: "/"}
_UFUNCS = {ops.Add: "add", ops.Sub: "subtract", ops.Mul: "multiply", ops.Div: "true_divide"}
_VIEWS = (ops.Reshape, ops.Transpose, ops.GetItem)  # their result may share the input's memory


class InPlaceMath:
    """The in-place methods of ``Tensor`` (see the module docstring); each returns the
    tensor itself."""

    __slots__ = ()

    def add_(self, other, *, alpha=1):
        """``self += alpha * other``."""
        return _arithmetic(self, "add_", ops.Add, _scaled(self, other, alpha, "add_"))

    def sub_(self, other, *, alpha=1):
        """``self -= alpha * other``."""
        return _arithmetic(self, "sub_", ops.Sub, _scaled(self, other, alpha, "sub_"))

    def mul_(self, other):
        return _arithmetic(self, "mul_", ops.Mul, other)

    def div_(self, other):
        """True division; an integer tensor refuses it (its result is floating point)."""
        return _arithmetic(self, "div_", ops.Div, other)

    def __iadd__(self, other):
        return _arithmetic(self, "add_ (+=)", ops.Add, other)

    def __isub__(self, other):
        return _arithmetic(self, "sub_ (-=)", ops.Sub, other)

    def __imul__(self, other):
        return _arithmetic(self, "mul_ (*=)", ops.Mul, other)

    def __itruediv__(self, other):
        return _arithmetic(self, "div_ (/=)", ops.Div, other)

    def fill_(self, value):
        """Every element set to ``value`` (a number or a 0-d tensor), cast to this dtype."""
        if isinstance(value, TensorMath):
            if value.ndim != 0:
                raise RuntimeError(f"fill_: the value must be a number or a 0-d tensor, got a "
                                   f"tensor of shape {value.shape}")
            _not_recording(self, value, "fill_")
            _writable(self)[...] = backend.move(value.data, self.device)
        else:
            if not is_real(value) and not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"fill_: the value must be a number or a 0-d tensor, got "
                                f"{type(value).__name__}")
            _not_recording(self, None, "fill_")
            _writable(self).fill(value)
        return _changed(self)

    def zero_(self):
        """Every element set to 0."""
        return self.fill_(0)

    def copy_(self, src):
        """The values of ``src`` (a Tensor of any dtype, on any device: cast and moved here),
        broadcast to this tensor's shape."""
        if not isinstance(src, TensorMath):
            raise TypeError(f"copy_: src must be a Tensor, got {type(src).__name__}; wrap it "
                            f"first: t.copy_(Tensor(values))")
        _fits(self, src, "copy_")
        _not_recording(self, src, "copy_")
        _writable(self)[...] = backend.move(src.data, self.device)
        return _changed(self)


# ----------------------------------------------------------------------------- checks

def _scaled(self, other, alpha, name: str):
    """``alpha * other`` with PyTorch's checks of ``alpha``."""
    if isinstance(alpha, (bool, np.bool_)):
        if self.dtype.kind != "b":
            raise RuntimeError(f"{name}: a bool alpha is only for bool tensors, got {alpha!r} "
                               f"for a {self.dtype} tensor")
        return other if alpha else lift(other, self) * False
    if not is_real(alpha):
        raise TypeError(f"{name}: alpha must be a number, got {alpha!r}")
    if not isinstance(alpha, numbers.Integral) and kind_rank(self.dtype) < 2:
        raise RuntimeError(f"{name}: alpha must be an integer for a {self.dtype} tensor "
                           f"(PyTorch's rule), got {alpha!r}")
    return other if alpha == 1 else lift(other, self) * alpha


def _fits(self, other, name: str) -> None:
    """Refuse an operand that does not broadcast to the tensor's own shape."""
    if other.shape == self.shape:
        return
    try:
        shape = np.broadcast_shapes(self.shape, other.shape)
    except ValueError:
        shape = None
    if shape != self.shape:
        raise ValueError(f"{name}: an operand of shape {other.shape} does not broadcast to the "
                         f"tensor's shape {self.shape}; an in-place result keeps that shape")


def _operand(self, other, name: str):
    """``other`` as a Tensor beside ``self``, checked for device, shape and kind."""
    other = lift(other, self)
    if other.device != self.device:
        raise RuntimeError(f"{name}: the operand is on {other.device} but the tensor is on "
                           f"{self.device}; move it with .to({self.device!r})")
    _fits(self, other, name)
    return other


def _check_kind(self, fn, other, name: str) -> None:
    """PyTorch's rule: the result's kind may not be higher than the tensor's."""
    rank = max(kind_rank(other.dtype), 2 if fn is ops.Div else 0)
    if rank > kind_rank(self.dtype):
        raise RuntimeError(f"{name}: the result is {KIND_NAMES[rank]} but the tensor is "
                           f"{self.dtype}, and an in-place op keeps its dtype; write "
                           f"x = x {_SYMBOLS[fn]} y for a new tensor")
    if fn is ops.Sub and self.dtype.kind == "b":
        raise RuntimeError(f"{name}: subtraction of bool tensors is not supported (as in "
                           f"PyTorch); use ^ or logical_xor")


def _leaf_refuses(self, name: str) -> None:
    if self.requires_grad and self.grad_fn is None:
        raise RuntimeError(f"{name}: a leaf tensor that requires grad (a parameter) cannot "
                           f"change in place while autograd records; do it inside "
                           f"`with no_grad():`, as an optimizer's update does")


def _not_recording(self, other, name: str) -> None:
    """``copy_`` and ``fill_`` record nothing: refuse what would need a record."""
    if not autograd.is_grad_enabled():
        return
    _leaf_refuses(self, name)
    if self.requires_grad or (other is not None and other.requires_grad):
        raise RuntimeError(f"{name} is not recorded by autograd: while it records, neither "
                           f"the tensor nor the value may require grad; use `with no_grad():`"
                           f" or build a new tensor")


# ----------------------------------------------------------------------------- changing

def _writable(self):
    """``self.data``, as an array that can be written (a NumPy scalar, which some
    reductions return, becomes a 0-d array: it shares memory with nothing)."""
    if isinstance(self.data, np.generic):
        self.data = np.array(self.data)
    return self.data


def _changed(self):
    self.version_counter.value += 1
    return self


def _arithmetic(self, name: str, fn, other):
    other = _operand(self, other, name)
    _check_kind(self, fn, other, name)
    if autograd.is_grad_enabled() and (self.requires_grad or other.requires_grad):
        _record(self, name, fn, other)
        return _changed(self)
    target, operand = _writable(self), other.data
    if operand is not target and autograd.memory_root(operand) is autograd.memory_root(target):
        operand = operand.copy()  # x += x.T: CuPy, unlike NumPy, would read what it wrote
    ufunc = getattr(backend.xp_of(target), _UFUNCS[fn])
    if operand.dtype == target.dtype:
        ufunc(target, operand, out=target)
    else:  # computed in the wider dtype, then cast into place as PyTorch does
        target[...] = ufunc(target, operand)
    return _changed(self)


def _record(self, name: str, fn, other) -> None:
    """Compute ``self <fn> other`` as a recorded op, write it into ``self``'s memory and give
    ``self`` that op's history (PyTorch's in-place op on a non-leaf)."""
    _leaf_refuses(self, name)
    made_by = self.grad_fn
    if made_by is not None and isinstance(made_by, _VIEWS):
        raise RuntimeError(f"{name}: this tensor is a view ({made_by.name}) of a tensor that "
                           f"requires grad, and changing it in place is not recorded here; "
                           f"write x = x {_SYMBOLS[fn]} y for a new tensor")
    if made_by is not None and made_by.output_version is not None:
        raise RuntimeError(f"{name}: {made_by.name}'s backward needs the result it computed, "
                           f"which this would change; write y = y {_SYMBOLS[fn]} x for a new "
                           f"tensor")
    target = _writable(self)
    # Mul and Div keep their inputs for backward: the values before the change, then
    before = target.copy() if fn in (ops.Mul, ops.Div) else target
    result = fn.apply(self.wrap(before, made_by), other)
    target[...] = result.data
    self.grad_fn, self.requires_grad = result.grad_fn, True
