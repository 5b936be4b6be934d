"""tinygrad_cnn: a from-scratch autograd engine and CNN library on NumPy and CuPy."""

__version__ = "0.1.0"

from . import models, nn, optim, testing
from .autograd import Function, is_grad_enabled, no_grad
from .backend import DEFAULT_DEVICE, default_device, manual_seed
from .serialization import CheckpointError, load, save
from .tensor import Tensor

__all__ = [
    "CheckpointError", "DEFAULT_DEVICE", "Function", "Tensor", "__version__", "default_device",
    "is_grad_enabled", "load", "manual_seed", "models", "nn", "no_grad", "optim", "save",
    "testing",
]
