"""What leaving the engine needs that the engine does not: the optional libraries (each
imported only when a function needs it, with one line saying how to install it when it is
missing) and the error for a model that has no form in the other library.
"""

from __future__ import annotations

import importlib

from ..viz.plots import MissingDependencyError

ONNX_INSTALL_HINT = 'pip install "tinygrad-cnn[onnx]"'
TORCH_INSTALL_HINT = 'pip install "tinygrad-cnn[torch]"'

_WHY = {
    "onnx": ("writing and reading ONNX files needs onnx", ONNX_INSTALL_HINT),
    "onnxruntime": ("running ONNX files needs onnxruntime", ONNX_INSTALL_HINT),
    "torch": ("converting to and from PyTorch needs torch", TORCH_INSTALL_HINT),
}


class UnsupportedOpError(ValueError):
    """An op, layer or setting with no counterpart on the other side: names it, and where
    it sits (the module path, or the ONNX node), and what is supported instead."""


class OnnxFormatError(ValueError):
    """An ONNX file this package cannot read as a model (not ONNX, no single input or
    output, a weight missing): names the file and what is wrong."""


def require(name: str):
    """Import the optional library ``name`` ('onnx', 'onnxruntime' or 'torch'), or raise
    :class:`MissingDependencyError` with the command that installs it. Imported here, when
    first needed, so that the package itself never needs them."""
    try:
        return importlib.import_module(name)
    except ImportError:
        why, hint = _WHY[name]
        raise MissingDependencyError(f"{why}, which is not installed; install it with: "
                                     f"{hint}") from None
