"""tinygrad_cnn: a from-scratch autograd engine and CNN library on NumPy and CuPy."""

__version__ = "0.1.0"

from .autograd import Function, is_grad_enabled, no_grad
from .backend import DEFAULT_DEVICE, default_device, manual_seed
from .tensor import Tensor

__all__ = [
    "DEFAULT_DEVICE", "Function", "Tensor", "__version__", "default_device",
    "is_grad_enabled", "manual_seed", "no_grad",
]
