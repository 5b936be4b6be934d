"""The fully connected layer and dropout, one ``Function`` each."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function


def _xp(array):
    return backend.array_module(backend.device_of(array))


class Linear(Function):
    """z = x @ w.T + b for weight (out, in) and x (..., in);
    dL/dx = g @ w, dL/dw = g.T @ x, dL/db = sum of g over the rows.

    One node instead of ``MatMul``, ``Transpose`` and ``Add``: a third of the graph, no
    transposed copy of ``w`` and no broadcast bias gradient to sum back.
    """

    def forward(ctx, x, w, b=None):
        x2 = x.reshape(-1, x.shape[-1])
        out = x2 @ w.T
        if b is not None:
            out += b
        ctx.save_for_backward(x2, w)
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(ctx, g):
        x2, w = ctx.saved
        g2 = g.reshape(-1, w.shape[0])
        need = ctx.needs_input_grad
        gx = (g2 @ w).reshape(ctx.input_meta[0][0]) if need[0] else None
        gw = g2.T @ x2 if need[1] else None
        if len(need) == 2:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if need[2] else None)


def _uniform(rng, shape, dtype):
    """Uniform [0, 1) draws from the host generator (NumPy) or a CuPy generator."""
    dtype = dtype if dtype in (np.float32, np.float64) else np.float32
    if isinstance(rng, np.random.Generator):
        return rng.random(shape, dtype=dtype)
    return rng.random_sample(shape, dtype=dtype)


class Dropout(Function):
    """z = x * m / (1 - p) with m ~ Bernoulli(1 - p) drawn on x's device;
    dL/dx = g * m / (1 - p). (p == 1 gives zeros and a zero gradient.)"""

    def forward(ctx, x, p=0.5):
        rng = backend.device_rng(backend.device_of(x))
        keep = _uniform(rng, x.shape, x.dtype) >= p
        scale = x.dtype.type(0.0 if p >= 1 else 1.0 / (1.0 - p))
        mask = keep.astype(x.dtype)
        mask *= scale
        ctx.save_for_backward(mask)
        return x * mask

    def backward(ctx, g):
        (mask,) = ctx.saved
        return g * mask
