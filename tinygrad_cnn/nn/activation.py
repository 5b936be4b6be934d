"""Activations with a fused op of their own (those of the Tensor API live in ``ops.py``)."""

from __future__ import annotations

from ..autograd import Function
from ..backend import xp_of


class LeakyReLUOp(Function):
    """z = x where x > 0, else slope * x;  dz/dx = 1 where x > 0, else slope (so the
    derivative at 0 is ``slope``, as PyTorch's).

    Fused rather than composed as ``relu(x) - slope * relu(-x)`` (:func:`.reference.
    leaky_relu`): one node and one saved boolean mask instead of five nodes and their
    float temporaries, in a layer that runs on every activation.
    """

    def forward(ctx, x, negative_slope=0.01):
        positive = x > 0
        ctx.slope = negative_slope
        ctx.save_for_backward(positive)
        return xp_of(x).where(positive, x, x * x.dtype.type(negative_slope))

    def backward(ctx, g):
        (positive,) = ctx.saved
        return xp_of(g).where(positive, g, g * g.dtype.type(ctx.slope))
