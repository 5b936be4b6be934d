"""Stateless neural-network operations, with PyTorch's names and signatures.

This is the public boundary: each function checks its arguments in the user's terms
(shapes, channel counts, the weight's shape) and then applies one fused op
(:class:`~.conv.Conv2dOp`, :class:`~.pool.MaxPool2dOp`, :class:`~.linear.LinearOp`,
:class:`~.activation.LeakyReLUOp`, the ops of :mod:`.losses`) or composes Tensor
primitives (``avg_pool2d``, ``dropout``). The layers in :mod:`.layers` check their
settings with the same functions when they are built.
:mod:`.reference` computes the fused ops again from primitives, to show what they compute.
"""

from __future__ import annotations

from .. import backend
from ..checks import int_tuple, is_int, probability, real_number
from ..tensor import Tensor, onto
from .activation import LeakyReLUOp
from .conv import Conv2dOp
from .linear import LinearOp
from .losses import CrossEntropyOp, LogSoftmaxOp, MSELossOp, NLLLossOp, SoftmaxOp
from .pool import MaxPool2dOp

__all__ = [
    "avg_pool2d", "conv1d", "conv2d", "cross_entropy", "dropout", "leaky_relu", "linear",
    "log_softmax",
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


def _size(dims) -> str:
    return "x".join(str(d) for d in dims)


def _check_reduction(op: str, reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def conv_settings(op, stride, padding, dilation=1, groups=1, spatial=2) -> tuple:
    """``(stride, padding, dilation, groups)`` checked and as tuples of ``spatial`` ints."""
    if not is_int(groups) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return (int_tuple(stride, spatial, "stride", op, 1),
            int_tuple(padding, spatial, "padding", op, 0),
            int_tuple(dilation, spatial, "dilation", op, 1), int(groups))


def pool_settings(op, kernel_size, stride=None, padding=0) -> tuple:
    """``(kernel, stride, padding)`` as pairs; ``stride`` defaults to the kernel, and
    padding may be at most half the kernel (a window must not lie entirely in it)."""
    kernel = int_tuple(kernel_size, 2, "kernel_size", op, 1)
    stride = kernel if stride is None else int_tuple(stride, 2, "stride", op, 1)
    padding = int_tuple(padding, 2, "padding", op, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {_size(padding)} must be at most half the kernel "
                         f"size {_size(kernel)}")
    return kernel, stride, padding


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
    stride, padding, dilation, groups = conv_settings(op, stride, padding, dilation, groups,
                                                      spatial)
    C, M, Cg = x.shape[1], w.shape[0], w.shape[1]
    if C != Cg * groups:
        expects = Cg if groups == 1 else f"{Cg} x groups={groups} = {Cg * groups}"
        raise ValueError(f"{op}: input has {C} channels but weight expects {expects} "
                         f"(weight shape {w.shape})")
    if M % groups:
        raise ValueError(f"{op}: weight has {M} output channels, not divisible by "
                         f"groups={groups} (weight shape {w.shape})")
    if b is not None and b.shape != (M,):
        raise ValueError(f"{op}: bias has shape {b.shape} but weight has {M} output "
                         f"channels (weight shape {w.shape}); expected bias shape ({M},)")
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
        x, w = x.reshape(N, C, 1, L), w.reshape(M, Cg, 1, kernel[0])
        stride, padding, dilation = (1,) + stride, (0,) + padding, (1,) + dilation
    out = Conv2dOp.apply(x, w, b, stride=stride, padding=padding, dilation=dilation,
                         groups=groups)
    return out if spatial == 2 else out.reshape(out.shape[0], M, out.shape[-1])


# ----------------------------------------------------------------------------- pooling

def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Maximum over each window, as ``torch.nn.functional.max_pool2d``.

    ``kernel_size``, ``stride`` (default: ``kernel_size``) and ``padding`` are ints or
    pairs; windows may overlap. Padding counts as -inf. The gradient of each window goes
    to its first maximum in row-major order, as in PyTorch.
    """
    x, kernel, stride, padding = _pool_input("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2dOp.apply(x, kernel_size=kernel, stride=stride, padding=padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over each window, as ``torch.nn.functional.avg_pool2d`` with its default
    ``count_include_pad=True``: zero padding counts towards the window size.

    Computed as what it is, a convolution of each channel with a constant ``1 / (KH*KW)``
    kernel, so its gradient needs no code of its own.
    """
    x, kernel, stride, padding = _pool_input("avg_pool2d", x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    xp = backend.array_module(x.device)
    mean_kernel = Tensor.wrap(xp.full((1, 1) + kernel, 1.0 / (kernel[0] * kernel[1]),
                                      dtype=x.dtype))
    out = Conv2dOp.apply(x.reshape(N * C, 1, H, W), mean_kernel, None, stride=stride,
                         padding=padding, dilation=(1, 1), groups=1)
    return out.reshape(N, C, *out.shape[2:])


def _pool_input(op, x, kernel_size, stride, padding):
    x = _tensor(x, op, "input")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape} "
                         f"({x.ndim}-D)")
    _floating(x, op, "input")
    kernel, stride, padding = pool_settings(op, kernel_size, stride, padding)
    size = x.shape[2:]
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    if any(k > n for k, n in zip(kernel, padded)):
        raise ValueError(f"{op}: kernel {_size(kernel)} is larger than the padded input "
                         f"{_size(padded)} (input {_size(size)}, padding {_size(padding)})")
    return x, kernel, stride, padding


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
    return LinearOp.apply(x, w, b)


def dropout(x, p=0.5, training=True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The mask is drawn on ``x``'s device from the library's generator
    (``tinygrad_cnn.manual_seed`` makes it repeatable) and multiplied in, so the gradient is
    the same mask. Outside training, or with ``p == 0``, ``x`` is returned unchanged.
    """
    x = _tensor(x, "dropout", "input")
    p = probability(p, "p", "dropout")
    if not training or p == 0:
        return x
    _floating(x, "dropout", "input")
    draw_dtype = x.dtype if x.dtype.itemsize >= 4 else "float32"
    keep = backend.device_rng(x.device).random(x.shape, draw_dtype) >= p
    mask = keep.astype(x.dtype)
    mask *= x.dtype.type(0.0 if p >= 1 else 1.0 / (1.0 - p))
    return x * Tensor.wrap(mask)


# ----------------------------------------------------------------------------- activations

def relu(x) -> Tensor:
    """max(x, 0); its gradient at 0 is 0, as in PyTorch."""
    return _tensor(x, "relu", "input").relu()


def leaky_relu(x, negative_slope=0.01) -> Tensor:
    """``x`` where positive, else ``negative_slope * x``, as
    ``torch.nn.functional.leaky_relu``: negative inputs keep a small gradient."""
    x = _tensor(x, "leaky_relu", "input")
    _floating(x, "leaky_relu", "input")
    slope = real_number(negative_slope, "negative_slope", "leaky_relu")
    return LeakyReLUOp.apply(x, negative_slope=slope)


def sigmoid(x) -> Tensor:
    """1 / (1 + exp(-x)), without overflow for large ``|x|``."""
    return _tensor(x, "sigmoid", "input").sigmoid()


def tanh(x) -> Tensor:
    return _tensor(x, "tanh", "input").tanh()


def _axis(op, x, axis):
    if not is_int(axis) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"{op}: axis {axis!r} is out of range for a tensor of shape {x.shape}")
    return int(axis) % max(x.ndim, 1)


def softmax(x, axis=-1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed after subtracting the maximum."""
    x = _tensor(x, "softmax", "input")
    _floating(x, "softmax", "input")
    return SoftmaxOp.apply(x, axis=_axis("softmax", x, axis))


def log_softmax(x, axis=-1) -> Tensor:
    """log(softmax(x)) along ``axis`` in one stable step (no log of a rounded-off 0)."""
    x = _tensor(x, "log_softmax", "input")
    _floating(x, "log_softmax", "input")
    return LogSoftmaxOp.apply(x, axis=_axis("log_softmax", x, axis))


# ----------------------------------------------------------------------------- losses

def _loss_inputs(op, scores, target, reduction, name):
    scores = _tensor(scores, op, name)
    _floating(scores, op, name)
    _check_reduction(op, reduction)
    return scores, _target(op, target, scores, name)


def _target(op, target, scores, name):
    """``target`` as an integer Tensor on ``scores``' device, checked against (N, C).

    Host targets are range-checked at once. Targets already on the GPU are checked there
    without waiting for it, and an error surfaces at the next read of a device value (as
    CUDA reports its device-side asserts): a training step never stalls for the check.
    """
    raw = target.data if isinstance(target, Tensor) else target
    host = None if backend.on_accelerator(raw) else backend.to_host(raw)
    target = Tensor.wrap(onto(target, scores, f"{op}: target"))
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype} "
                        f"(convert it with .astype(np.int64))")
    if scores.ndim != 2:
        raise ValueError(f"{op}: expected {name} of shape (N, C), got {scores.shape}")
    N, C = scores.shape
    if target.shape != (N,):
        raise ValueError(f"{op}: target has shape {target.shape} but {name} have batch size "
                         f"{N} ({name} shape {scores.shape}); expected target shape ({N},)")
    if not N:
        return target
    if host is not None:
        lo, hi = int(host.min()), int(host.max())
        if lo < 0 or hi >= C:
            raise ValueError(f"{op}: target value {lo if lo < 0 else hi} is out of range for "
                             f"{C} classes (valid: 0 to {C - 1})")
    else:
        labels = target.data
        backend.check_later(((labels < 0) | (labels >= C)).any(),
                            f"{op}: a target value is out of range for {C} classes (valid: "
                            f"0 to {C - 1})")
    return target


def cross_entropy(logits, target, reduction="mean") -> Tensor:
    """Log-softmax and negative log-likelihood in one stable node.

    Parameters
    ----------
    logits : Tensor (N, C)
    target : Tensor or array (N,) of integer class indices in [0, C)
    reduction : "mean" (default), "sum" or "none" (one loss per sample)

    The mean over an empty batch is NaN, with an empty gradient, as in PyTorch.
    """
    logits, target = _loss_inputs("cross_entropy", logits, target, reduction, "logits")
    return CrossEntropyOp.apply(logits, target, reduction=reduction)


def nll_loss(log_probs, target, reduction="mean") -> Tensor:
    """Negative log-likelihood of integer targets under log-probabilities (N, C), e.g. the
    output of :func:`log_softmax`."""
    log_probs, target = _loss_inputs("nll_loss", log_probs, target, reduction, "log_probs")
    return NLLLossOp.apply(log_probs, target, reduction=reduction)


def mse_loss(x, y, reduction="mean") -> Tensor:
    """Squared error ``(x - y)^2``, averaged over all elements by default; ``x`` and ``y``
    must have the same shape (no silent broadcasting). ``y`` may be an array."""
    x = _tensor(x, "mse_loss", "input")
    _floating(x, "mse_loss", "input")
    _check_reduction("mse_loss", reduction)
    if not isinstance(y, Tensor):
        y = Tensor(onto(y, x, "mse_loss: target"), dtype=x.dtype, device=x.device)
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: input shape {x.shape} and target shape {y.shape} differ")
    _same_dtype("mse_loss", ("input", x), ("target", y))
    return MSELossOp.apply(x, y, reduction=reduction)
