"""2-D convolution as one large matrix product over an im2col matrix.

Layout, chosen so that every matrix product is one large GEMM and every copy runs over
long contiguous stretches of memory:

* the input is copied once, zero-padded, into a buffer ordered ``(C, Hp+1, N, Wp)``
  (channel, row, sample, column). The transpose from ``(N, C, H, W)`` rides along with the
  padding copy, which is needed anyway.
* ``cols``, the im2col matrix of shape ``(C*KH*KW, OH*N*CW)``, is a copy of a strided view
  of that buffer. With stride 1 along the width, ``CW = Wp``: every output row is computed
  at all padded columns and the ``Wp - OW`` extra ("garbage") columns are dropped at the
  end. In exchange, kernel offset ``(i, j)`` of channel ``c`` is one contiguous run of
  ``OH*N*Wp`` values starting at row ``i``, column ``j``, so building ``cols`` takes
  ``C*KH*KW`` long ``memcpy``-like copies. The spare row keeps the garbage reads inside
  the buffer.
* forward is ``w (F, C*KH*KW) @ cols``; the weight gradient is ``g (F, L) @ cols.T``.
  ``cols`` is saved for it, so backward repeats nothing forward did.
* the input gradient avoids ``add.at``: with the garbage columns (zero in the gradient) it
  is one GEMM over the gradient shifted by each kernel column and ``KH`` row-shifted
  additions (:func:`_input_grad_rows`); otherwise ``w.T @ g`` and ``KH*KW`` strided
  additions (:func:`_col2im`).

Large temporaries come from :mod:`._workspace`, which recycles them between steps.
Groups are a batched matmul over a leading group axis (of size 1 for ``groups=1``);
dilation only changes the strides of the view. Neither costs the common case anything.
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from . import _workspace as ws


def _xp(array):
    return backend.array_module(backend.device_of(array))


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a sliding window (PyTorch's floor formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _computed_width(Wp: int, OW: int, sw: int) -> int:
    """Columns computed per output row: all ``Wp`` (long contiguous runs) when the stride is
    1 and at most a third of them are thrown away, else exactly ``OW``."""
    return Wp if sw == 1 and 2 * Wp <= 3 * OW else OW


def _windows(xp, buf, offset, shape, geometry):
    """A strided view of ``buf (C, Hp+1, N, Wp)``, starting ``offset`` elements in.

    ``shape`` is ``(C, KH, KW, OH, N, CW)`` for the im2col view, whose element
    ``(c, i, j, oh, n, ow)`` is ``buf[c, sh*oh + dh*i, n, sw*ow + dw*j]``, or
    ``(C, OH, N, CW)`` for the positions that one kernel offset (given by ``offset``) reads.
    """
    KH, KW, sh, sw, dh, dw = geometry
    sc, sr, sn, sx = buf.strides
    base = buf.reshape(-1)[offset:]
    if len(shape) == 6:
        strides = (sc, dh * sr, dw * sx, sh * sr, sn, sw * sx)
    else:
        strides = (sc, sh * sr, sn, sw * sx)
    return xp.lib.stride_tricks.as_strided(base, shape=shape, strides=strides)


class Conv2d(Function):
    """z[n, f] = b[f] + sum_{c, i, j} w[f, c, i, j] x[n, c, s*oh + d*i - p, s*ow + d*j - p].

    Gradients: dL/dw = g @ cols.T, dL/db = sum of g over (N, OH, OW), dL/dx = col2im of
    w.T @ g. Arguments are validated by :func:`tinygrad_cnn.nn.functional.conv2d`.
    """

    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                groups=1, kernel_size=None):
        xp = _xp(x)
        N, C, H, W = x.shape
        F, Cg, KH, KW = w.shape
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        Hp, Wp = H + 2 * ph, W + 2 * pw
        OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
        CW = _computed_width(Wp, OW, sw)
        G, L = groups, OH * N * CW
        xbuf = ws.zeros(xp, (C, Hp + 1, N, Wp), x.dtype)
        xbuf[:, ph:ph + H, :, pw:pw + W] = x.transpose(1, 2, 0, 3)
        geometry = (KH, KW, sh, sw, dh, dw)
        cols = ws.empty(xp, (G, Cg * KH * KW, L), x.dtype)
        # the one big copy
        cols.reshape(C, KH, KW, OH, N, CW)[...] = _windows(
            xp, xbuf, 0, (C, KH, KW, OH, N, CW), geometry)
        out = ws.empty(xp, (G, F // G, L), x.dtype)
        xp.matmul(w.reshape(G, F // G, Cg * KH * KW), cols, out=out)
        if b is not None:  # on the contiguous product: cheaper than a broadcast later
            out += b.reshape(G, F // G, 1)
        result = ws.empty(xp, (N, F, OH, OW), out.dtype)
        result[...] = out.reshape(F, OH, N, CW)[:, :, :, :OW].transpose(2, 0, 1, 3)
        ctx.shapes = (N, C, H, W, F, Cg, ph, pw, OH, OW, CW, G)
        ctx.geometry = geometry
        ctx.save_for_backward(cols, w)
        return result

    def backward(ctx, g):
        cols, w = ctx.saved
        xp = _xp(g)
        N, C, H, W, F, Cg, ph, pw, OH, OW, CW, G = ctx.shapes
        KH, KW, sh, sw, dh, dw = ctx.geometry
        # the gradient in forward's (F, OH, N, CW) layout, zero in the garbage columns,
        # after a few zeros that the shifted view in _input_grad_rows may read
        lead = (KW - 1) * dw
        gbuf = ws.empty(xp, (lead + F * OH * N * CW,), g.dtype)
        gbuf[:lead] = 0
        gT = gbuf[lead:].reshape(F, OH, N, CW)
        gT[:, :, :, :OW] = g.transpose(1, 2, 0, 3)
        gT[:, :, :, OW:] = 0
        gT = gT.reshape(G, F // G, OH * N * CW)
        need = ctx.needs_input_grad
        gx = gw = gb = None
        if need[1]:
            gw = xp.matmul(gT, cols.transpose(0, 2, 1)).reshape(w.shape)
        if len(need) > 2 and need[2]:
            gb = gT.reshape(F, -1).sum(axis=1)
        if need[0] and CW == W + 2 * pw:
            gx = _input_grad_rows(xp, gbuf, w, ctx)
        elif need[0]:
            dcols = ws.empty(xp, (G, Cg * KH * KW, OH * N * CW), g.dtype)
            xp.matmul(w.reshape(G, F // G, Cg * KH * KW).transpose(0, 2, 1), gT, out=dcols)
            gx = _col2im(xp, dcols.reshape(C, KH, KW, OH, N, CW), ctx)
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)


def _input_grad_rows(xp, gbuf, w, ctx):
    """dL/dx when every padded column was computed (stride 1 along the width).

    Only the kernel *columns* are unrolled: ``gcols[f, j]`` is the gradient shifted right
    by ``j*dw`` (the shift reads the zero garbage columns of the row before, or the lead
    zeros), so one GEMM ``(KH*C, F*KW) @ (F*KW, L)`` gives, for each kernel row ``i``, the
    gradient of input rows ``i*dh + sh*oh``, and ``KH`` row-shifted additions finish
    col2im. Compared with the full ``(C*KH*KW, L)`` product followed by ``KH*KW``
    additions, this moves about a third of the memory.
    """
    N, C, H, W, F, Cg, ph, pw, OH, OW, CW, G = ctx.shapes
    KH, KW, sh, sw, dh, dw = ctx.geometry
    Fg, L, lead = F // G, OH * N * CW, (KW - 1) * dw
    step = gbuf.strides[0]
    gcols = ws.empty(xp, (G, Fg * KW, L), gbuf.dtype)
    gcols.reshape(F, KW, L)[...] = xp.lib.stride_tricks.as_strided(
        gbuf[lead:], shape=(F, KW, L), strides=(L * step, -dw * step, step))
    # w2[g, i * Cg + c, f * KW + j] = w[g * Fg + f, c, i, j]
    w2 = w.reshape(G, Fg, Cg, KH, KW).transpose(0, 3, 2, 1, 4).reshape(G, KH * Cg, Fg * KW)
    rows = ws.empty(xp, (G, KH * Cg, L), gbuf.dtype)
    xp.matmul(w2, gcols, out=rows)
    rows = rows.reshape(G, KH, Cg, OH, N, CW)
    Hp = H + 2 * ph
    dbuf = ws.zeros(xp, (C, Hp + 1, N, CW), gbuf.dtype)
    per_group = dbuf.reshape(G, Cg, Hp + 1, N, CW)
    for i in range(KH):
        target = per_group[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh]
        xp.add(target, rows[:, i], out=target)
    dx = ws.empty(xp, (N, C, H, W), gbuf.dtype)
    dx[...] = dbuf[:, ph:ph + H, :, pw:pw + W].transpose(2, 0, 1, 3)
    return dx


def _col2im(xp, dcols, ctx):
    """Add each kernel offset's slice of ``dcols (C, KH, KW, OH, N, CW)`` into the padded
    input gradient: ``KH*KW`` strided in-place additions."""
    N, C, H, W, F, Cg, ph, pw, OH, OW, CW, G = ctx.shapes
    KH, KW, sh, sw, dh, dw = ctx.geometry
    Hp, Wp = H + 2 * ph, W + 2 * pw
    dbuf = ws.zeros(xp, (C, Hp + 1, N, Wp), dcols.dtype)
    row = dbuf.strides[1] // dbuf.itemsize
    for i in range(KH):
        for j in range(KW):
            target = _windows(xp, dbuf, i * dh * row + j * dw, (C, OH, N, CW), ctx.geometry)
            xp.add(target, dcols[:, i, j], out=target)
    dx = ws.empty(xp, (N, C, H, W), dcols.dtype)
    dx[...] = dbuf[:, ph:ph + H, :, pw:pw + W].transpose(2, 0, 1, 3)
    return dx
