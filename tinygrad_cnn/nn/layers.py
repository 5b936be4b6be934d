"""Layers with PyTorch's signatures, weight layouts and default initialisation.

Each layer checks its settings when it is built, with the same functions that
:mod:`.functional` uses, so a wrong kernel size fails at the line that wrote it rather than
deep inside the first forward pass, and the rules are written once.
"""

from __future__ import annotations

import math

from .. import backend
from ..checks import int_tuple, is_int, positive_int, probability, real_number
from . import functional, init
from .module import Module, Parameter


def _empty_parameter(*shape) -> Parameter:
    """A float32 parameter on the default device, to be filled by an initialiser."""
    xp = backend.array_module(backend.default_device())
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
        self.in_features = positive_int(in_features, "in_features", "Linear")
        self.out_features = positive_int(out_features, "out_features", "Linear")
        self.weight = _empty_parameter(self.out_features, self.in_features)
        self.register_parameter("bias", _empty_parameter(self.out_features) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self.weight, self.bias)

    def forward(self, x):
        return functional.linear(x, self.weight, self.bias)

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
        self.in_channels = positive_int(in_channels, "in_channels", "Conv2d")
        self.out_channels = positive_int(out_channels, "out_channels", "Conv2d")
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", "Conv2d", 1)
        self.stride, self.padding, _, _ = functional.conv_settings("Conv2d", stride, padding)
        self.weight = _empty_parameter(self.out_channels, self.in_channels, *self.kernel_size)
        self.register_parameter("bias", _empty_parameter(self.out_channels) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self.weight, self.bias)

    def forward(self, x):
        return functional.conv2d(x, self.weight, self.bias, stride=self.stride,
                                 padding=self.padding)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
        return text + ("" if self.bias is not None else ", bias=False")


class _Pool2d(Module):
    """Shared settings of the pooling layers: ``stride`` defaults to ``kernel_size``.

    Settings are checked as the functional form checks them, and kept in the form the user
    wrote (``2`` stays ``2``) for ``repr``, as PyTorch does.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        functional.pool_settings(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size = _as_written(kernel_size)
        self.stride = self.kernel_size if stride is None else _as_written(stride)
        self.padding = _as_written(padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _as_written(value):
    return int(value) if is_int(value) else tuple(int(v) for v in value)


class MaxPool2d(_Pool2d):
    """Maximum over each window; the gradient goes to the first maximum (row-major)."""

    def forward(self, x):
        return functional.max_pool2d(x, self.kernel_size, stride=self.stride,
                                     padding=self.padding)


class AvgPool2d(_Pool2d):
    """Mean over each window; zero padding counts towards the mean (PyTorch's default)."""

    def forward(self, x):
        return functional.avg_pool2d(x, self.kernel_size, stride=self.stride,
                                     padding=self.padding)


class ReLU(Module):
    """``max(x, 0)``; the gradient at 0 is 0, as in PyTorch."""

    def forward(self, x):
        return functional.relu(x)


class LeakyReLU(Module):
    """``x`` where positive, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = real_number(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x):
        return functional.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x):
        return functional.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return functional.tanh(x)


class Flatten(Module):
    """Flatten axes ``start_axis`` onwards: ``(N, C, H, W) -> (N, C*H*W)`` by default."""

    def __init__(self, start_axis: int = 1):
        super().__init__()
        if not is_int(start_axis):
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
        self.p = probability(p, "p", "Dropout")

    def forward(self, x):
        return functional.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
