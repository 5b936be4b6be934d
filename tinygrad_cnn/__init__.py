"""tinygrad_cnn: a from-scratch autograd engine and CNN library on NumPy and CuPy."""

__version__ = "0.1.0"

from . import (
    models,
    nn,
    optim,
    testing,
)
from .autograd import Function, is_grad_enabled, no_grad
from .backend import default_device, manual_seed
from .backend.threads import get_num_threads, set_num_threads
from .serialization import CheckpointError, load, save
from .tensor import Tensor
from .viz import provenance  # noqa: F401  (notes each node's module for graph drawings)

__all__ = [
    "CheckpointError", "DEFAULT_DEVICE", "Function", "Tensor", "__version__", "default_device",
    "get_num_threads", "is_grad_enabled", "load", "manual_seed", "models", "nn", "no_grad",
    "optim", "save", "set_num_threads", "testing",
]


def __getattr__(name):
    # read when first asked for, so a bad TINYGRAD_CNN_DEVICE does not break the import
    # (the CLI can still explain it) but does fail the first use
    if name == "DEFAULT_DEVICE":
        return default_device()
    raise AttributeError(f"module 'tinygrad_cnn' has no attribute {name!r}")
