"""``Conv2dOp``: 2-D convolution as large matrix products over an im2col matrix, with its
strategies named.

What it computes is spelled out with Tensor primitives in
:func:`tinygrad_cnn.nn.reference.conv2d`; this computes the same numbers with few, large,
contiguous operations on batch-last arrays (the layout kernels are in :mod:`.im2col`, the
sizes in :mod:`.geometry`). Forward is ``w (M, C*KH*KW) @ cols (C*KH*KW, OH*OW*N)``, which
*is* the output in batch-last order ``(M, OH, OW, N)``, so nothing is transposed
afterwards; a bias is one more column of ``w`` meeting a row of ones in ``cols``.

Two ways to run forward, chosen by whether the input needs a gradient; each returns the one
record its backward needs, and that record is what ``ctx.saved`` holds:

* :class:`WholeIm2col` (the input needs a gradient: training any layer but the first):
  one im2col matrix for the whole batch, kept, so that the weight gradient (and the bias
  gradient, from the row of ones) is one product ``(cols @ g.T).T`` that repeats nothing.
* :class:`BlockedIm2col` (the input needs none: inference, evaluation, a network's first
  layer): the im2col matrix built and used in blocks of output positions that fit the
  device's working-set budget (:func:`.geometry.blocks`), so each block stays in the cache
  instead of streaming through memory; a weight gradient rebuilds the same blocks from
  forward's padded copies of the input, which is cheaper than keeping them (measured on
  LeNet-5's conv1: 0.56x the time). The budget also keeps each block's product small
  enough for OpenBLAS's small-matrix kernel, which runs LeNet-5's conv1 products two to
  three times as fast as its general one.

The input gradient (only ever on the whole path) avoids ``add.at``, in one of two ways
chosen by the stride along the width: :func:`input_grad_by_rows` (stride 1: one product
over the gradient shifted by each kernel column, then ``KH`` row-shifted additions) or
:func:`input_grad_by_col2im` (``w.T @ g`` and ``KH*KW`` strided additions).

Large temporaries come from :mod:`tinygrad_cnn.workspace`, which recycles them between
steps. The forward and input-gradient products go through
:func:`tinygrad_cnn.backend.products.matmul`, which cuts a long product into chunks of
columns where that was measured faster and gives the same bits (on one BLAS thread,
LeNet-5's conv2 at batch 256).

Groups are a batched matmul over a leading group axis (of size 1 for ``groups=1``);
dilation and stride only change the strides of the view. Neither costs the common case
anything.
"""

from __future__ import annotations

from typing import NamedTuple

from ... import backend
from ... import workspace as ws
from ...autograd import Function
from ...backend import products, xp_of
from .geometry import ConvGeometry, blocks, conv_geometry, even_step
from .im2col import (
    batch_last_gradient,
    col2im,
    im2col,
    im2col_view,
    padded_source,
    reshaped_view,
)

# ----------------------------------------------------------------------------- products


def filters_with_bias(xp, w, b, geo: ConvGeometry):
    """The filters as ``(G, M/G, Cg*KH*KW)``, with the bias as one more column when given
    (to meet the row of ones of :func:`.im2col.im2col`)."""
    w = w.reshape(geo.G, geo.Mg, -1)
    return w if b is None else xp.concatenate([w, b.reshape(geo.G, geo.Mg, 1)], axis=2)


def project(xp, cols, filters, target, in_place: bool):
    """``target (M, rows, columns, n) = filters @ cols``: directly when ``target`` is one
    contiguous run per filter (``in_place``; checked, see :func:`.im2col.reshaped_view`),
    otherwise through a temporary."""
    G, Mg = filters.shape[:2]
    product = (reshaped_view(xp, target, (G, Mg, -1)) if in_place
               else ws.empty(xp, (G, Mg, cols.shape[-1]), cols.dtype))
    products.matmul(xp, filters, cols, product)
    if not in_place:
        target[...] = product.reshape(target.shape)


def weight_product(xp, gT, cols):
    """dL/dw ``(G, M/G, Cg*KH*KW)`` as the transpose of ``cols @ gT.T``: the same numbers
    as ``gT @ cols.T``, but OpenBLAS runs this orientation of the long, thin product
    nearly twice as fast (measured on LeNet-5's conv2: 1.3 against 2.3 ms at batch 256)."""
    return xp.matmul(cols, gT.transpose(0, 2, 1)).transpose(0, 2, 1)


# ----------------------------------------------------------------------------- forward paths


class WholeIm2col(NamedTuple):
    """The path when the input needs a gradient: the whole batch's im2col matrix, built
    once and kept for backward (``cols``, ``(G, K + bias_row, L)``)."""

    cols: object

    @classmethod
    def forward(cls, xp, x, filters, out, geo: ConvGeometry, bias_row: bool) -> WholeIm2col:
        view = im2col_view(xp, padded_source(xp, x, geo), geo)
        cols = im2col(xp, view, geo, bias_row=bias_row)
        project(xp, cols, filters, out, in_place=True)
        return cls(cols)

    def weight_grad(self, xp, gT, geo: ConvGeometry, bias_row: bool):
        """dL/dw (and dL/db in the last column, with ``bias_row``, whose row of ones is
        already in the kept ``cols``): one product."""
        return weight_product(xp, gT.reshape(geo.G, geo.Mg, -1), self.cols)


class SampleRun(NamedTuple):
    """A run of samples of the blocked path: its first sample, its geometry (``N`` the
    run's length), the im2col view of its own batch-last source (so that every block's
    copy reads runs of contiguous values) and its blocks as ``(rows, columns)`` slices."""

    first: int
    geometry: ConvGeometry
    view: object
    pieces: list


def sample_runs(xp, x, geo: ConvGeometry) -> list[SampleRun]:
    """The :class:`SampleRun` of each run of samples of :func:`.geometry.blocks`."""
    runs = {}
    for r0, r1, c0, c1, s0, s1 in blocks(geo, x.dtype.itemsize, backend.device_of(x)):
        runs.setdefault((s0, s1), []).append((slice(r0, r1), slice(c0, c1)))
    out = []
    for (s0, s1), pieces in runs.items():
        part = geo._replace(N=s1 - s0)
        out.append(SampleRun(s0, part, im2col_view(xp, padded_source(xp, x[s0:s1], part), part),
                             pieces))
    return out


class BlockedIm2col(NamedTuple):
    """The path when the input needs no gradient: the im2col matrix a block at a time;
    forward's runs of samples are kept, to rebuild the blocks for a weight gradient."""

    runs: list

    @classmethod
    def forward(cls, xp, x, filters, out, geo: ConvGeometry, bias_row: bool) -> BlockedIm2col:
        runs = sample_runs(xp, x, geo)
        cols = None
        for run in runs:
            n = run.geometry.N
            for rows, columns in run.pieces:
                cols = im2col(xp, run.view, run.geometry, rows, columns, bias_row, cols)
                # with every sample, a Block is one contiguous run per filter of ``out``
                project(xp, cols, filters, out[:, rows, columns, run.first:run.first + n],
                        in_place=n == geo.N)
        return cls(runs)

    def weight_grad(self, xp, gT, geo: ConvGeometry, bias_row: bool):
        """dL/dw (and dL/db in the last column, with ``bias_row``) summed over the blocks of
        forward, each im2col block rebuilt from the kept runs."""
        total = cols = None
        for run in self.runs:
            n = run.geometry.N
            g_run = gT[..., run.first:run.first + n]
            if n < geo.N:  # one copy per run of samples, not one per block
                g_run = xp.ascontiguousarray(g_run)
            for rows, columns in run.pieces:  # one contiguous run per filter: a view
                cols = im2col(xp, run.view, run.geometry, rows, columns, bias_row, cols)
                step = weight_product(xp, g_run[:, rows, columns].reshape(geo.G, geo.Mg, -1),
                                      cols)
                total = step if total is None else xp.add(total, step, out=total)
        return total


# ----------------------------------------------------------------------------- input gradient


def input_grad_by_rows(xp, gT, w, geo: ConvGeometry):
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
    G, Mg, OH, OW, Wp = geo.G, geo.Mg, geo.OH, geo.OW, geo.Wp
    budget = backend.get(backend.device_of(gT)).working_set_bytes
    per_row = M * KW * Wp * N * gT.dtype.itemsize
    step = OH if budget is None else even_step(OH, 8 * budget // max(1, per_row))
    # w2[g, i * Cg + c, m * KW + j] = w[g * Mg + m, c, i, j]
    w2 = w.reshape(G, Mg, Cg, KH, KW).transpose(0, 3, 2, 1, 4).reshape(G, KH * Cg, Mg * KW)
    dsrc = ws.zeros(xp, (C, geo.Hp, Wp, N), gT.dtype)
    per_group = reshaped_view(xp, dsrc, (G, Cg, geo.Hp, Wp, N))  # the additions land in dsrc
    for r0 in range(0, OH, step):
        rows = min(step, OH - r0)
        shifted = ws.empty(xp, (M, KW, rows, Wp, N), gT.dtype)
        for j in range(KW):
            first = j * geo.dw
            shifted[:, j, :, :first] = 0
            shifted[:, j, :, first:first + OW] = gT[:, r0:r0 + rows]
            shifted[:, j, :, first + OW:] = 0
        product = ws.empty(xp, (G, KH * Cg, rows * Wp * N), gT.dtype)
        products.matmul(xp, w2, shifted.reshape(G, Mg * KW, -1), product)
        product = product.reshape(G, KH, Cg, rows, Wp, N)
        for i in range(KH):
            first = i * geo.dh + geo.sh * r0
            target = per_group[:, :, first:first + geo.sh * (rows - 1) + 1:geo.sh]
            xp.add(target, product[:, i], out=target)
    return dsrc


def input_grad_by_col2im(xp, gT, w, geo: ConvGeometry):
    """dL/dx, padded and batch-last ``(C, Hp, Wp, N)``, for any stride: the whole matrix
    ``w.T @ g`` ``(G, K, L)``, folded back by :func:`.im2col.col2im`."""
    dcols = ws.empty(xp, (geo.G, geo.K, geo.L), gT.dtype)
    xp.matmul(w.reshape(geo.G, geo.Mg, -1).transpose(0, 2, 1),
              gT.reshape(geo.G, geo.Mg, -1), out=dcols)
    return col2im(xp, dcols, geo)


# ----------------------------------------------------------------------------- the op


class Conv2dOp(Function):
    """z[n, m] = b[m] + sum_{c, i, j} w[m, c, i, j] x[n, c, s*oh + d*i - p, s*ow + d*j - p].

    Gradients: dL/dw = g @ cols.T, dL/db = sum of g over (N, OH, OW), dL/dx = col2im of
    w.T @ g. The bias ``b`` may be None. Arguments are validated by
    :func:`tinygrad_cnn.nn.functional.conv2d`. The output is batch-last in memory.
    ``ctx.saved`` is ``(path, w)``: the :class:`WholeIm2col` or :class:`BlockedIm2col`
    record of forward, and the weight for the input gradient.
    """

    def forward(ctx, x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        xp = xp_of(x)
        geo = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
        result = ws.batch_last(xp, (geo.N, geo.M, geo.OH, geo.OW), x.dtype)
        out = result.transpose(1, 2, 3, 0)  # (M, OH, OW, N): contiguous, the products' shape
        bias_row = b is not None
        path = WholeIm2col if ctx.needs_input_grad[0] else BlockedIm2col
        record = path.forward(xp, x, filters_with_bias(xp, w, b, geo), out, geo, bias_row)
        ctx.geometry, ctx.bias_row = geo, bias_row
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(record, w)
        return result

    def backward(ctx, g):
        xp, geo = xp_of(g), ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad
        gT = batch_last_gradient(xp, g)  # (M, OH, OW, N)
        path, w = ctx.saved
        gw = gb = None
        if need_w:  # with the bias's row of ones, the product sums the bias gradient too
            both = path.weight_grad(xp, gT, geo, ctx.bias_row)
            gw = both[..., :geo.K].reshape(w.shape)
            gb = both[..., geo.K].reshape(geo.M) if ctx.bias_row else None
        if need_b and gb is None:
            gb = gT.reshape(geo.M, -1).sum(axis=1)
        if not need_x:
            return None, gw, gb
        input_grad = input_grad_by_rows if geo.sw == 1 else input_grad_by_col2im
        dsrc = input_grad(xp, gT, w, geo)
        # the (N, C, H, W) gradient inside the padded batch-last buffer: a view, no copy
        gx = dsrc[:, geo.ph:geo.ph + geo.H, geo.pw:geo.pw + geo.W].transpose(3, 0, 1, 2)
        return gx, gw, gb
