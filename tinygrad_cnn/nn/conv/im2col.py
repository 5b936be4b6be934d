"""The im2col kernels of the convolution: moving values between the image layout and the
matrix layout, and nothing else (the matrix products are in :mod:`.op`).

Activations lie *batch-last* in memory (see :func:`tinygrad_cnn.workspace.batch_last`), so
the input is seen as ``src (C, Hp, Wp, N)`` (channel, padded row, padded column, sample):

* :func:`padded_source` gives that array, the input itself when it already lies so and
  needs no padding (the output of an earlier convolution or pooling layer), else one
  zero-padded copy;
* :func:`im2col_view` is the im2col matrix as a strided view of ``src``, of shape
  ``(C, KH, KW, OH, OW, N)``; with stride 1 along the width each ``(c, i, j, oh)`` is one
  contiguous run of ``OW*N`` values, so the copy :func:`im2col` makes of it (or of a block
  of it) reads long runs and computes no column that is thrown away;
* :func:`col2im` is the adjoint of im2col: it adds a gradient in matrix layout back into
  the padded image layout with ``KH*KW`` strided additions, never ``add.at``.

:func:`reshaped_view` is the one place that makes a write land in another array through
``reshape``; it fails loudly if the reshape had to copy.
"""

from __future__ import annotations

from ... import workspace as ws
from .geometry import ConvGeometry


def reshaped_view(xp, array, shape):
    """``array.reshape(shape)``, checked to be a view of ``array``, for writes that must land
    in ``array``.

    ``reshape`` silently returns a copy when the strides allow no view, and a write into
    that copy is lost: an output block would stay unwritten, with no error. A copy is a
    fresh allocation, which never overlaps the live ``array``, so overlapping memory bounds
    (``may_share_memory``) prove a view here. That test is a few integer operations on the
    host in both NumPy and CuPy; ``shares_memory`` would be no more exact for this question,
    and CuPy computes it with a kernel over every element and a synchronisation.
    """
    view = array.reshape(shape)
    if view.size and not xp.may_share_memory(view, array):
        raise AssertionError(f"conv: reshaping {array.shape} (strides {array.strides}) to "
                             f"{tuple(shape)} made a copy, so a write into it would be lost "
                             f"(a Block that breaks its invariant?)")
    return view


def padded_source(xp, x, geo: ConvGeometry):
    """``x (N, C, H, W)`` as ``(C, Hp, Wp, N)``: ``x`` itself when it lies so in memory and
    needs no padding, else a zero-padded batch-last copy."""
    view = x.transpose(1, 2, 3, 0)
    if not (geo.ph or geo.pw) and view.flags.c_contiguous:
        return view
    buf = (ws.zeros if geo.ph or geo.pw else ws.empty)(xp, (geo.C, geo.Hp, geo.Wp, geo.N),
                                                       x.dtype)
    buf[:, geo.ph:geo.ph + geo.H, geo.pw:geo.pw + geo.W] = view
    return buf


def im2col_view(xp, src, geo: ConvGeometry):
    """The im2col matrix of ``src (C, Hp, Wp, N)`` as a strided view of it, of shape
    ``(C, KH, KW, OH, OW, N)``: element ``(c, i, j, oh, ow, n)`` is
    ``src[c, sh*oh + dh*i, sw*ow + dw*j, n]``; with stride 1 along the width its runs of
    ``OW*N`` values are contiguous."""
    sc, sr, sx, sn = src.strides
    return xp.lib.stride_tricks.as_strided(
        src, shape=(geo.C, geo.KH, geo.KW, geo.OH, geo.OW, geo.N),
        strides=(sc, geo.dh * sr, geo.dw * sx, geo.sh * sr, geo.sw * sx, sn))


def im2col(xp, view, geo: ConvGeometry, rows=slice(None), columns=slice(None),
           bias_row: bool = False, previous=None):
    """The im2col matrix ``(G, K, positions*N)`` of the output ``rows`` and ``columns``
    (``K = Cg*KH*KW``): a copy of that part of :func:`im2col_view`.

    With ``bias_row``, a row of ones follows each group's ``K`` rows: a bias then rides
    along in the matrix products (forward adds it, the weight gradient's product sums the
    bias gradient) instead of costing a pass over the output each. ``previous``, the
    matrix of the block before, is refilled when it has the right size (a loop over dozens
    of blocks spends much of its time in per-call overhead).
    """
    part = view[:, :, :, rows, columns]
    K = geo.K
    size = part[0, 0, 0].size
    cols = previous
    if cols is None or cols.shape[-1] != size:
        cols = ws.empty(xp, (geo.G, K + bias_row, size), view.dtype)
        if bias_row:  # written once per buffer: the blocks only rewrite the rows above it
            cols[:, K] = 1
    split = (geo.G, geo.Cg) + part.shape[1:]  # (G, Cg, KH, KW, rows, columns, N)
    reshaped_view(xp, cols[:, :K], split)[...] = part.reshape(split)
    return cols


def col2im(xp, dcols, geo: ConvGeometry):
    """Add each kernel offset's slice of ``dcols (C, KH, KW, OH, OW, N)`` into the padded
    batch-last input gradient ``(C, Hp, Wp, N)``: ``KH*KW`` strided in-place additions
    (overlapping windows add up, which is why this is not one assignment)."""
    dcols = dcols.reshape(geo.C, geo.KH, geo.KW, geo.OH, geo.OW, geo.N)
    dsrc = ws.zeros(xp, (geo.C, geo.Hp, geo.Wp, geo.N), dcols.dtype)
    for i in range(geo.KH):
        rows = slice(i * geo.dh, i * geo.dh + geo.sh * (geo.OH - 1) + 1, geo.sh)
        for j in range(geo.KW):
            columns = slice(j * geo.dw, j * geo.dw + geo.sw * (geo.OW - 1) + 1, geo.sw)
            target = dsrc[:, rows, columns]  # basic slicing: always a view
            xp.add(target, dcols[:, i, j], out=target)
    return dsrc


def batch_last_gradient(xp, g):
    """``g (N, M, OH, OW)`` as a contiguous ``(M, OH, OW, N)`` array: ``g`` itself when it
    already lies so (the gradient from a batch-last ReLU or pooling layer), else a copy."""
    view = g.transpose(1, 2, 3, 0)
    if view.flags.c_contiguous:
        return view
    copy = ws.batch_last(xp, g.shape, g.dtype)
    copy[...] = g
    return copy.transpose(1, 2, 3, 0)
