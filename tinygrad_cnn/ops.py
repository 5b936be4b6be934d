"""The differentiable primitives of the Tensor API, one ``Function`` each.

Every ``forward`` works on raw NumPy/CuPy arrays and is written directly above its
``backward``. Gradients of broadcast inputs are summed back by the engine
(:func:`tinygrad_cnn.autograd.fit_gradient`), so binary ops return full-shape gradients.
Operations composed of these (``mean``, ``min``, ``flatten``) are plain Tensor methods;
the fused ops of the layers (convolution, pooling, linear, softmax and the losses) live in
:mod:`tinygrad_cnn.nn`, each beside the reason it is fused.

A primitive is named after its math (``Add``, ``Exp``, ``MatMul``); one whose name a layer
also has ends in ``Op`` (``ReLUOp`` is applied by ``nn.ReLU``), as the fused ops do, so the
two are never confused. Messages and drawings drop the suffix: both show ``ReLU``.
"""

from __future__ import annotations

import math

from . import backend
from . import workspace as ws
from .autograd import Function
from .backend import xp_of
from .checks import axis_tuple, check_index

# ----------------------------------------------------------------------------- elementwise

class Add(Function):
    """z = x + y;  dz/dx = 1, dz/dy = 1."""

    def forward(ctx, x, y):
        return x + y

    def backward(ctx, g):
        return g, g


class Sub(Function):
    """z = x - y;  dz/dx = 1, dz/dy = -1."""

    def forward(ctx, x, y):
        return x - y

    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """z = x * y;  dz/dx = y, dz/dy = x."""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    def backward(ctx, g):
        x, y = ctx.saved
        gx = g * y if ctx.needs_input_grad[0] else None
        gy = g * x if ctx.needs_input_grad[1] else None
        return gx, gy


class Div(Function):
    """z = x / y;  dz/dx = 1/y, dz/dy = -x/y^2."""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x / y

    def backward(ctx, g):
        x, y = ctx.saved
        gx = g / y if ctx.needs_input_grad[0] else None
        gy = -g * x / (y * y) if ctx.needs_input_grad[1] else None
        return gx, gy


class Pow(Function):
    """z = x ** y;  dz/dx = y x^(y-1), dz/dy = z log x (only where x > 0)."""

    def forward(ctx, x, y):
        out = x**y
        ctx.save_for_backward(x, y, out)
        return out

    def backward(ctx, g):
        x, y, out = ctx.saved
        gx = g * y * x ** (y - 1) if ctx.needs_input_grad[0] else None
        gy = None
        if ctx.needs_input_grad[1]:
            xp = xp_of(x)
            safe = xp.where(x > 0, x, 1)
            gy = g * out * xp.log(safe)
        return gx, gy


class Neg(Function):
    """z = -x."""

    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g


class Exp(Function):
    """z = e^x;  dz/dx = z."""

    def forward(ctx, x):
        out = xp_of(x).exp(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * out


class Log(Function):
    """z = ln x;  dz/dx = 1/x."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).log(x)

    def backward(ctx, g):
        (x,) = ctx.saved
        return g / x


class Sqrt(Function):
    """z = sqrt(x);  dz/dx = 1 / (2 z)."""

    def forward(ctx, x):
        out = xp_of(x).sqrt(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g / (2 * out)


class ReLUOp(Function):
    """z = max(x, 0);  dz/dx = 1 where x > 0, else 0 (so relu'(0) = 0, as PyTorch).

    It runs on every activation of a network, so its arrays are recycled buffers (fresh
    ones of that size cost page faults that take longer than the arithmetic) laid out in
    memory as its input is (a batch-last convolution output stays batch-last). Backward
    keeps the mask ``x > 0`` (one byte a value) rather than the output: the output's
    memory is free again once the next layer has read it, and backward reads a quarter of
    the bytes (LeNet-5's training step at batch 64: 2-3% faster, in one process
    alternating both).
    """

    def forward(ctx, x):
        xp = xp_of(x)
        out = xp.maximum(x, ws.zero_operand(xp, x), out=ws.empty_like(xp, x))
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(xp.greater(x, 0, out=ws.empty_like(xp, x, dtype=bool)))
        return out

    def backward(ctx, g):
        (positive,) = ctx.saved
        xp = xp_of(g)
        return xp.multiply(g, positive, out=ws.empty_like(xp, positive, dtype=g.dtype))


class SigmoidOp(Function):
    """z = 1 / (1 + e^-x), computed without overflow;  dz/dx = z (1 - z)."""

    def forward(ctx, x):
        xp = xp_of(x)
        # tanh form is stable for large |x| and costs one transcendental
        out = 0.5 * (xp.tanh(0.5 * x) + 1)
        out = out.astype(x.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * out * (1 - out)


class TanhOp(Function):
    """z = tanh x;  dz/dx = 1 - z^2."""

    def forward(ctx, x):
        out = xp_of(x).tanh(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * (1 - out * out)


class Abs(Function):
    """z = |x|;  dz/dx = sign(x) (0 at x = 0, as PyTorch)."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).abs(x)

    def backward(ctx, g):
        (x,) = ctx.saved
        return g * xp_of(x).sign(x)


# ----------------------------------------------------------------------------- reductions

class Sum(Function):
    """z = sum of x over ``axis``;  dz/dx = 1 broadcast back over the reduced axes."""

    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = axis_tuple(axis, x.ndim, "sum")
        ctx.keepdims = keepdims
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    def backward(ctx, g):
        shape = ctx.input_meta[0][0]
        if not ctx.keepdims:
            g = g.reshape([1 if i in ctx.axes else n for i, n in enumerate(shape)])
        return xp_of(g).broadcast_to(g, shape)


class Max(Function):
    """z = max of x over ``axis``; the gradient goes to the first maximum in row-major
    order of each reduced group (as PyTorch's ``max(dim)``), so it is never split."""

    def forward(ctx, x, axis=None, keepdims=False):
        xp = xp_of(x)
        axes = axis_tuple(axis, x.ndim, "max")
        if x.size == 0:
            raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
        kept = tuple(i for i in range(x.ndim) if i not in axes)
        # move reduced axes last and flatten them: one argmax finds the first maximum
        moved = x.transpose(kept + axes).reshape([x.shape[i] for i in kept] + [-1])
        idx = moved.argmax(axis=-1)
        out = xp.take_along_axis(moved, idx[..., None], axis=-1)[..., 0]
        ctx.axes, ctx.kept, ctx.keepdims = axes, kept, keepdims
        ctx.save_for_backward(idx)
        if keepdims:
            out = out.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
        return out

    def backward(ctx, g):
        (idx,) = ctx.saved
        xp = xp_of(g)
        shape = ctx.input_meta[0][0]
        kept_shape = [shape[i] for i in ctx.kept]
        red_shape = [shape[i] for i in ctx.axes]
        n_red = math.prod(red_shape)
        rows = idx.size
        gm = xp.zeros((rows, n_red), dtype=g.dtype)
        gm[xp.arange(rows), idx.reshape(-1)] = g.reshape(-1)
        gm = gm.reshape(kept_shape + red_shape)
        inverse = [0] * len(shape)
        for pos, ax in enumerate(ctx.kept + ctx.axes):
            inverse[ax] = pos
        return gm.transpose(inverse)


# ----------------------------------------------------------------------------- movement

class Reshape(Function):
    """z = x viewed with another shape; the gradient is reshaped back."""

    def forward(ctx, x, shape):
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into {tuple(shape)}"
            ) from None

    def backward(ctx, g):
        return g.reshape(ctx.input_meta[0][0])


class Transpose(Function):
    """z = x with axes permuted; the gradient gets the inverse permutation."""

    def forward(ctx, x, axes):
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"transpose: axes {tuple(axes)} are not a permutation of the {x.ndim} axes of "
                f"a tensor of shape {x.shape}"
            )
        ctx.axes = tuple(a % x.ndim for a in axes)
        return x.transpose(ctx.axes)

    def backward(ctx, g):
        inverse = [0] * len(ctx.axes)
        for pos, ax in enumerate(ctx.axes):
            inverse[ax] = pos
        return g.transpose(inverse)


def _basic(index):
    """A basic index (ints, slices, None, ...) as a tuple with ``...``, so that even one
    element is a view (0-d) of the array, as in PyTorch; None for an index with arrays."""
    items = index if isinstance(index, tuple) else (index,)
    if any(not (isinstance(i, (int, slice)) or i is None or i is Ellipsis) for i in items):
        return None
    return items if any(i is Ellipsis for i in items) else items + (Ellipsis,)


class GetItem(Function):
    """z = x[index] (basic slicing, a view of x, and integer-array indexing).

    The gradient is scattered back; repeated integer indices add up, through the device's
    ``scatter_add`` on flat positions (``bincount`` on the CPU, not NumPy's slow ``add.at``).
    """

    def forward(ctx, x, index):
        check_index(x.shape, index)
        try:
            out = x[_basic(index) or index]
        except IndexError as exc:
            raise IndexError(f"getitem: {exc} (tensor shape {x.shape})") from None
        ctx.index = index
        return out

    def backward(ctx, g):
        xp = xp_of(g)
        shape, dtype = ctx.input_meta[0]
        if _basic(ctx.index) is not None:
            grad = xp.zeros(shape, dtype=g.dtype)
            grad[ctx.index] = g
            return grad
        size = math.prod(shape)
        if g.size == 0:  # an empty selection
            return xp.zeros(shape, dtype=g.dtype)
        positions = xp.arange(size).reshape(shape)[ctx.index]
        flat = backend.get(backend.device_of(g)).scatter_add(positions.ravel(), g.ravel(), size)
        return flat.astype(g.dtype, copy=False).reshape(shape)


class Pad(Function):
    """z = x padded with a constant, ``pad_width`` as in ``numpy.pad``; the gradient is
    the inner slice."""

    def forward(ctx, x, pad_width, value=0.0):
        ctx.pad_width = pad_width
        return xp_of(x).pad(x, pad_width, mode="constant", constant_values=value)

    def backward(ctx, g):
        index = tuple(slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(ctx.pad_width))
        return g[index]


# ----------------------------------------------------------------------------- matmul

class MatMul(Function):
    """z = x @ y (NumPy semantics, batched and broadcast);  dz/dx = g y^T, dz/dy = x^T g."""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x @ y

    def backward(ctx, g):
        x, y = ctx.saved
        xp = xp_of(g)
        # promote vectors to matrices so one rule covers every case
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g2 = g
        if y.ndim == 1:
            g2 = g2[..., None]
        if x.ndim == 1:
            g2 = g2[..., None, :]
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = g2 @ xp.swapaxes(y2, -1, -2)
            if x.ndim == 1:
                gx = gx.reshape(gx.shape[:-2] + gx.shape[-1:])
        if ctx.needs_input_grad[1]:
            gy = xp.swapaxes(x2, -1, -2) @ g2
            if y.ndim == 1:
                gy = gy.reshape(gy.shape[:-1])
        return gx, gy


# ----------------------------------------------------------------------------- device and dtype

class ToDevice(Function):
    """z = x copied to another device; the gradient is copied back."""

    def forward(ctx, x, device):
        ctx.source = backend.device_of(x)
        return backend.move(x, device)

    def backward(ctx, g):
        return backend.move(g, ctx.source)


class Cast(Function):
    """z = x converted to ``dtype``; the gradient is converted back."""

    def forward(ctx, x, dtype):
        return x.astype(dtype)

    def backward(ctx, g):
        return g.astype(ctx.input_meta[0][1])
