"""What the fused ops compute, written with Tensor primitives only.

The fast ops (:mod:`.conv`, :mod:`.pool`, :mod:`.linear`, :mod:`.losses`) are built for
speed and numerical stability; here is each one again as a few lines of ``pad``, indexing,
``reshape``, ``@``, ``max``, ``exp`` and ``log``, whose gradients autograd derives by
itself. Read these to learn what a layer does; the tests check every fast op against its
reference twin, value and gradient. They are slow: every window is a copy, every step a
graph node with its own temporaries.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .conv import out_size


def _pair(value) -> tuple:
    return (value, value) if isinstance(value, int) else tuple(value)


def _window_index(size_out, kernel, stride, dilation, device):
    """Row (or column) ``stride*o + dilation*k`` that tap ``k`` of window ``o`` reads."""
    return Tensor(np.arange(kernel)[:, None] * dilation + np.arange(size_out)[None] * stride,
                  device=device)


def patches(x, kernel_size, stride=1, padding=0, dilation=1, fill=0.0):
    """Every window of ``x (N, C, H, W)`` unrolled: ``(N, C, KH, KW, OH, OW)`` (im2col).

    ``patches(x)[n, c, i, j, oh, ow]`` is the input pixel that tap ``(i, j)`` of the window
    at output position ``(oh, ow)`` sees; padding reads ``fill``. One integer-array index,
    so autograd scatters gradients back to the pixels (adding where windows overlap).
    """
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = map(_pair, (kernel_size, stride, padding,
                                                        dilation))
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    x = x.pad(((0, 0), (0, 0), (ph, ph), (pw, pw)), value=fill)
    rows = _window_index(OH, KH, sh, dh, x.device).reshape(KH, 1, OH, 1)
    cols = _window_index(OW, KW, sw, dw, x.device).reshape(1, KW, 1, OW)
    return x[:, :, rows, cols]


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation as im2col and one matrix product: each output pixel is the dot
    product of a filter with the window under it."""
    N, C = x.shape[:2]
    M, Cg, KH, KW = w.shape
    cols = patches(x, (KH, KW), stride, padding, dilation)  # (N, C, KH, KW, OH, OW)
    OH, OW = cols.shape[-2:]
    cols = cols.reshape(N, groups, Cg * KH * KW, OH * OW)
    out = w.reshape(groups, M // groups, Cg * KH * KW) @ cols  # (N, G, M/G, OH*OW)
    out = out.reshape(N, M, OH, OW)
    return out if b is None else out + b.reshape(1, M, 1, 1)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The largest value of each window; ``max`` sends the gradient to the first maximum
    of the window in row-major order, as the fast op and PyTorch do."""
    stride = kernel_size if stride is None else stride
    return patches(x, kernel_size, stride, padding, fill=-np.inf).max(axis=(2, 3))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean of each window, zero padding included (PyTorch's default)."""
    stride = kernel_size if stride is None else stride
    return patches(x, kernel_size, stride, padding).mean(axis=(2, 3))


def linear(x, w, b=None):
    """``x @ w.T + b``: every output feature is a weighted sum of all input features."""
    out = x @ w.T
    return out if b is None else out + b


def leaky_relu(x, negative_slope=0.01):
    """``relu(x) - slope * relu(-x)``: the positive part, plus a sloped negative part."""
    return x.relu() - negative_slope * (-x).relu()


def log_softmax(x, axis=-1):
    """``x - log(sum(exp(x)))``. The maximum is subtracted first only to keep ``exp`` in
    range; it cancels out, so no gradient needs to flow through it."""
    shifted = x - x.detach().max(axis=axis, keepdims=True)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))``: positive values that sum to one along ``axis``."""
    e = (x - x.detach().max(axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def cross_entropy(logits, target):
    """The mean over samples of ``-log p(true class)`` under ``softmax(logits)``."""
    rows = np.arange(logits.shape[0])
    return -log_softmax(logits, axis=1)[rows, Tensor(target, device=logits.device)].mean()


def mse_loss(x, y):
    """The mean squared difference."""
    return ((x - y) ** 2).mean()
