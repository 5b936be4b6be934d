"""What the fused ops compute, written with Tensor primitives only.

The fast ops (:mod:`.conv`, :mod:`.pool`, :mod:`.linear`, :mod:`.activation`,
:mod:`.losses`) are built for speed and numerical stability; here is each one again as a
few lines of ``pad``, indexing, ``reshape``, ``@``, ``max``, ``exp`` and ``log``, whose
gradients autograd derives by itself. Read these to learn what a layer does; the tests
check every fast op against its reference twin, value and gradient, on every path the fast
op can take (``tests/test_reference.py``). They are slow: every window is a copy, every
step a graph node with its own temporaries.

One twin per fused op: :func:`conv2d` (and :func:`conv1d`, :func:`avg_pool2d`, which run
on the same ``Conv2dOp``), :func:`max_pool2d`, :func:`linear`, :func:`leaky_relu`,
:func:`softmax`, :func:`log_softmax`, :func:`cross_entropy`, :func:`nll_loss`,
:func:`mse_loss`. Where a fast op arranges its axes for speed, the twin uses the same
axes, so the two read side by side: :func:`patches` is the fast convolution's im2col
matrix, ``(C, KH, KW, OH, OW, N)``, batch last.
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
    """Every window of ``x (N, C, H, W)`` unrolled: ``(C, KH, KW, OH, OW, N)`` (im2col).

    ``patches(x)[c, i, j, oh, ow, n]`` is the pixel of sample ``n`` that tap ``(i, j)`` of
    the window at output position ``(oh, ow)`` sees; padding reads ``fill``. These are the
    axes of the fast convolution's im2col matrix (``nn.conv.im2col.im2col_view``: the
    samples last, because activations lie batch-last in memory), so reshaped to
    ``(C*KH*KW, OH*OW*N)`` it is the very matrix the fast op multiplies. One integer-array
    index, so autograd scatters gradients back to the pixels (adding where windows overlap).
    """
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = map(_pair, (kernel_size, stride, padding,
                                                        dilation))
    N, C, H, W = x.shape
    OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    src = x.pad(((0, 0), (0, 0), (ph, ph), (pw, pw)), value=fill).transpose(1, 2, 3, 0)
    rows = _window_index(OH, KH, sh, dh, x.device).reshape(KH, 1, OH, 1)
    cols = _window_index(OW, KW, sw, dw, x.device).reshape(1, KW, 1, OW)
    return src[:, rows, cols]  # (C, Hp, Wp, N) -> (C, KH, KW, OH, OW, N)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation as im2col and one matrix product per group: each output pixel is
    the dot product of a filter with the window under it."""
    M, Cg, KH, KW = w.shape
    cols = patches(x, (KH, KW), stride, padding, dilation)  # (C, KH, KW, OH, OW, N)
    OH, OW, N = cols.shape[-3:]
    cols = cols.reshape(groups, Cg * KH * KW, OH * OW * N)
    out = w.reshape(groups, M // groups, Cg * KH * KW) @ cols  # (G, M/G, OH*OW*N)
    out = out.reshape(M, OH, OW, N)
    if b is not None:
        out = out + b.reshape(M, 1, 1, 1)
    return out.transpose(3, 0, 1, 2)  # (N, M, OH, OW)


def conv1d(x, w, b=None, stride=1, padding=0):
    """A 1-D cross-correlation over ``(N, C, L)`` is a 2-D one over images of height 1."""
    (N, C, L), (M, Cg, K) = x.shape, w.shape
    out = conv2d(x.reshape(N, C, 1, L), w.reshape(M, Cg, 1, K), b, (1, stride), (0, padding))
    return out.reshape(N, M, out.shape[-1])


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The largest value of each window; ``max`` sends the gradient to the first maximum
    of the window in row-major order, as the fast op and PyTorch do."""
    stride = kernel_size if stride is None else stride
    windows = patches(x, kernel_size, stride, padding, fill=-np.inf)
    return windows.max(axis=(1, 2)).transpose(3, 0, 1, 2)  # (C, OH, OW, N) -> (N, C, OH, OW)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean of each window, zero padding included (PyTorch's default)."""
    stride = kernel_size if stride is None else stride
    return patches(x, kernel_size, stride, padding).mean(axis=(1, 2)).transpose(3, 0, 1, 2)


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


def _reduce(losses, reduction):
    """One loss per sample (``"none"``), their sum, or their mean."""
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def nll_loss(log_probs, target, reduction="mean"):
    """``-log p(true class)`` of each sample, read from log-probabilities ``(N, C)``."""
    rows = np.arange(log_probs.shape[0])
    return _reduce(-log_probs[rows, Tensor(target, device=log_probs.device)], reduction)


def cross_entropy(logits, target, reduction="mean"):
    """The negative log-likelihood of the true class under ``softmax(logits)``."""
    return nll_loss(log_softmax(logits, axis=1), target, reduction)


def mse_loss(x, y, reduction="mean"):
    """The squared difference of each element, or their sum or mean."""
    return _reduce((x - y) ** 2, reduction)
