"""Layers with PyTorch's signatures, weight layouts and default initialisation.

Each layer validates its settings when it is built, so a wrong kernel size fails at the
line that wrote it rather than deep inside the first forward pass.
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from . import functional as F
from . import init
from .module import Module, Parameter


def _positive_int(value, what: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer}: {what} must be a positive integer, got {value!r}")
    return int(value)


def _pair(value, what: str, layer: str, minimum: int = 1) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 2)`` stays; anything else, or a value below ``minimum``, fails."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum
        for v in items
    ):
        kind = "positive" if minimum > 0 else "non-negative"
        raise ValueError(
            f"{layer}: {what} must be a {kind} integer or a pair of them, got {value!r}"
        )
    return int(items[0]), int(items[1])


def _empty_parameter(*shape) -> Parameter:
    """A float32 parameter on the default device, to be filled by an initialiser."""
    xp = backend.array_module(backend.DEFAULT_DEVICE)
    return Parameter(xp.empty(shape, dtype="float32"))


def _init_weight_and_bias(weight, bias) -> None:
    """PyTorch's default: Kaiming-uniform weight (a=sqrt(5)), bias U(+-1/sqrt(fan_in))."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape ``(out_features, in_features)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        self.weight = _empty_parameter(self.out_features, self.in_features)
        self.register_parameter("bias", _empty_parameter(self.out_features) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Conv2d(Module):
    """2-d cross-correlation; ``weight`` has shape ``(out_channels, in_channels, kh, kw)``.

    Input ``(N, in_channels, H, W)``, output ``(N, out_channels, OH, OW)`` with
    ``OH = (H + 2 * padding - kh) // stride + 1``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, bias: bool = True):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels", "Conv2d")
        self.out_channels = _positive_int(out_channels, "out_channels", "Conv2d")
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = _pair(stride, "stride", "Conv2d")
        self.padding = _pair(padding, "padding", "Conv2d", minimum=0)
        self.weight = _empty_parameter(self.out_channels, self.in_channels, *self.kernel_size)
        self.register_parameter("bias", _empty_parameter(self.out_channels) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
        return text + ("" if self.bias is not None else ", bias=False")


class _Pool2d(Module):
    """Shared settings of the pooling layers: ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        layer = type(self).__name__
        self.kernel_size = _check_int_or_pair(kernel_size, "kernel_size", layer)
        self.stride = (self.kernel_size if stride is None
                       else _check_int_or_pair(stride, "stride", layer))
        self.padding = _check_int_or_pair(padding, "padding", layer, minimum=0)
        kh, kw = _pair(self.kernel_size, "kernel_size", layer)
        ph, pw = _pair(self.padding, "padding", layer, minimum=0)
        if ph > kh // 2 or pw > kw // 2:
            raise ValueError(
                f"{layer}: padding {self.padding} must be at most half of kernel_size "
                f"{self.kernel_size}"
            )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _check_int_or_pair(value, what, layer, minimum=1):
    """Validate like ``_pair`` but keep the user's form (``2`` stays ``2``) for ``repr``."""
    pair = _pair(value, what, layer, minimum)
    return pair if isinstance(value, (tuple, list)) else pair[0]


class MaxPool2d(_Pool2d):
    """Maximum over each window; the gradient goes to the first maximum (row-major)."""

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)


class AvgPool2d(_Pool2d):
    """Mean over each window; zero padding counts towards the mean (PyTorch's default)."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)


class ReLU(Module):
    """``max(x, 0)``; the gradient at 0 is 0, as in PyTorch."""

    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Flatten(Module):
    """Flatten axes ``start_axis`` onwards: ``(N, C, H, W) -> (N, C*H*W)`` by default."""

    def __init__(self, start_axis: int = 1):
        super().__init__()
        if isinstance(start_axis, bool) or not isinstance(start_axis, numbers.Integral):
            raise ValueError(f"Flatten: start_axis must be an integer, got {start_axis!r}")
        self.start_axis = int(start_axis)

    def forward(self, x):
        return x.flatten(self.start_axis)

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}"


class Dropout(Module):
    """Zero each element with probability ``p`` while training, scaling the rest by
    ``1 / (1 - p)``; the identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
