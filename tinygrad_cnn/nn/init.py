"""Weight initialisers, PyTorch's formulas, drawn from the library's host generator.

Every function fills its tensor in place (hence the trailing underscore) and returns it.
Values are drawn in float64 from :func:`tinygrad_cnn.backend.host_rng`, so
``tg.manual_seed(n)`` makes them reproducible and a model built on the GPU gets the same
weights as on the CPU; they are then cast and moved to the tensor's device.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..checks import is_real


def _fill(tensor, values):
    """Write host ``values`` into ``tensor`` in place, cast to its dtype and device."""
    values = np.asarray(values).astype(tensor.dtype, copy=False)
    tensor.data[...] = backend.move(values, tensor.device)
    tensor.version += 1
    return tensor


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: ``(in, out)`` for Linear ``(out, in)``, times the
    kernel area for Conv ``(out, in, kh, kw)``."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a weight with at least 2 axes, got shape {shape}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The gain that keeps activations' variance steady through ``nonlinearity``."""
    linear = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if not is_real(slope):
            raise ValueError(f"leaky_relu slope must be a number, got {slope!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(
        f"unknown nonlinearity {nonlinearity!r}; use one of linear, sigmoid, tanh, relu, "
        f"leaky_relu, selu, conv2d"
    )


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"cannot initialise a tensor with zero {mode} (shape {tensor.shape})")
    return fan


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with draws from U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_: lower bound {a} is above upper bound {b}")
    return _fill(tensor, backend.host_rng().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with draws from N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(tensor, backend.host_rng().normal(mean, std, size=tensor.shape))


def constant_(tensor, value: float):
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu"):
    """He initialisation: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``.

    With ``a=sqrt(5)`` (the layers' default, as in PyTorch) this is U(+-1/sqrt(fan_in)).
    """
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu"):
    """He initialisation: N(0, std^2) with ``std = gain / sqrt(fan)``."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def xavier_uniform_(tensor, gain: float = 1.0):
    """Glorot initialisation: U(+-gain * sqrt(6 / (fan_in + fan_out)))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain: float = 1.0):
    """Glorot initialisation: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
