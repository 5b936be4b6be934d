"""2-D convolution as one large matrix product over an im2col matrix.

Layout, chosen so every matrix product is a single large GEMM and every copy runs over
long contiguous rows:

* the input is copied once, zero-padded, into a *channel-major* buffer ``(C, N, Hp+1, Wp)``
  (the transpose from ``(N, C, H, W)`` rides along with the padding copy, which is needed
  anyway);
* the im2col matrix ``cols`` of shape ``(C*KH*KW, N*OH*CW)`` is a copy of a strided view of
  that buffer. For stride 1 along the width, ``CW = Wp``: each output row is computed at
  every padded column, and the ``Wp - OW`` extra ("garbage") columns are dropped at the
  end. This turns each ``(oh, ow)`` block of the view into one contiguous run of
  ``OH*Wp`` floats, so the copy is a few thousand long ``memcpy``-like rows instead of
  hundreds of thousands of short ones; the spare row ``Hp+1`` keeps the garbage reads of
  the last sample inside the buffer;
* forward is ``W (F, C*KH*KW) @ cols``, backward ``g (F, L) @ cols.T`` for the weight and
  ``W.T @ g`` followed by a col2im that adds ``KH*KW`` strided slices for the input;
* ``cols`` is saved for the weight gradient, so backward repeats no work of forward.

Groups are a batched matmul over a leading group axis (a size-1 axis for ``groups=1``);
dilation only changes the strides of the view. Neither costs the common case anything.
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function


def _xp(array):
    return backend.array_module(backend.device_of(array))


def _as_strided(xp, array, shape, strides):
    return xp.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a sliding window (PyTorch's floor formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _computed_width(Wp: int, OW: int, sw: int) -> int:
    """Columns computed per output row: all ``Wp`` (contiguous copies) when the stride is 1
    and at most a third of them would be thrown away, else exactly ``OW``."""
    return Wp if sw == 1 and 2 * Wp <= 3 * OW else OW


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
        G = groups
        # channel-major, zero-padded, with one spare row for the garbage columns
        xbuf = xp.zeros((C, N, Hp + 1, Wp), dtype=x.dtype)
        xbuf[:, :, ph:ph + H, pw:pw + W] = x.transpose(1, 0, 2, 3)
        s = xbuf.strides
        view = _as_strided(xp, xbuf, (C, KH, KW, N, OH, CW),
                           (s[0], dh * s[2], dw * s[3], s[1], sh * s[2], sw * s[3]))
        L = N * OH * CW
        cols = view.reshape(G, Cg * KH * KW, L)  # the one big copy
        out = xp.matmul(w.reshape(G, F // G, Cg * KH * KW), cols)  # (G, F/G, L)
        out = out.reshape(F, N, OH, CW)[:, :, :, :OW].transpose(1, 0, 2, 3)
        result = xp.empty((N, F, OH, OW), dtype=out.dtype)
        if b is None:
            result[...] = out
        else:
            xp.add(out, b.reshape(1, F, 1, 1), out=result)
        ctx.geometry = (N, C, H, W, F, Cg, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, CW, G)
        ctx.save_for_backward(cols, w)
        return result

    def backward(ctx, g):
        cols, w = ctx.saved
        xp = _xp(g)
        N, C, H, W, F, Cg, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, CW, G = ctx.geometry
        L = N * OH * CW
        # gradient in the forward's (F, N, OH, CW) layout, zero in the garbage columns
        if CW == OW:
            gT = xp.ascontiguousarray(g.transpose(1, 0, 2, 3))
        else:
            gT = xp.zeros((F, N, OH, CW), dtype=g.dtype)
            gT[:, :, :, :OW] = g.transpose(1, 0, 2, 3)
        gT = gT.reshape(G, F // G, L)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gw = gx = gb = None
        if need_w:
            gw = xp.matmul(gT, cols.transpose(0, 2, 1)).reshape(w.shape)
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            gb = gT.reshape(F, L).sum(axis=1)
        if need_x:
            dcols = xp.matmul(w.reshape(G, F // G, Cg * KH * KW).transpose(0, 2, 1), gT)
            gx = _col2im(xp, dcols.reshape(C, KH, KW, N, OH, CW), ctx.geometry)
        if len(ctx.needs_input_grad) > 2:
            return gx, gw, gb
        return gx, gw


def _col2im(xp, dcols, geometry):
    """Add each kernel offset's slice of ``dcols (C, KH, KW, N, OH, CW)`` into the padded
    input gradient: ``KH*KW`` strided in-place adds, no ``add.at``."""
    N, C, H, W, F, Cg, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, CW, G = geometry
    Hp, Wp = H + 2 * ph, W + 2 * pw
    dbuf = xp.zeros((C, N, Hp + 1, Wp), dtype=dcols.dtype)
    flat = dbuf.reshape(-1)
    s = dbuf.strides
    shape, strides = (C, N, OH, CW), (s[0], s[1], sh * s[2], sw * s[3])
    for i in range(KH):
        for j in range(KW):
            start = i * dh * Wp + j * dw
            target = _as_strided(xp, flat[start:], shape, strides)
            xp.add(target, dcols[:, i, j], out=target)
    dx = xp.empty((N, C, H, W), dtype=dcols.dtype)
    dx[...] = dbuf[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)
    return dx
