"""The matrix a convolution multiplies by: :func:`conv_matrix`.

A convolution is a linear map, so for one sample it is a matrix ``M`` with
``conv(x) == M @ x``: mostly zeros, the kernel's few numbers repeated along its diagonals
(lecture page 2). Building it shows why a convolution is cheap and what weight sharing
means; it is not how :mod:`tinygrad_cnn.nn` computes one.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..checks import int_tuple
from ..tensor import Tensor
from .probing import shape_tuple


def conv_matrix(weight, input_shape, stride=1, padding=0) -> np.ndarray:
    """The dense matrix of a 1-D or 2-D convolution, as ``conv1d`` / ``conv2d`` compute it.

    Deep-learning "convolution" is a cross-correlation, so in 1-D with one channel,
    stride 1 and padding ``p``, ``M[t, tau] = w[tau - t + p]`` (zero outside the kernel).
    The true convolution ``W[t, tau] = w[t - tau]`` is the matrix of the flipped kernel.

    Parameters
    ----------
    weight : Tensor or array_like
        ``(K,)`` or ``(KH, KW)`` for one input and one output channel, or a full
        ``conv1d`` weight ``(out_channels, in_channels, K)`` or ``conv2d`` weight
        ``(out_channels, in_channels, KH, KW)``.
    input_shape : tuple of int
        One sample without the batch axis: ``(L,)`` or ``(C, L)`` in 1-D, ``(H, W)`` or
        ``(C, H, W)`` in 2-D.
    stride, padding : int or tuple of int
        As in ``conv1d`` / ``conv2d``; zero padding adds no columns (it contributes 0).

    Returns
    -------
    numpy.ndarray, shape (out_channels * output size, in_channels * input size)
        Rows are the output flattened in C order ``(out_channel, [row,] column)``, columns
        the input flattened as ``(in_channel, [row,] column)``, so that
        ``conv2d(x, w)[n].reshape(-1) == M @ x[n].reshape(-1)`` for every sample ``n``.
        Its dtype is the weight's (float64 for integer weights).
    """
    w = weight.numpy() if isinstance(weight, Tensor) else np.asarray(backend.to_host(weight))
    if w.dtype.kind not in "biuf":
        raise TypeError(f"conv_matrix: weight must hold numbers, got dtype {w.dtype}")
    if w.dtype.kind != "f":
        w = w.astype(np.float64)
    if w.ndim not in (1, 2, 3, 4):
        raise ValueError(f"conv_matrix: weight must be (K,), (KH, KW), (out, in, K) or "
                         f"(out, in, KH, KW), got shape {w.shape}")
    if w.ndim <= 2:
        w = w.reshape((1, 1) + w.shape)
    spatial = w.ndim - 2
    n_out, n_in, kernel = w.shape[0], w.shape[1], w.shape[2:]
    input_shape = shape_tuple(input_shape, "input_shape")
    layout = "(L,) or (C, L)" if spatial == 1 else "(H, W) or (C, H, W)"
    if len(input_shape) == spatial:
        input_shape = (1,) + input_shape
    if len(input_shape) != spatial + 1:
        raise ValueError(f"conv_matrix: a {spatial}-D kernel (weight shape {w.shape}) needs "
                         f"input_shape {layout}, got {input_shape}")
    if input_shape[0] != n_in:
        raise ValueError(f"conv_matrix: input has {input_shape[0]} channels but weight "
                         f"expects {n_in} (weight shape {w.shape})")
    stride = int_tuple(stride, spatial, "stride", "conv_matrix", 1)
    padding = int_tuple(padding, spatial, "padding", "conv_matrix", 0)
    size = input_shape[1:]
    out_size = tuple((n + 2 * p - k) // s + 1
                     for n, p, k, s in zip(size, padding, kernel, stride))
    if any(o < 1 for o in out_size):
        raise ValueError(f"conv_matrix: kernel {kernel} is larger than the padded input "
                         f"(input {size}, padding {padding})")
    if spatial == 1:  # a height-1 image and a height-1 kernel
        w = w[:, :, None, :]
        size, out_size, kernel = (1,) + size, (1,) + out_size, (1,) + kernel
        stride, padding = (1,) + stride, (0,) + padding
    (H, W), (OH, OW), (KH, KW) = size, out_size, kernel
    # every (output position, kernel offset) pair and the input pixel it reads: (OH, OW, KH, KW)
    oh, ow, kh, kw = np.meshgrid(np.arange(OH), np.arange(OW), np.arange(KH), np.arange(KW),
                                 indexing="ij")
    ih = oh * stride[0] - padding[0] + kh
    iw = ow * stride[1] - padding[1] + kw
    inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)   # padding reads zeros: no entry
    oh, ow, kh, kw, ih, iw = (a[inside] for a in (oh, ow, kh, kw, ih, iw))
    matrix = np.zeros((n_out, OH, OW, n_in, H, W), dtype=w.dtype)
    # one kernel offset per (output, input pixel) pair, so plain assignment places each
    # weight once; the advanced indices come first in the result: (pairs, out, in)
    matrix[:, oh, ow, :, ih, iw] = w[:, :, kh, kw].transpose(2, 0, 1)
    return matrix.reshape(n_out * OH * OW, n_in * H * W)
