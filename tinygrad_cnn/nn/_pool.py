"""Max and average pooling, computed separably: first along the width, then the height.

A ``KH x KW`` window reduction is a ``KW``-wide reduction of every row followed by a
``KH``-high reduction of those results, so a pass costs ``KW + KH`` whole-array operations
on strided slices (long inner loops) instead of ``KH * KW``. For the common non-overlapping
case (kernel == stride) the slices are exactly the axes of the
``(N, C, OH, KH, OW, KW)`` reshape of the input; no copy of the input is made at all
unless padding is needed. (Reducing that 6-D reshape with ``max(axis=(3, 5))`` is an
order of magnitude slower in NumPy, because its inner loops are ``KW`` elements long.)

Max pooling keeps, per pass, the index of the first maximum (a strict ``>`` comparison
never replaces an earlier equal value), so the window gradient goes to the first maximum
in row-major order, as in PyTorch: the first row whose maximum is the window maximum,
and the first column of that row holding it.
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from . import _workspace as ws


def _xp(array):
    return backend.array_module(backend.device_of(array))


def _windows(size_out: int, kernel: int, stride: int):
    """Slices picking offset ``k`` of every window along one axis."""
    return [slice(k, k + stride * (size_out - 1) + 1, stride) for k in range(kernel)]


def _pad(xp, x, ph, pw, value):
    """``x`` itself when there is no padding, else a padded copy filled with ``value``."""
    if not ph and not pw:
        return x
    N, C, H, W = x.shape
    buf = ws.empty(xp, (N, C, H + 2 * ph, W + 2 * pw), x.dtype)
    buf.fill(value)
    buf[:, :, ph:ph + H, pw:pw + W] = x
    return buf


def _first_max(xp, views):
    """Elementwise maximum over ``views`` and the index (uint8) of the first view holding it."""
    if len(views) == 1:
        return views[0].copy(), xp.zeros(views[0].shape, dtype=xp.uint8)
    better = views[1] > views[0]  # strict: a tie keeps the earlier index
    out = xp.maximum(views[0], views[1], out=ws.empty(xp, views[0].shape, views[0].dtype))
    if len(views) == 2:
        return out, better.view(xp.uint8)
    idx = better.astype(xp.uint8)
    for k, v in enumerate(views[2:], start=2):
        better = xp.greater(v, out, out=better)
        xp.maximum(out, v, out=out)
        # k exceeds every earlier index, so max(idx, better * k) is "k where better"
        xp.maximum(idx, better.view(xp.uint8) * xp.uint8(k), out=idx)
    return out, idx


def _window_sum(xp, views):
    if len(views) == 1:
        return views[0].copy()
    out = xp.add(views[0], views[1], out=ws.empty(xp, views[0].shape, views[0].dtype))
    for v in views[2:]:
        out += v
    return out


def _scatter(xp, g, target, slices, axis, index, overlap):
    """Send ``g`` to the slice ``slices[k]`` (along ``axis``) of ``target`` for every window
    offset ``k``: all of it (average pooling) or only where ``index == k`` (max pooling).

    Without overlap each target element gets at most one contribution, so it is written in
    place (``out=``) instead of accumulated; ``target`` must then start at zero wherever no
    window reaches.
    """
    views = [target[(slice(None),) * axis + (sl,)] for sl in slices]
    if not overlap:
        if index is None:
            for v in views:
                v[...] = g
        elif len(views) == 2:  # index is 0 or 1: one product, one difference
            xp.multiply(g, index, out=views[1])
            xp.subtract(g, views[1], out=views[0])
        else:
            for k, v in enumerate(views):
                xp.multiply(g, index == k, out=v)
        return
    for k, v in enumerate(views):
        xp.add(v, g if index is None else g * (index == k), out=v)


class MaxPool2d(Function):
    """z[n, c, oh, ow] = max of the window; the gradient goes to its first maximum
    (row-major), as in PyTorch. Padding is filled with -inf, so it is never chosen."""

    def forward(ctx, x, kernel_size, stride, padding):
        xp = _xp(x)
        (KH, KW), (sh, sw), (ph, pw) = kernel_size, stride, padding
        xpad = _pad(xp, x, ph, pw, -xp.inf)
        N, C, Hp, Wp = xpad.shape
        OH, OW = (Hp - KH) // sh + 1, (Wp - KW) // sw + 1
        rows = sh * (OH - 1) + KH  # rows below this belong to no window
        xpad = xpad[:, :, :rows]
        colmax, colidx = _first_max(xp, [xpad[..., s] for s in _windows(OW, KW, sw)])
        out, rowidx = _first_max(xp, [colmax[:, :, s] for s in _windows(OH, KH, sh)])
        ctx.geometry = (KH, KW, sh, sw, ph, pw, OH, OW, rows, Hp, Wp)
        ctx.save_for_backward(colidx, rowidx)
        return out

    def backward(ctx, g):
        colidx, rowidx = ctx.saved
        return _pool_backward(_xp(g), g, ctx, colidx, rowidx)


class AvgPool2d(Function):
    """z = mean of the window, zero padding counted (PyTorch's ``count_include_pad=True``);
    the gradient spreads ``g / (KH*KW)`` over the window."""

    def forward(ctx, x, kernel_size, stride, padding):
        xp = _xp(x)
        (KH, KW), (sh, sw), (ph, pw) = kernel_size, stride, padding
        xpad = _pad(xp, x, ph, pw, 0)
        N, C, Hp, Wp = xpad.shape
        OH, OW = (Hp - KH) // sh + 1, (Wp - KW) // sw + 1
        rows = sh * (OH - 1) + KH
        xpad = xpad[:, :, :rows]
        colsum = _window_sum(xp, [xpad[..., s] for s in _windows(OW, KW, sw)])
        out = _window_sum(xp, [colsum[:, :, s] for s in _windows(OH, KH, sh)])
        out *= out.dtype.type(1.0 / (KH * KW))
        ctx.geometry = (KH, KW, sh, sw, ph, pw, OH, OW, rows, Hp, Wp)
        return out

    def backward(ctx, g):
        KH, KW = ctx.geometry[:2]
        return _pool_backward(_xp(g), g * g.dtype.type(1.0 / (KH * KW)), ctx, None, None)


def _pool_backward(xp, g, ctx, colidx, rowidx):
    """Undo the two passes: rows (through ``rowidx``), then columns (through ``colidx``);
    the indices are None for average pooling, whose ``g`` is already divided by the size."""
    KH, KW, sh, sw, ph, pw, OH, OW, rows, Hp, Wp = ctx.geometry
    N, C = g.shape[:2]
    # rows: (N, C, OH, OW) -> (N, C, rows, OW); with stride == kernel every row is written
    gcol = (ws.empty if sh == KH else ws.zeros)(xp, (N, C, rows, OW), g.dtype)
    _scatter(xp, g, gcol, _windows(OH, KH, sh), 2, rowidx, overlap=sh < KH)
    # columns: (N, C, rows, OW) -> (N, C, Hp, Wp)
    covered = sw == KW and sw * OW == Wp and rows == Hp
    gin = (ws.empty if covered else ws.zeros)(xp, (N, C, Hp, Wp), g.dtype)
    _scatter(xp, gcol, gin[:, :, :rows], _windows(OW, KW, sw), 3, colidx, overlap=sw < KW)
    if ph or pw:
        gin = xp.ascontiguousarray(gin[:, :, ph:Hp - ph, pw:Wp - pw])
    return gin
