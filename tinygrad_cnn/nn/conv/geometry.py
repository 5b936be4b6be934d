"""The sizes of a convolution, and how its output is cut into blocks.

Pure arithmetic on shapes, no arrays: what the kernels of :mod:`.im2col` and the op of
:mod:`.op` compute *with*. Every size travels as one :class:`ConvGeometry` named tuple, so
no function takes a dozen positional integers, and a piece of the output is a
:class:`Block`.

Why blocks: when the input needs no gradient (inference, a network's first layer) the
im2col matrix is never needed whole, so it is built and used a block of output positions at
a time, each small enough to stay in the cache. A batch of 1,000 digits would otherwise
build a 90 MB matrix for LeNet-5's conv1 and stream it through memory twice.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ... import backend


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
        """Rows of the zero-padded input."""
        return self.H + 2 * self.ph

    @property
    def Wp(self) -> int:
        """Columns of the zero-padded input."""
        return self.W + 2 * self.pw

    @property
    def K(self) -> int:
        """Rows of one group's im2col matrix: the taps of one filter, ``Cg*KH*KW``."""
        return self.Cg * self.KH * self.KW

    @property
    def Mg(self) -> int:
        """Filters per group."""
        return self.M // self.G

    @property
    def L(self) -> int:
        """Columns of the im2col matrix: output rows x output columns x samples."""
        return self.OH * self.OW * self.N


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups) -> ConvGeometry:
    """The :class:`ConvGeometry` of input ``x_shape`` and weight ``w_shape``, with
    ``stride``, ``padding`` and ``dilation`` as pairs (checked by
    :func:`tinygrad_cnn.nn.functional.conv2d`)."""
    N, C, H, W = x_shape
    M, Cg, KH, KW = w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    return ConvGeometry(N, C, H, W, M, Cg, KH, KW, sh, sw, ph, pw, dh, dw, groups, OH, OW)


class Block(NamedTuple):
    """Output rows ``[r0, r1)`` and columns ``[c0, c1)`` of samples ``[s0, s1)``: one piece
    of a blocked im2col.

    The invariant: either the columns are all ``OW`` of them or the rows are one, so that
    the piece's output, when it holds every sample, is one contiguous run per filter of the
    batch-last output ``(M, OH, OW, N)``, and the matrix product writes it in place (which
    :func:`tinygrad_cnn.nn.conv.im2col.reshaped_view` checks).
    """

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
    samples = even_step(N, budget // per_position)
    positions = budget // (per_position * samples)
    if positions >= OW:
        rows, columns = even_step(OH, positions // OW), OW
    else:
        rows, columns = 1, even_step(OW, positions)
    return [Block(r, min(r + rows, OH), c, min(c + columns, OW), s, min(s + samples, N))
            for s in range(0, N, samples) for r in range(0, OH, rows)
            for c in range(0, OW, columns)]


def even_step(total: int, most: int) -> int:
    """The step that cuts ``total`` into as few about equal runs of at most ``most`` (at
    least 1) as possible: 28 rows at most 20 a run go as 14 + 14, not 20 + 8."""
    if total <= 1:
        return 1
    return math.ceil(total / math.ceil(total / max(1, min(most, total))))
