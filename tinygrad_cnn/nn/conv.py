"""2-D convolution as one large matrix product over an im2col matrix (the fast version).

What it computes is spelled out with Tensor primitives in :func:`.reference.conv2d`; this
module computes the same numbers with few, large, contiguous operations:

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
* forward is ``w (M, C*KH*KW) @ cols``; the weight gradient is ``g (M, L) @ cols.T``.
  ``cols`` is saved for it, so backward repeats nothing forward did.
* the input gradient avoids ``add.at``: with the garbage columns (zero in the gradient) it
  is one GEMM over the gradient shifted by each kernel column and ``KH`` row-shifted
  additions (:func:`_input_grad_rows`); otherwise ``w.T @ g`` and ``KH*KW`` strided
  additions (:func:`_col2im`).

When the input needs no gradient (inference, evaluation, a network's first layer) the
batch goes through in chunks whose im2col matrix fits the device's working-set budget
(:func:`chunk_size`), and a weight gradient rebuilds the same chunks from the saved input:
a batch of 1,000 digits would otherwise build a 90 MB matrix for conv1 and stream it
through memory twice.

Large temporaries come from :mod:`tinygrad_cnn.workspace`, which recycles them between
steps.
Groups are a batched matmul over a leading group axis (of size 1 for ``groups=1``);
dilation only changes the strides of the view. Neither costs the common case anything.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import backend
from .. import workspace as ws
from ..autograd import Function
from ..backend import xp_of


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a sliding window (PyTorch's floor formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class ConvGeometry(NamedTuple):
    """Every size a convolution uses: input ``(N, C, H, W)``; ``M`` filters (output
    channels) of ``Cg = C / G`` channels and ``KH x KW`` taps; stride, padding and dilation
    per axis; ``G`` groups; output ``OH x OW``, computed at ``CW`` columns per row."""

    N: int
    C: int
    H: int
    W: int
    M: int
    Cg: int
    KH: int
    KW: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    G: int
    OH: int
    OW: int
    CW: int

    @property
    def Hp(self) -> int:
        return self.H + 2 * self.ph

    @property
    def Wp(self) -> int:
        return self.W + 2 * self.pw

    @property
    def L(self) -> int:
        """Columns of the im2col matrix: output rows x samples x computed columns."""
        return self.OH * self.N * self.CW


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups) -> ConvGeometry:
    N, C, H, W = x_shape
    M, Cg, KH, KW = w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    Wp = W + 2 * pw
    # all Wp columns (long contiguous runs) when the stride is 1 and at most a third of them
    # are thrown away, else exactly OW
    CW = Wp if sw == 1 and 2 * Wp <= 3 * OW else OW
    return ConvGeometry(N, C, H, W, M, Cg, KH, KW, sh, sw, ph, pw, dh, dw, groups, OH, OW, CW)


def chunk_size(geo: ConvGeometry, itemsize: int, device: str) -> int:
    """Samples per im2col matrix when nothing is kept for backward: as many as fit in the
    device's working-set budget (all of them on a GPU), at least one."""
    budget = backend.get(device).working_set_bytes
    per_sample = geo.C * geo.KH * geo.KW * geo.OH * geo.CW * itemsize
    return geo.N if budget is None else max(1, min(geo.N, budget // per_sample))


def _im2col(xp, x, geo: ConvGeometry):
    """The im2col matrix ``(G, Cg*KH*KW, OH*N*CW)`` of ``x`` (N, C, H, W): one padded copy of
    the input, then one copy of a strided view of it."""
    N, C, H, W, M, Cg, KH, KW = geo[:8]
    xbuf = ws.zeros(xp, (C, geo.Hp + 1, N, geo.Wp), x.dtype)
    xbuf[:, geo.ph:geo.ph + H, :, geo.pw:geo.pw + W] = x.transpose(1, 2, 0, 3)
    cols = ws.empty(xp, (geo.G, Cg * KH * KW, geo.L), x.dtype)
    cols.reshape(C, KH, KW, geo.OH, N, geo.CW)[...] = _strided_view(
        xp, xbuf, 0, (C, KH, KW, geo.OH, N, geo.CW), geo)
    return cols


def _project(xp, cols, w, b, geo: ConvGeometry, result):
    """``result (N, M, OH, OW) = w @ cols + b``, dropping the garbage columns."""
    G, M = geo.G, geo.M
    out = ws.empty(xp, (G, M // G, geo.L), cols.dtype)
    xp.matmul(w.reshape(G, M // G, -1), cols, out=out)
    if b is not None:  # on the contiguous product: cheaper than a broadcast later
        out += b.reshape(G, M // G, 1)
    result[...] = out.reshape(M, geo.OH, geo.N, geo.CW)[:, :, :, :geo.OW].transpose(2, 0, 1, 3)


def _strided_view(xp, buf, offset, shape, geo: ConvGeometry):
    """A strided view of ``buf (C, Hp+1, N, Wp)``, starting ``offset`` elements in.

    ``shape`` is ``(C, KH, KW, OH, N, CW)`` for the im2col view, whose element
    ``(c, i, j, oh, n, ow)`` is ``buf[c, sh*oh + dh*i, n, sw*ow + dw*j]``, or
    ``(C, OH, N, CW)`` for the positions that one kernel offset (given by ``offset``) reads.
    """
    sc, sr, sn, sx = buf.strides
    base = buf.reshape(-1)[offset:]
    if len(shape) == 6:
        strides = (sc, geo.dh * sr, geo.dw * sx, geo.sh * sr, sn, geo.sw * sx)
    else:
        strides = (sc, geo.sh * sr, sn, geo.sw * sx)
    return xp.lib.stride_tricks.as_strided(base, shape=shape, strides=strides)


class Conv2dOp(Function):
    """z[n, m] = b[m] + sum_{c, i, j} w[m, c, i, j] x[n, c, s*oh + d*i - p, s*ow + d*j - p].

    Gradients: dL/dw = g @ cols.T, dL/db = sum of g over (N, OH, OW), dL/dx = col2im of
    w.T @ g. The bias ``b`` may be None. Arguments are validated by
    :func:`tinygrad_cnn.nn.functional.conv2d`.
    """

    def forward(ctx, x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        xp = xp_of(x)
        geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
        result = ws.empty(xp, (geo.N, geo.M, geo.OH, geo.OW), x.dtype)
        ctx.geometry = geo
        if ctx.needs_input_grad[0]:
            cols = _im2col(xp, x, geo)  # the whole batch, kept: backward needs all of it
            _project(xp, cols, w, b, geo, result)
            ctx.save_for_backward(cols, w)
            return result
        # No input gradient (inference, or a network's first layer): a few samples at a
        # time, so that each im2col matrix stays in the cache instead of streaming through
        # memory; a weight gradient rebuilds the same chunks from the input, which is
        # cheaper than keeping them (measured on LeNet-5's conv1: 0.56x the time).
        for start, part in _chunks(geo, x):
            cols = _im2col(xp, x[start:start + part.N], part)
            _project(xp, cols, w, b, part, result[start:start + part.N])
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x, w)
        return result

    def backward(ctx, g):
        xp, geo = xp_of(g), ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad
        gb = g.sum(axis=(0, 2, 3)) if need_b else None
        if not need_x:  # the weight gradient, chunk by chunk, as forward ran
            x, w = ctx.saved
            gw = None
            for start, part in _chunks(geo, x) if need_w else ():
                cols = _im2col(xp, x[start:start + part.N], part)
                _, gT = _gradient_columns(xp, g[start:start + part.N], part)
                step = xp.matmul(gT, cols.transpose(0, 2, 1))
                gw = step if gw is None else xp.add(gw, step, out=gw)
            return None, (None if gw is None else gw.reshape(w.shape)), gb
        cols, w = ctx.saved
        gbuf, gT = _gradient_columns(xp, g, geo)
        gw = xp.matmul(gT, cols.transpose(0, 2, 1)).reshape(w.shape) if need_w else None
        if geo.CW == geo.Wp:
            gx = _input_grad_rows(xp, gbuf, w, geo)
        else:
            G, M = geo.G, geo.M
            dcols = ws.empty(xp, (G, geo.Cg * geo.KH * geo.KW, geo.L), g.dtype)
            xp.matmul(w.reshape(G, M // G, -1).transpose(0, 2, 1), gT, out=dcols)
            gx = _col2im(xp, dcols.reshape(geo.C, geo.KH, geo.KW, geo.OH, geo.N, geo.CW), geo)
        return gx, gw, gb


def _chunks(geo: ConvGeometry, x):
    """``(start, geometry of the chunk)`` for cache-sized runs of the batch."""
    step = chunk_size(geo, x.dtype.itemsize, backend.device_of(x))
    for start in range(0, geo.N, step):
        yield start, geo._replace(N=min(step, geo.N - start))


def _gradient_columns(xp, g, geo: ConvGeometry):
    """``g (N, M, OH, OW)`` laid out as forward's product ``(G, M/G, OH*N*CW)``, zero in the
    garbage columns, after ``(KW-1)*dw`` zeros that the shifted view of
    :func:`_input_grad_rows` may read; returns (the flat buffer, the product's view)."""
    M, OH, OW, CW = geo.M, geo.OH, geo.OW, geo.CW
    lead = (geo.KW - 1) * geo.dw
    gbuf = ws.empty(xp, (lead + M * geo.L,), g.dtype)
    gbuf[:lead] = 0
    gT = gbuf[lead:].reshape(M, OH, geo.N, CW)
    gT[:, :, :, :OW] = g.transpose(1, 2, 0, 3)
    gT[:, :, :, OW:] = 0
    return gbuf, gT.reshape(geo.G, M // geo.G, geo.L)


def _input_grad_rows(xp, gbuf, w, geo: ConvGeometry):
    """dL/dx when every padded column was computed (stride 1 along the width).

    Only the kernel *columns* are unrolled: ``gcols[m, j]`` is the gradient shifted right
    by ``j*dw`` (the shift reads the zero garbage columns of the row before, or the lead
    zeros), so one GEMM ``(KH*C, M*KW) @ (M*KW, L)`` gives, for each kernel row ``i``, the
    gradient of input rows ``i*dh + sh*oh``, and ``KH`` row-shifted additions finish
    col2im. Compared with the full ``(C*KH*KW, L)`` product followed by ``KH*KW``
    additions, this moves about a third of the memory.
    """
    N, C, H, W, M, Cg, KH, KW = geo[:8]
    G, L, Mg = geo.G, geo.L, geo.M // geo.G
    lead, step = (KW - 1) * geo.dw, gbuf.strides[0]
    gcols = ws.empty(xp, (G, Mg * KW, L), gbuf.dtype)
    gcols.reshape(M, KW, L)[...] = xp.lib.stride_tricks.as_strided(
        gbuf[lead:], shape=(M, KW, L), strides=(L * step, -geo.dw * step, step))
    # w2[g, i * Cg + c, m * KW + j] = w[g * Mg + m, c, i, j]
    w2 = w.reshape(G, Mg, Cg, KH, KW).transpose(0, 3, 2, 1, 4).reshape(G, KH * Cg, Mg * KW)
    rows = ws.empty(xp, (G, KH * Cg, L), gbuf.dtype)
    xp.matmul(w2, gcols, out=rows)
    rows = rows.reshape(G, KH, Cg, geo.OH, N, geo.CW)
    dbuf = ws.zeros(xp, (C, geo.Hp + 1, N, geo.CW), gbuf.dtype)
    per_group = dbuf.reshape(G, Cg, geo.Hp + 1, N, geo.CW)
    for i in range(KH):
        first = i * geo.dh
        target = per_group[:, :, first:first + geo.sh * (geo.OH - 1) + 1:geo.sh]
        xp.add(target, rows[:, i], out=target)
    return _unpad(xp, dbuf, geo)


def _col2im(xp, dcols, geo: ConvGeometry):
    """Add each kernel offset's slice of ``dcols (C, KH, KW, OH, N, CW)`` into the padded
    input gradient: ``KH*KW`` strided in-place additions."""
    dbuf = ws.zeros(xp, (geo.C, geo.Hp + 1, geo.N, geo.Wp), dcols.dtype)
    row = dbuf.strides[1] // dbuf.itemsize
    for i in range(geo.KH):
        for j in range(geo.KW):
            offset = i * geo.dh * row + j * geo.dw
            target = _strided_view(xp, dbuf, offset, (geo.C, geo.OH, geo.N, geo.CW), geo)
            xp.add(target, dcols[:, i, j], out=target)
    return _unpad(xp, dbuf, geo)


def _unpad(xp, dbuf, geo: ConvGeometry):
    """The ``(N, C, H, W)`` gradient inside the padded ``(C, Hp+1, N, *)`` buffer."""
    dx = ws.empty(xp, (geo.N, geo.C, geo.H, geo.W), dbuf.dtype)
    dx[...] = dbuf[:, geo.ph:geo.ph + geo.H, :, geo.pw:geo.pw + geo.W].transpose(2, 0, 1, 3)
    return dx
