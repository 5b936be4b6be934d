"""Models that leave the engine: ONNX files written from the tape and read back as
Modules, and the same model in PyTorch, both ways.

One idea per module: :mod:`.requirements` (the optional libraries and the errors),
:mod:`.onnx_ops` (each engine op written as ONNX), :mod:`.onnx_export` (the walk over one
recorded forward pass), :mod:`.onnx_layers` (each ONNX op read as a layer),
:mod:`.onnx_import` (an ONNX graph as a trainable Module), :mod:`.torch_convert` (layers
to and from ``torch.nn``) and :mod:`.distributed` (training under PyTorch's
``DistributedDataParallel``). ``tinygrad_cnn.onnx`` is the public face of the ONNX half.
"""

from .onnx_export import export, to_onnx
from .onnx_import import OnnxGraph, load
from .requirements import OnnxFormatError, UnsupportedOpError
from .torch_convert import from_torch, to_torch

__all__ = ["OnnxFormatError", "OnnxGraph", "UnsupportedOpError", "export", "from_torch",
           "load", "to_onnx", "to_torch"]
