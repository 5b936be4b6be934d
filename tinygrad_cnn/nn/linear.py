"""The fully connected layer's op, fused: ``x @ w.T + b`` as one node."""

from __future__ import annotations

from ..autograd import Function


class LinearOp(Function):
    """z = x @ w.T + b for weight (out, in), x (..., in) and b (out,) or None;
    dL/dx = g @ w, dL/dw = g.T @ x, dL/db = sum of g over the rows.

    Fused instead of ``MatMul``, ``Transpose`` and ``Add`` (what :func:`.reference.linear`
    composes): a third of the graph, no transposed copy of ``w`` and no broadcast bias
    gradient to sum back.
    """

    def forward(ctx, x, w, b):
        x2 = x.reshape(-1, x.shape[-1])
        out = x2 @ w.T
        if b is not None:
            out += b
        ctx.save_for_backward(x2, w)
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(ctx, g):
        x2, w = ctx.saved
        g2 = g.reshape(-1, w.shape[0])
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = (g2 @ w).reshape(ctx.input_meta[0][0]) if need_x else None
        gw = g2.T @ x2 if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb
