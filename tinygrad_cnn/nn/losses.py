"""Softmax, log-softmax and the losses, each one fused ``Function``.

Fused because composing them from ``exp``, ``sum`` and ``log`` (as :mod:`.reference` does,
to show what they compute) is both unstable (``exp`` of a logit of 1e4 overflows) and slow
(six graph nodes and their temporaries instead of one). Every forward subtracts the row
maximum first; backward reuses the probabilities that forward already computed. Arguments
are validated in :mod:`tinygrad_cnn.nn.functional`. The mean over an empty batch is NaN and
its gradient empty, as in PyTorch.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import xp_of


def _softmax_parts(xp, x, axis):
    """``(shifted, exp(shifted), sum)`` with the maximum along ``axis`` subtracted."""
    shifted = x - x.max(axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return shifted, e, e.sum(axis=axis, keepdims=True)


class SoftmaxOp(Function):
    """p = exp(x - max) / sum(exp(x - max));  dL/dx = p * (g - sum(g * p))."""

    def forward(ctx, x, axis=-1):
        _, e, s = _softmax_parts(xp_of(x), x, axis)
        e /= s
        ctx.axis = axis
        ctx.save_for_backward(e)
        return e

    def backward(ctx, g):
        (p,) = ctx.saved
        return p * (g - (g * p).sum(axis=ctx.axis, keepdims=True))


class LogSoftmaxOp(Function):
    """z = (x - max) - log(sum(exp(x - max)));  dL/dx = g - softmax(x) * sum(g)."""

    def forward(ctx, x, axis=-1):
        xp = xp_of(x)
        shifted, e, s = _softmax_parts(xp, x, axis)
        e /= s  # softmax, kept for backward
        shifted -= xp.log(s)
        ctx.axis = axis
        ctx.save_for_backward(e)
        return shifted

    def backward(ctx, g):
        (p,) = ctx.saved
        return g - p * g.sum(axis=ctx.axis, keepdims=True)


def _reduce(xp, losses, reduction):
    if reduction == "none":
        return losses
    if reduction == "mean" and losses.size == 0:
        return xp.asarray(xp.nan, dtype=losses.dtype)  # no samples: no mean
    total = losses.sum() if reduction == "sum" else losses.mean()
    return xp.asarray(total, dtype=losses.dtype)


def _mean_scale(reduction, n) -> float:
    """What ``reduction`` multiplies each of ``n`` losses by (any value serves for n = 0)."""
    return 1.0 / n if reduction == "mean" and n else 1.0


def _upstream(g, reduction, n):
    """The upstream gradient of each sample's loss, shaped (N, 1) to scale rows."""
    if reduction == "none":
        return g.reshape(-1, 1)
    return g.reshape(1, 1) * _mean_scale(reduction, n)


class CrossEntropyOp(Function):
    """loss_n = logsumexp(x_n) - x_n[t_n] over logits (N, C) and class indices t (N,);
    dL/dx = (softmax(x) - onehot(t)) * g (divided by N for the mean)."""

    def forward(ctx, logits, target, reduction="mean"):
        xp = xp_of(logits)
        shifted, e, s = _softmax_parts(xp, logits, 1)
        rows = xp.arange(logits.shape[0])
        losses = xp.log(s[:, 0]) - shifted[rows, target]
        e /= s
        ctx.reduction = reduction
        ctx.save_for_backward(e, target)
        return _reduce(xp, losses, reduction)

    def backward(ctx, g):
        p, target = ctx.saved
        xp = xp_of(p)
        grad = p.copy()
        grad[xp.arange(p.shape[0]), target] -= 1
        grad *= _upstream(g, ctx.reduction, p.shape[0])
        return grad, None


class NLLLossOp(Function):
    """loss_n = -z_n[t_n] over log-probabilities z (N, C);  dL/dz = -onehot(t) * g."""

    def forward(ctx, log_probs, target, reduction="mean"):
        xp = xp_of(log_probs)
        losses = -log_probs[xp.arange(log_probs.shape[0]), target]
        ctx.reduction = reduction
        ctx.save_for_backward(target)
        return _reduce(xp, losses, reduction)

    def backward(ctx, g):
        (target,) = ctx.saved
        xp = xp_of(g)
        shape, dtype = ctx.input_meta[0]
        grad = xp.zeros(shape, dtype=dtype)
        scale = _upstream(g, ctx.reduction, shape[0])
        grad[xp.arange(shape[0]), target] = -scale.reshape(-1)
        return grad, None


class MSELossOp(Function):
    """loss = (x - y)^2, averaged or summed;  dL/dx = 2 (x - y) g = -dL/dy."""

    def forward(ctx, x, y, reduction="mean"):
        xp = xp_of(x)
        d = x - y
        ctx.reduction = reduction
        ctx.save_for_backward(d)
        return _reduce(xp, d * d, reduction)

    def backward(ctx, g):
        (d,) = ctx.saved
        scale = 2.0 * _mean_scale(ctx.reduction, d.size)
        gx = d * (g * d.dtype.type(scale))
        gy = -gx if ctx.needs_input_grad[1] else None
        return (gx if ctx.needs_input_grad[0] else None), gy
