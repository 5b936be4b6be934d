"""ONNX files in and out of the engine: :func:`export` writes one recorded forward pass of a
model as an ONNX file, :func:`load` reads one back as a Module that runs and trains here.

A thin public face, as :mod:`tinygrad_cnn.inspect` is: the work is done in
:mod:`tinygrad_cnn.interop` (``onnx_export``, ``onnx_ops``, ``onnx_import``,
``onnx_layers``). Needs the ``onnx`` extra: ``pip install "tinygrad-cnn[onnx]"``.
"""

from .interop.onnx_export import OPSET, export, to_onnx
from .interop.onnx_import import OnnxGraph, load
from .interop.requirements import OnnxFormatError, UnsupportedOpError

__all__ = ["OPSET", "OnnxFormatError", "OnnxGraph", "UnsupportedOpError", "export", "load",
           "to_onnx"]
