"""Hypothesis strategies shared by the test modules.

Sizes are kept small on purpose: every drawn case is also checked with float64 finite
differences, which evaluate the op twice per input element.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

# ----------------------------------------------------------------------------- shapes


def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    """Array shapes as tuples."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)


@st.composite
def broadcastable_pairs(draw, max_dims=4, max_side=4):
    """Two shapes that broadcast together (size-1 and missing axes on either side)."""
    full = draw(shapes(1, max_dims, 1, max_side))
    pair = []
    for _ in range(2):
        keep = draw(st.integers(0, len(full)))
        tail = full[len(full) - keep:]
        pair.append(tuple(1 if draw(st.booleans()) else n for n in tail))
    return tuple(pair)


@st.composite
def axes(draw, ndim, allow_none=True):
    """None, one axis (possibly negative) or a tuple of distinct axes of an ``ndim``-D array."""
    kind = draw(st.sampled_from(["none", "one", "many"] if allow_none else ["one", "many"]))
    if kind == "none" or ndim == 0:
        return None
    if kind == "one":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(chosen)


# ----------------------------------------------------------------------------- values


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def distinct(shape, seed, gap=0.05):
    """Values at least ``gap`` apart (a shuffled grid plus small noise): no ties, so max
    pooling has one maximum per window even under finite-difference perturbations."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    grid = (rng.permutation(n) - n / 2) * gap
    return (grid + rng.uniform(-gap / 4, gap / 4, n)).reshape(shape)


seeds = st.integers(0, 2**32 - 1)

# ----------------------------------------------------------------------------- conv / pool


def _pairs(low, high):
    return st.tuples(st.integers(low, high), st.integers(low, high))


@st.composite
def conv_geometry(draw, max_batch=2, max_channels=3, max_side=7, max_kernel=3,
                  max_stride=2, max_padding=2, dilation=True, groups=True):
    """Keyword arguments of a valid conv2d whose output is at least 1x1.

    Returns a dict with ``x_shape``, ``w_shape`` and ``stride``, ``padding``,
    ``dilation``, ``groups`` (pairs for the spatial ones).
    """
    g = draw(st.integers(1, 2)) if groups else 1
    cg = draw(st.integers(1, max_channels))
    fg = draw(st.integers(1, max_channels))
    kernel = draw(_pairs(1, max_kernel))
    stride = draw(_pairs(1, max_stride))
    padding = draw(_pairs(0, max_padding))
    dil = draw(_pairs(1, 2)) if dilation else (1, 1)
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dil)]
    size = [draw(st.integers(max(1, r - 2 * p), max(max_side, r - 2 * p)))
            for r, p in zip(reach, padding)]
    return dict(x_shape=(draw(st.integers(1, max_batch)), g * cg, *size),
                w_shape=(g * fg, cg, *kernel), stride=stride, padding=padding,
                dilation=dil, groups=g)


@st.composite
def pool_geometry(draw, max_batch=2, max_channels=3, max_side=7, max_kernel=3, max_stride=3):
    """Keyword arguments of a valid pooling call (padding at most half the kernel, output
    at least 1x1): ``x_shape``, ``kernel_size``, ``stride`` (may be None), ``padding``."""
    kernel = draw(_pairs(1, max_kernel))
    stride = draw(st.one_of(st.none(), _pairs(1, max_stride)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = [draw(st.integers(max(1, k - 2 * p), max(max_side, k - 2 * p)))
            for k, p in zip(kernel, padding)]
    shape = (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), *size)
    return dict(x_shape=shape, kernel_size=kernel, stride=stride, padding=padding)
