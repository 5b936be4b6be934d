"""Stateless neural-network operations, with PyTorch's names and signatures.

Each function validates its arguments in the user's terms (shapes, channel counts, the
weight's shape) and then applies one fused ``Function``: :class:`~.conv.Conv2d`,
:class:`~._pool.MaxPool2d`, :class:`~._pool.AvgPool2d`, :class:`~._dense.Linear`,
:class:`~._dense.Dropout`, :class:`~._loss.Softmax`, :class:`~._loss.LogSoftmax`,
:class:`~._loss.CrossEntropy`, :class:`~._loss.NLLLoss`, :class:`~._loss.MSELoss`.
"""

from __future__ import annotations

import numbers

from .. import backend
from ..tensor import Tensor
from ._dense import Dropout, Linear
from ._loss import CrossEntropy, LogSoftmax, MSELoss, NLLLoss, Softmax
from ._pool import AvgPool2d, MaxPool2d
from .conv import Conv2d

__all__ = [
    "avg_pool2d", "conv1d", "conv2d", "cross_entropy", "dropout", "linear", "log_softmax",
    "max_pool2d", "mse_loss", "nll_loss", "relu", "sigmoid", "softmax", "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- checks

def _tensor(value, op: str, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    return value


def _floating(t: Tensor, op: str, name: str) -> None:
    if t.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point, got {t.dtype}")


def _same_dtype(op: str, *named) -> None:
    dtypes = {t.dtype for _, t in named if t is not None}
    if len(dtypes) > 1:
        listed = ", ".join(f"{name} is {t.dtype}" for name, t in named if t is not None)
        raise TypeError(f"{op}: all operands need one dtype, but {listed}")


def _ints(value, n: int, op: str, name: str, minimum: int) -> tuple:
    """``value`` (an int or a sequence of ``n`` ints) as an ``n``-tuple, each >= minimum."""
    items = (value,) * n if isinstance(value, numbers.Integral) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if len(items) != n or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum
            for v in items):
        what = "a positive int" if minimum > 0 else "a non-negative int"
        pair = "" if n == 1 else f" or a sequence of {n} of them"
        raise ValueError(f"{op}: {name} must be {what}{pair}, got {value!r}")
    return tuple(int(v) for v in items)


def _size(dims) -> str:
    return "x".join(str(d) for d in dims)


def _check_reduction(op: str, reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# ----------------------------------------------------------------------------- convolution

def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : Tensor (N, C, H, W)
    w : Tensor (out_channels, C / groups, KH, KW)
    b : Tensor (out_channels,), optional
    stride, padding, dilation : int or pair of ints
        Zero ``padding`` on each side of both spatial axes.
    groups : int
        Split the channels into ``groups`` independent convolutions.

    Returns
    -------
    Tensor (N, out_channels, OH, OW) with ``OH = (H + 2 p - d (KH - 1) - 1) // s + 1``.
    """
    return _conv("conv2d", x, w, b, stride, padding, dilation, groups, spatial=2)


def conv1d(x, w, b=None, stride=1, padding=0) -> Tensor:
    """1-D cross-correlation over (N, C, L) with weight (out_channels, C, K), computed as a
    height-1 :func:`conv2d`; returns (N, out_channels, OL)."""
    return _conv("conv1d", x, w, b, stride, padding, 1, 1, spatial=1)


def _conv(op, x, w, b, stride, padding, dilation, groups, spatial):
    x, w = _tensor(x, op, "input"), _tensor(w, op, "weight")
    layout = "(N, C, H, W)" if spatial == 2 else "(N, C, L)"
    if x.ndim != spatial + 2:
        raise ValueError(f"{op}: expected a {spatial + 2}-D input {layout}, got shape "
                         f"{x.shape} ({x.ndim}-D)")
    if w.ndim != spatial + 2:
        kernel = "KH, KW" if spatial == 2 else "K"
        raise ValueError(f"{op}: expected a {spatial + 2}-D weight (out_channels, "
                         f"in_channels, {kernel}), got shape {w.shape}")
    _floating(x, op, "input")
    _floating(w, op, "weight")
    if b is not None:
        _tensor(b, op, "bias")
    _same_dtype(op, ("input", x), ("weight", w), ("bias", b))
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    stride = _ints(stride, spatial, op, "stride", 1)
    padding = _ints(padding, spatial, op, "padding", 0)
    dilation = _ints(dilation, spatial, op, "dilation", 1)
    C, F, Cg = x.shape[1], w.shape[0], w.shape[1]
    if C != Cg * groups:
        expects = Cg if groups == 1 else f"{Cg} x groups={groups} = {Cg * groups}"
        raise ValueError(f"{op}: input has {C} channels but weight expects {expects} "
                         f"(weight shape {w.shape})")
    if F % groups:
        raise ValueError(f"{op}: weight has {F} output channels, not divisible by "
                         f"groups={groups} (weight shape {w.shape})")
    if b is not None and b.shape != (F,):
        raise ValueError(f"{op}: bias has shape {b.shape} but weight has {F} output "
                         f"channels (weight shape {w.shape}); expected bias shape ({F},)")
    size, kernel = x.shape[2:], w.shape[2:]
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(r > n for r, n in zip(reach, padded)):
        dilated = "" if reach == kernel else f" (dilated to {_size(reach)})"
        raise ValueError(f"{op}: kernel {_size(kernel)}{dilated} is larger than the padded "
                         f"input {_size(padded)} (input {_size(size)}, padding "
                         f"{_size(padding)})")
    if spatial == 1:  # a height-1 image and a height-1 kernel
        N, L = x.shape[0], x.shape[2]
        out = _conv2d_apply(x.reshape(N, C, 1, L), w.reshape(F, Cg, 1, kernel[0]), b,
                            (1,) + stride, (0,) + padding, (1,) + dilation, groups)
        return out.reshape(N, F, out.shape[-1])
    return _conv2d_apply(x, w, b, stride, padding, dilation, groups)


def _conv2d_apply(x, w, b, stride, padding, dilation, groups):
    tensors = (x, w) if b is None else (x, w, b)
    return Conv2d.apply(*tensors, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, kernel_size=tuple(w.shape[2:]))


# ----------------------------------------------------------------------------- pooling

def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Maximum over each window, as ``torch.nn.functional.max_pool2d``.

    ``kernel_size``, ``stride`` (default: ``kernel_size``) and ``padding`` are ints or
    pairs; windows may overlap. Padding counts as -inf. The gradient of each window goes
    to its first maximum in row-major order, as in PyTorch.
    """
    return _pool("max_pool2d", MaxPool2d, x, kernel_size, stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over each window, as ``torch.nn.functional.avg_pool2d`` with its default
    ``count_include_pad=True``: zero padding counts towards the window size."""
    return _pool("avg_pool2d", AvgPool2d, x, kernel_size, stride, padding)


def _pool(op, fn, x, kernel_size, stride, padding):
    x = _tensor(x, op, "input")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape} "
                         f"({x.ndim}-D)")
    _floating(x, op, "input")
    kernel = _ints(kernel_size, 2, op, "kernel_size", 1)
    stride = kernel if stride is None else _ints(stride, 2, op, "stride", 1)
    padding = _ints(padding, 2, op, "padding", 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {_size(padding)} must be at most half the kernel "
                         f"size {_size(kernel)}")
    size = x.shape[2:]
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    if any(k > n for k, n in zip(kernel, padded)):
        raise ValueError(f"{op}: kernel {_size(kernel)} is larger than the padded input "
                         f"{_size(padded)} (input {_size(size)}, padding {_size(padding)})")
    return fn.apply(x, kernel_size=kernel, stride=stride, padding=padding)


# ----------------------------------------------------------------------------- dense layers

def linear(x, w, b=None) -> Tensor:
    """``x @ w.T + b`` for weight (out_features, in_features), as one graph node."""
    x, w = _tensor(x, "linear", "input"), _tensor(w, "linear", "weight")
    if w.ndim != 2:
        raise ValueError(f"linear: expected a 2-D weight (out_features, in_features), got "
                         f"shape {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        got = "a 0-d input" if x.ndim == 0 else f"{x.shape[-1]} features"
        raise ValueError(f"linear: input has {got} but weight expects {w.shape[1]} "
                         f"(weight shape {w.shape})")
    _floating(x, "linear", "input")
    if b is not None:
        _tensor(b, "linear", "bias")
        if b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias has shape {b.shape} but weight has {w.shape[0]} "
                             f"outputs (weight shape {w.shape})")
    _same_dtype("linear", ("input", x), ("weight", w), ("bias", b))
    return Linear.apply(x, w) if b is None else Linear.apply(x, w, b)


def dropout(x, p=0.5, training=True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The mask is drawn on ``x``'s device from the library's generator
    (``tinygrad_cnn.manual_seed`` makes it repeatable). Outside training, or with
    ``p == 0``, ``x`` is returned unchanged.
    """
    x = _tensor(x, "dropout", "input")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0:
        return x
    _floating(x, "dropout", "input")
    return Dropout.apply(x, p=float(p))


# ----------------------------------------------------------------------------- activations

def relu(x) -> Tensor:
    """max(x, 0); its gradient at 0 is 0, as in PyTorch."""
    return _tensor(x, "relu", "input").relu()


def sigmoid(x) -> Tensor:
    """1 / (1 + exp(-x)), without overflow for large ``|x|``."""
    return _tensor(x, "sigmoid", "input").sigmoid()


def tanh(x) -> Tensor:
    return _tensor(x, "tanh", "input").tanh()


def _axis(op, x, axis):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not (
            -x.ndim <= axis < max(x.ndim, 1)):
        raise ValueError(f"{op}: axis {axis!r} is out of range for a tensor of shape {x.shape}")
    return int(axis) % max(x.ndim, 1)


def softmax(x, axis=-1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed after subtracting the maximum."""
    x = _tensor(x, "softmax", "input")
    _floating(x, "softmax", "input")
    return Softmax.apply(x, axis=_axis("softmax", x, axis))


def log_softmax(x, axis=-1) -> Tensor:
    """log(softmax(x)) along ``axis`` in one stable step (no log of a rounded-off 0)."""
    x = _tensor(x, "log_softmax", "input")
    _floating(x, "log_softmax", "input")
    return LogSoftmax.apply(x, axis=_axis("log_softmax", x, axis))


# ----------------------------------------------------------------------------- losses

def _target(op, target, scores, name):
    """``target`` as an integer Tensor on ``scores``' device, checked against (N, C)."""
    if not isinstance(target, Tensor):
        target = Tensor(target, device=scores.device)
    elif target.device != scores.device:
        target = target.to(scores.device)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype} "
                        f"(convert it with .astype(np.int64))")
    if scores.ndim != 2:
        raise ValueError(f"{op}: expected {name} of shape (N, C), got {scores.shape}")
    N, C = scores.shape
    if target.shape != (N,):
        raise ValueError(f"{op}: target has shape {target.shape} but {name} have batch size "
                         f"{N} ({name} shape {scores.shape}); expected target shape ({N},)")
    if N:
        lo, hi = (int(v) for v in backend.to_host(
            backend.array_module(target.device).stack([target.data.min(), target.data.max()])))
        bad = lo if lo < 0 else hi if hi >= C else None
        if bad is not None:
            raise ValueError(f"{op}: target value {bad} is out of range for {C} classes "
                             f"(valid: 0 to {C - 1})")
    return target


def cross_entropy(logits, target, reduction="mean") -> Tensor:
    """Log-softmax and negative log-likelihood in one stable node.

    Parameters
    ----------
    logits : Tensor (N, C)
    target : Tensor or array (N,) of integer class indices in [0, C)
    reduction : "mean" (default), "sum" or "none" (one loss per sample)
    """
    logits = _tensor(logits, "cross_entropy", "logits")
    _floating(logits, "cross_entropy", "logits")
    _check_reduction("cross_entropy", reduction)
    target = _target("cross_entropy", target, logits, "logits")
    return CrossEntropy.apply(logits, target, reduction=reduction)


def nll_loss(log_probs, target, reduction="mean") -> Tensor:
    """Negative log-likelihood of integer targets under log-probabilities (N, C), e.g. the
    output of :func:`log_softmax`."""
    log_probs = _tensor(log_probs, "nll_loss", "log_probs")
    _floating(log_probs, "nll_loss", "log_probs")
    _check_reduction("nll_loss", reduction)
    target = _target("nll_loss", target, log_probs, "log_probs")
    return NLLLoss.apply(log_probs, target, reduction=reduction)


def mse_loss(x, y, reduction="mean") -> Tensor:
    """Squared error ``(x - y)^2``, averaged over all elements by default; ``x`` and ``y``
    must have the same shape (no silent broadcasting). ``y`` may be an array."""
    x = _tensor(x, "mse_loss", "input")
    _floating(x, "mse_loss", "input")
    _check_reduction("mse_loss", reduction)
    if not isinstance(y, Tensor):
        y = Tensor(y, dtype=x.dtype, device=x.device)
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: input shape {x.shape} and target shape {y.shape} differ")
    _same_dtype("mse_loss", ("input", x), ("target", y))
    return MSELoss.apply(x, y, reduction=reduction)
