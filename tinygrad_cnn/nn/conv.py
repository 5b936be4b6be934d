"""2-D convolution as one large matrix product over an im2col matrix (the fast version).

What it computes is spelled out with Tensor primitives in :func:`.reference.conv2d`; this
module computes the same numbers with few, large, contiguous operations, with the batch
axis last in memory (see :func:`tinygrad_cnn.workspace.batch_last`):

* the input, seen as ``(C, Hp, Wp, N)`` (channel, padded row, padded column, sample), is
  used in place when it already lies so in memory and needs no padding (the output of an
  earlier convolution or pooling layer), else copied once into a zero-padded buffer.
* ``cols``, the im2col matrix of shape ``(C*KH*KW, OH*OW*N)``, is a copy of a strided view
  of that buffer: for each channel, kernel offset and output row, one contiguous run of
  ``OW*N`` values (stride 1 along the width) or ``OW`` runs of ``N`` values. No column is
  computed that is thrown away.
* forward is ``w (M, C*KH*KW) @ cols``, which *is* the output in batch-last order
  ``(M, OH, OW, N)``, so nothing is transposed afterwards. A bias is one more column of
  ``w`` meeting a row of ones in ``cols``. The weight gradient (and the bias gradient, from
  the row of ones) is ``(cols @ g.T).T``; ``cols`` is saved for it, so backward repeats
  nothing forward did.
* the input gradient avoids ``add.at``: with stride 1 along the width it is one GEMM over
  the gradient shifted by each kernel column and ``KH`` row-shifted additions
  (:func:`_input_grad_rows`); otherwise ``w.T @ g`` and ``KH*KW`` strided additions
  (:func:`_col2im`).

When the input needs no gradient (inference, evaluation, a network's first layer) the
im2col matrix is built and used in blocks of output rows (or columns of one row) that fit
the device's working-set budget (:func:`blocks`), and a weight gradient rebuilds the same
blocks from forward's padded copies of the input: a batch of 1,000 digits would otherwise
build a 90 MB matrix for conv1 and stream it through memory twice. (The budget also keeps
each block's product small enough for OpenBLAS's small-matrix kernel, which runs LeNet-5's
conv1 products two to three times as fast as its general one.)

Large temporaries come from :mod:`tinygrad_cnn.workspace`, which recycles them between
steps.
Groups are a batched matmul over a leading group axis (of size 1 for ``groups=1``);
dilation and stride only change the strides of the view. Neither costs the common case
anything.
"""

from __future__ import annotations

import math
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
    per axis; ``G`` groups; output ``OH x OW``."""

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

    @property
    def Hp(self) -> int:
        return self.H + 2 * self.ph

    @property
    def Wp(self) -> int:
        return self.W + 2 * self.pw

    @property
    def L(self) -> int:
        """Columns of the im2col matrix: output rows x output columns x samples."""
        return self.OH * self.OW * self.N


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups) -> ConvGeometry:
    N, C, H, W = x_shape
    M, Cg, KH, KW = w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    return ConvGeometry(N, C, H, W, M, Cg, KH, KW, sh, sw, ph, pw, dh, dw, groups, OH, OW)


class Block(NamedTuple):
    """Output rows ``[r0, r1)`` and columns ``[c0, c1)`` of samples ``[s0, s1)``: one piece
    of a blocked im2col. Either the columns are all ``OW`` of them or the rows are one, so
    the piece's output is one contiguous run per filter when it holds every sample."""

    r0: int
    r1: int
    c0: int
    c1: int
    s0: int
    s1: int


def blocks(geo: ConvGeometry, itemsize: int, device: str) -> list[Block]:
    """Pieces of the output whose im2col matrices fit the device's working-set budget (one
    piece, the whole output, on a GPU). Every sample goes into each piece unless one
    output position of all of them is already too large; then the batch is cut into runs
    of samples. Each run is cut into runs of whole output rows, or of columns of one row.
    Runs are about equal, so that none is a sliver."""
    OH, OW, N = geo.OH, geo.OW, geo.N
    budget = backend.get(device).working_set_bytes
    if budget is None or N == 0:
        return [Block(0, OH, 0, OW, 0, N)]
    per_position = geo.C * geo.KH * geo.KW * itemsize  # one output position of one sample
    samples = _even_step(N, budget // per_position)
    positions = budget // (per_position * samples)
    if positions >= OW:
        rows, columns = _even_step(OH, positions // OW), OW
    else:
        rows, columns = 1, _even_step(OW, positions)
    return [Block(r, min(r + rows, OH), c, min(c + columns, OW), s, min(s + samples, N))
            for s in range(0, N, samples) for r in range(0, OH, rows)
            for c in range(0, OW, columns)]


def _even_step(total: int, most: int) -> int:
    """The step that cuts ``total`` into as few about equal runs of at most ``most`` (at
    least 1) as possible."""
    if total <= 1:
        return 1
    return math.ceil(total / math.ceil(total / max(1, min(most, total))))


def _source(xp, x, geo: ConvGeometry):
    """``x (N, C, H, W)`` as ``(C, Hp, Wp, N)``: ``x`` itself when it lies so in memory and
    needs no padding, else a zero-padded batch-last copy."""
    view = x.transpose(1, 2, 3, 0)
    if not (geo.ph or geo.pw) and view.flags.c_contiguous:
        return view
    buf = (ws.zeros if geo.ph or geo.pw else ws.empty)(xp, (geo.C, geo.Hp, geo.Wp, geo.N),
                                                       x.dtype)
    buf[:, geo.ph:geo.ph + geo.H, geo.pw:geo.pw + geo.W] = view
    return buf


def _im2col_view(xp, src, geo: ConvGeometry):
    """The im2col matrix of ``src (C, Hp, Wp, N)`` as a strided view of it, of shape
    ``(C, KH, KW, OH, OW, N)``: element ``(c, i, j, oh, ow, n)`` is
    ``src[c, sh*oh + dh*i, sw*ow + dw*j, n]``; with stride 1 along the width its runs of
    ``OW*N`` values are contiguous."""
    sc, sr, sx, sn = src.strides
    return xp.lib.stride_tricks.as_strided(
        src, shape=(geo.C, geo.KH, geo.KW, geo.OH, geo.OW, geo.N),
        strides=(sc, geo.dh * sr, geo.dw * sx, geo.sh * sr, geo.sw * sx, sn))


def _im2col(xp, view, geo: ConvGeometry, rows=slice(None), columns=slice(None),
            ones: bool = False, previous=None):
    """The im2col matrix ``(G, Cg*KH*KW, positions*N)`` of the output ``rows`` and
    ``columns``: a copy of that part of :func:`_im2col_view`. With ``ones``, a row of ones
    follows each group's rows: a bias then rides along in the matrix products (forward
    adds it, the weight gradient's product sums the bias gradient) instead of costing a
    pass over the output each. ``previous``, the matrix of the block before, is refilled
    when it has the right size (a loop over dozens of blocks spends much of its time in
    per-call overhead)."""
    part = view[:, :, :, rows, columns]
    K = geo.Cg * geo.KH * geo.KW
    size = part[0, 0, 0].size
    cols = previous
    if cols is None or cols.shape[-1] != size:
        cols = ws.empty(xp, (geo.G, K + ones, size), view.dtype)
        if ones:  # written once per buffer: the blocks only rewrite the rows above it
            cols[:, K] = 1
    # splitting axes only, so both reshapes are views
    cols[:, :K].reshape((geo.G, geo.Cg) + part.shape[1:])[...] = part.reshape(
        (geo.G, geo.Cg) + part.shape[1:])
    return cols


def _with_bias(xp, w, b, geo: ConvGeometry):
    """The filters as ``(G, M/G, Cg*KH*KW)``, with the bias as one more column when given
    (to meet the row of ones of :func:`_im2col`)."""
    G, Mg = geo.G, geo.M // geo.G
    w = w.reshape(G, Mg, -1)
    return w if b is None else xp.concatenate([w, b.reshape(G, Mg, 1)], axis=2)


def _project(xp, cols, weights, target, in_place: bool):
    """``target (M, rows, columns, n) = weights @ cols``: directly when ``target`` is one
    contiguous run per filter (``in_place``), otherwise through a temporary."""
    G, Mg = weights.shape[:2]
    product = (target.reshape(G, Mg, -1) if in_place
               else ws.empty(xp, (G, Mg, cols.shape[-1]), cols.dtype))
    xp.matmul(weights, cols, out=product)
    if not in_place:
        target[...] = product.reshape(target.shape)


def _batch_last_gradient(xp, g):
    """``g (N, M, OH, OW)`` as a contiguous ``(M, OH, OW, N)`` array: ``g`` itself when it
    already lies so (the gradient from a batch-last ReLU or pooling layer), else a copy."""
    view = g.transpose(1, 2, 3, 0)
    if view.flags.c_contiguous:
        return view
    copy = ws.batch_last(xp, g.shape, g.dtype)
    copy[...] = g
    return copy.transpose(1, 2, 3, 0)


def _weight_grad(xp, gT, cols):
    """dL/dw ``(G, M/G, Cg*KH*KW)`` as the transpose of ``cols @ gT.T``: the same numbers
    as ``gT @ cols.T``, but OpenBLAS runs this orientation of the long, thin product
    nearly twice as fast (measured on LeNet-5's conv2: 1.3 against 2.3 ms at batch 256)."""
    return xp.matmul(cols, gT.transpose(0, 2, 1)).transpose(0, 2, 1)


class Conv2dOp(Function):
    """z[n, m] = b[m] + sum_{c, i, j} w[m, c, i, j] x[n, c, s*oh + d*i - p, s*ow + d*j - p].

    Gradients: dL/dw = g @ cols.T, dL/db = sum of g over (N, OH, OW), dL/dx = col2im of
    w.T @ g. The bias ``b`` may be None. Arguments are validated by
    :func:`tinygrad_cnn.nn.functional.conv2d`. The output is batch-last in memory.
    """

    def forward(ctx, x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        xp = xp_of(x)
        geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
        result = ws.batch_last(xp, (geo.N, geo.M, geo.OH, geo.OW), x.dtype)
        out = result.transpose(1, 2, 3, 0)  # (M, OH, OW, N): contiguous, the products' shape
        ctx.geometry = geo
        weights = _with_bias(xp, w, b, geo)
        ones = ctx.ones = b is not None
        if ctx.needs_input_grad[0]:
            view = _im2col_view(xp, _source(xp, x, geo), geo)
            cols = _im2col(xp, view, geo, ones=ones)  # kept: backward needs all of it
            _project(xp, cols, weights, out, in_place=True)
            ctx.save_for_backward(cols, w)
        else:
            # No input gradient (inference, or a network's first layer): a block at a
            # time, so that each im2col matrix stays in the cache instead of streaming
            # through memory; a weight gradient rebuilds the same blocks from the input,
            # which is cheaper than keeping them (measured on LeNet-5's conv1: 0.56x the
            # time).
            cols = None
            runs = list(_sample_runs(xp, x, geo))
            for s0, part, view, pieces in runs:
                for rows, columns in pieces:
                    cols = _im2col(xp, view, part, rows, columns, ones, cols)
                    _project(xp, cols, weights, out[:, rows, columns, s0:s0 + part.N],
                             in_place=part.N == geo.N)
            if any(ctx.needs_input_grad):
                ctx.save_for_backward(runs, w)  # the sources, for the rebuilt blocks
        return result

    def backward(ctx, g):
        xp, geo = xp_of(g), ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad
        G, Mg, K = geo.G, geo.M // geo.G, geo.Cg * geo.KH * geo.KW
        gT = _batch_last_gradient(xp, g)  # (M, OH, OW, N)
        saved, w = ctx.saved  # the im2col matrix, or forward's runs of samples
        gw = gb = None
        if need_w:  # with the bias's row of ones, the product sums the bias gradient too
            if need_x:
                both = _weight_grad(xp, gT.reshape(G, Mg, -1), saved)
            else:
                both = _blocked_weight_grad(xp, gT, saved, geo, ctx.ones)
            gw = both[..., :K].reshape(w.shape)
            gb = both[..., K].reshape(geo.M) if ctx.ones else None
        if need_b and gb is None:
            gb = gT.reshape(geo.M, -1).sum(axis=1)
        if not need_x:
            return None, gw, gb
        if geo.sw == 1:
            dsrc = _input_grad_rows(xp, gT, w, geo)
        else:
            dcols = ws.empty(xp, (G, K, geo.L), g.dtype)
            xp.matmul(w.reshape(G, Mg, -1).transpose(0, 2, 1), gT.reshape(G, Mg, -1),
                      out=dcols)
            dsrc = _col2im(xp, dcols, geo)
        # the (N, C, H, W) gradient inside the padded batch-last buffer: a view, no copy
        gx = dsrc[:, geo.ph:geo.ph + geo.H, geo.pw:geo.pw + geo.W].transpose(3, 0, 1, 2)
        return gx, gw, gb


def _blocked_weight_grad(xp, gT, runs, geo: ConvGeometry, ones: bool):
    """The weight gradient (and bias gradient, with ``ones``) summed over the blocks of
    forward, each im2col block rebuilt from forward's ``runs`` (of :func:`_sample_runs`)."""
    G, Mg = geo.G, geo.M // geo.G
    total = cols = None
    for s0, part, view, pieces in runs:
        g_run = gT[..., s0:s0 + part.N]
        if part.N < geo.N:  # one copy per run of samples, not one per block
            g_run = xp.ascontiguousarray(g_run)
        for rows, columns in pieces:  # one contiguous run per filter: a view
            cols = _im2col(xp, view, part, rows, columns, ones, cols)
            step = _weight_grad(xp, g_run[:, rows, columns].reshape(G, Mg, -1), cols)
            total = step if total is None else xp.add(total, step, out=total)
    return total


def _sample_runs(xp, x, geo: ConvGeometry):
    """For each run of samples of :func:`blocks`: its first sample, its geometry, the
    im2col view of its own batch-last source (so that every im2col copy reads runs of
    contiguous values) and its pieces as ``(rows, columns)`` slices."""
    runs = {}
    for r0, r1, c0, c1, s0, s1 in blocks(geo, x.dtype.itemsize, backend.device_of(x)):
        runs.setdefault((s0, s1), []).append((slice(r0, r1), slice(c0, c1)))
    for (s0, s1), pieces in runs.items():
        part = geo._replace(N=s1 - s0)
        yield s0, part, _im2col_view(xp, _source(xp, x[s0:s1], part), part), pieces


def _input_grad_rows(xp, gT, w, geo: ConvGeometry):
    """dL/dx, padded and batch-last ``(C, Hp, Wp, N)``, for stride 1 along the width.

    Only the kernel *columns* are unrolled: ``shifted[m, j, oh, x, n]`` is
    ``g[m, oh, x - j*dw, n]`` (zero where that column is outside the output), so one GEMM
    ``(KH*C, M*KW) @ (M*KW, rows*Wp*N)`` gives, for each kernel row ``i``, the gradient of
    input rows ``i*dh + sh*oh``, and ``KH`` row-shifted additions finish col2im. Compared
    with the full ``(C*KH*KW, L)`` product followed by ``KH*KW`` additions, this moves
    about a third of the memory. Large batches go through in blocks of output rows of
    ``shifted`` of at most eight working-set budgets (measured on LeNet-5's conv2: +3-5%
    training speed at batch 256 against one block; one block at batch 64, where smaller
    blocks cost more in calls than they save).
    """
    N, C, H, W, M, Cg, KH, KW = geo[:8]
    G, Mg, OH, OW, Wp = geo.G, geo.M // geo.G, geo.OH, geo.OW, geo.Wp
    budget = backend.get(backend.device_of(gT)).working_set_bytes
    per_row = M * KW * Wp * N * gT.dtype.itemsize
    step = OH if budget is None else _even_step(OH, 8 * budget // max(1, per_row))
    # w2[g, i * Cg + c, m * KW + j] = w[g * Mg + m, c, i, j]
    w2 = w.reshape(G, Mg, Cg, KH, KW).transpose(0, 3, 2, 1, 4).reshape(G, KH * Cg, Mg * KW)
    dsrc = ws.zeros(xp, (C, geo.Hp, Wp, N), gT.dtype)
    per_group = dsrc.reshape(G, Cg, geo.Hp, Wp, N)
    for r0 in range(0, OH, step):
        rows = min(step, OH - r0)
        shifted = ws.empty(xp, (M, KW, rows, Wp, N), gT.dtype)
        for j in range(KW):
            first = j * geo.dw
            shifted[:, j, :, :first] = 0
            shifted[:, j, :, first:first + OW] = gT[:, r0:r0 + rows]
            shifted[:, j, :, first + OW:] = 0
        product = ws.empty(xp, (G, KH * Cg, rows * Wp * N), gT.dtype)
        xp.matmul(w2, shifted.reshape(G, Mg * KW, -1), out=product)
        product = product.reshape(G, KH, Cg, rows, Wp, N)
        for i in range(KH):
            first = i * geo.dh + geo.sh * r0
            target = per_group[:, :, first:first + geo.sh * (rows - 1) + 1:geo.sh]
            xp.add(target, product[:, i], out=target)
    return dsrc


def _col2im(xp, dcols, geo: ConvGeometry):
    """Add each kernel offset's slice of ``dcols (C, KH, KW, OH, OW, N)`` into the padded
    batch-last input gradient ``(C, Hp, Wp, N)``: ``KH*KW`` strided in-place additions."""
    dcols = dcols.reshape(geo.C, geo.KH, geo.KW, geo.OH, geo.OW, geo.N)
    dsrc = ws.zeros(xp, (geo.C, geo.Hp, geo.Wp, geo.N), dcols.dtype)
    for i in range(geo.KH):
        rows = slice(i * geo.dh, i * geo.dh + geo.sh * (geo.OH - 1) + 1, geo.sh)
        for j in range(geo.KW):
            columns = slice(j * geo.dw, j * geo.dw + geo.sw * (geo.OW - 1) + 1, geo.sw)
            target = dsrc[:, rows, columns]
            xp.add(target, dcols[:, i, j], out=target)
    return dsrc
