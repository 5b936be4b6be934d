"""Max pooling, computed separably: first along the width, then along the height.

What it computes is spelled out with Tensor primitives in :func:`.reference.max_pool2d`.
A ``KH x KW`` window maximum is a ``KW``-wide maximum of every row followed by a
``KH``-high maximum of those results, so a pass costs ``KW + KH`` whole-array operations
on strided slices (long inner loops) instead of ``KH * KW``. For the common non-overlapping
case (kernel == stride) the slices are exactly the axes of the ``(N, C, OH, KH, OW, KW)``
reshape of the input; no copy of the input is made at all unless padding is needed.
(Reducing that 6-D reshape with ``max(axis=(3, 5))`` is an order of magnitude slower in
NumPy, because its inner loops are ``KW`` elements long.)

Each pass keeps the index of the first maximum (a strict ``>`` comparison never replaces an
earlier equal value), so the window gradient goes to the first maximum in row-major order,
as in PyTorch: the first row whose maximum is the window maximum, and the first column of
that row holding it. A NaN counts as above everything and a later NaN replaces an earlier
one (PyTorch's ``val > max || isnan(val)``), so a window holding NaN has the maximum NaN and
sends its gradient to its last NaN in row-major order. The indices, and so that NaN test,
are computed only when the input needs a gradient; inference takes maxima alone. On the
host a 2-wide pass first leaves the NaN test out (two of its four passes) and the whole
pooling runs again with it only when a maximum came out NaN (a NaN in a window always
makes its maximum NaN): 50-60 us less of a 64x6x28x28 pooling's 270-290.

(Average pooling needs no op of its own: it is a convolution with a constant kernel, see
:func:`tinygrad_cnn.nn.functional.avg_pool2d`.)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import workspace as ws
from ..autograd import Function
from ..backend import xp_of


class PoolGeometry(NamedTuple):
    """Window ``KH x KW``, stride, padding; output ``OH x OW``; the padded input
    ``Hp x Wp`` of which only the first ``rows`` rows belong to some window."""

    KH: int
    KW: int
    sh: int
    sw: int
    ph: int
    pw: int
    OH: int
    OW: int
    rows: int
    Hp: int
    Wp: int


def _offset_slices(size_out: int, kernel: int, stride: int):
    """For each offset ``k`` inside a window, the slice picking it in every window."""
    return [slice(k, k + stride * (size_out - 1) + 1, stride) for k in range(kernel)]


def _pad(xp, x, ph, pw, value):
    """``x`` itself when there is no padding, else a padded copy filled with ``value``."""
    if not ph and not pw:
        return x
    N, C, H, W = x.shape
    buf = ws.empty_like(xp, x, (N, C, H + 2 * ph, W + 2 * pw))
    buf.fill(value)
    buf[:, :, ph:ph + H, pw:pw + W] = x
    return buf


def _first_max(xp, views, with_index: bool, nan_aware: bool = True):
    """Elementwise maximum over ``views`` (NaN where one is NaN) and, ``with_index``, the
    index (uint8) of the view holding it: the first maximum, or the last NaN, as PyTorch.
    Without an index (no gradient needed: inference) it is one ``maximum`` per view.
    Without ``nan_aware`` the indices of a window holding NaN may be wrong (its maximum is
    still NaN), which saves two of the four passes of a 2-wide window: for a caller that
    checks the result for NaN and then asks again."""
    first = views[0]
    out = ws.empty_like(xp, first)
    if len(views) == 1 or not with_index:
        if len(views) == 1:
            out[...] = first
        else:
            xp.maximum(first, views[1], out=out)
            for v in views[2:]:
                xp.maximum(out, v, out=out)
        if not with_index:
            return out, None
        index = ws.empty_like(xp, first, dtype=xp.uint8)
        index.fill(0)
        return out, index
    # The index moves to v where v > the maximum so far (strict: a tie keeps the earlier
    # index) or v is NaN: PyTorch's `val > max || isnan(val)`. Nothing is greater than a
    # NaN maximum, so a window holding NaN keeps its last NaN.
    better = xp.greater(views[1], first, out=ws.empty_like(xp, first, dtype=bool))
    if len(views) == 2 and not nan_aware:
        return xp.maximum(first, views[1], out=out), better.view(xp.uint8)
    nan = xp.isnan(views[1], out=ws.empty_like(xp, first, dtype=bool))
    xp.logical_or(better, nan, out=better)
    xp.maximum(first, views[1], out=out)
    if len(views) == 2:
        return out, better.view(xp.uint8)
    idx = better.astype(xp.uint8)
    for k, v in enumerate(views[2:], start=2):
        xp.greater(v, out, out=better)
        xp.logical_or(better, xp.isnan(v, out=nan), out=better)
        xp.maximum(out, v, out=out)
        # k exceeds every earlier index, so max(idx, better * k) is "k where better"
        xp.maximum(idx, better.view(xp.uint8) * xp.uint8(k), out=idx)
    return out, idx


def _scatter(xp, g, target, slices, axis, index, overlap):
    """Send ``g`` to the slice ``slices[k]`` (along ``axis``) of ``target`` where
    ``index == k``, for every window offset ``k``.

    Without overlap each target element gets at most one contribution, so it is written in
    place (``out=``) instead of accumulated; ``target`` must then start at zero wherever no
    window reaches.
    """
    views = [target[(slice(None),) * axis + (sl,)] for sl in slices]
    if overlap:
        for k, v in enumerate(views):
            xp.add(v, g * (index == k), out=v)
    elif len(views) == 2:  # index is 0 or 1: one product, one difference
        xp.multiply(g, index, out=views[1])
        xp.subtract(g, views[1], out=views[0])
    else:
        for k, v in enumerate(views):
            xp.multiply(g, index == k, out=v)


class MaxPool2dOp(Function):
    """z[n, c, oh, ow] = max of the window; the gradient goes to its first maximum
    (row-major), or its last NaN, as in PyTorch. Padding is filled with -inf, so it is never
    chosen."""

    def forward(ctx, x, kernel_size, stride, padding):
        xp = xp_of(x)
        (KH, KW), (sh, sw), (ph, pw) = kernel_size, stride, padding
        xpad = _pad(xp, x, ph, pw, -xp.inf)
        Hp, Wp = xpad.shape[2:]
        OH, OW = (Hp - KH) // sh + 1, (Wp - KW) // sw + 1
        rows = sh * (OH - 1) + KH  # rows below this belong to no window
        xpad = xpad[:, :, :rows]
        grad = ctx.needs_input_grad[0]  # the indices are only for the gradient
        columns = [xpad[..., s] for s in _offset_slices(OW, KW, sw)]

        def both_passes(nan_aware):  # along the width, then along the height
            colmax, colidx = _first_max(xp, columns, grad, nan_aware)
            rows_of = [colmax[:, :, s] for s in _offset_slices(OH, KH, sh)]
            return (colidx,) + _first_max(xp, rows_of, grad, nan_aware)

        # on the host, a 2-wide pass first as if no window held NaN, and both passes again
        # the careful way if a maximum is NaN; on a GPU that test would wait for the device
        hopeful = grad and xp is np and 2 in (KW, KH)
        colidx, out, rowidx = both_passes(nan_aware=not hopeful)
        if hopeful and out.size and np.isnan(np.max(out)):
            colidx, out, rowidx = both_passes(nan_aware=True)
        ctx.geometry = PoolGeometry(KH, KW, sh, sw, ph, pw, OH, OW, rows, Hp, Wp)
        if grad:
            ctx.save_for_backward(colidx, rowidx)
        return out

    def backward(ctx, g):
        """Undo the two passes: rows (through ``rowidx``), then columns (``colidx``)."""
        colidx, rowidx = ctx.saved
        xp, geo = xp_of(g), ctx.geometry
        N, C = g.shape[:2]
        if ws.memory_order(g) != ws.memory_order(rowidx):
            # laid out as the saved indices are (batch-last after a batch-last forward), so
            # that the passes below run over both in memory order
            aligned = ws.empty_like(xp, rowidx, dtype=g.dtype)
            aligned[...] = g
            g = aligned
        # rows: (N, C, OH, OW) -> (N, C, rows, OW); with stride == kernel every row is written
        gcol = ws.empty_like(xp, colidx, (N, C, geo.rows, geo.OW), g.dtype)
        if geo.sh != geo.KH:
            gcol.fill(0)
        _scatter(xp, g, gcol, _offset_slices(geo.OH, geo.KH, geo.sh), 2, rowidx,
                 overlap=geo.sh < geo.KH)
        # columns: (N, C, rows, OW) -> (N, C, Hp, Wp)
        covered = geo.sw == geo.KW and geo.sw * geo.OW == geo.Wp and geo.rows == geo.Hp
        gin = ws.empty_like(xp, colidx, (N, C, geo.Hp, geo.Wp), g.dtype)
        if not covered:
            gin.fill(0)
        _scatter(xp, gcol, gin[:, :, :geo.rows], _offset_slices(geo.OW, geo.KW, geo.sw), 3,
                 colidx, overlap=geo.sw < geo.KW)
        return gin[:, :, geo.ph:geo.Hp - geo.ph, geo.pw:geo.Wp - geo.pw]
