"""The fully connected layer's op, fused: ``x @ w.T + b`` as one node."""

from __future__ import annotations

from .. import workspace as ws
from ..autograd import Function
from ..backend import xp_of


class LinearOp(Function):
    """z = x @ w.T + b for weight (out, in), x (..., in) and b (out,) or None;
    dL/dx = g @ w, dL/dw = g.T @ x, dL/db = sum of g over the rows.

    Fused instead of ``MatMul``, ``Transpose`` and ``Add`` (what :func:`.reference.linear`
    composes): a third of the graph, no transposed copy of ``w`` and no broadcast bias
    gradient to sum back. Its arrays are recycled buffers (fresh ones cost page faults).
    """

    def forward(ctx, x, w, b):
        xp = xp_of(x)
        x2 = x.reshape(-1, x.shape[-1])
        out = xp.matmul(x2, w.T, out=ws.empty(xp, (x2.shape[0], w.shape[0]), x.dtype))
        if b is not None:
            out += b
        ctx.save_for_backward(x2, w)
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(ctx, g):
        x2, w = ctx.saved
        xp = xp_of(g)
        g2 = g.reshape(-1, w.shape[0])
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = gw = gb = None
        if need_x:
            gx = xp.matmul(g2, w, out=ws.empty(xp, x2.shape, g.dtype))
            gx = gx.reshape(ctx.input_meta[0][0])
        if need_w:
            gw = xp.matmul(g2.T, x2, out=ws.empty(xp, w.shape, g.dtype))
        if need_b:
            gb = g2.sum(axis=0)
        return gx, gw, gb
