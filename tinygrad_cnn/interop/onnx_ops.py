"""How each op the tape records is written in ONNX: one converter per engine op, in one
table (:data:`CONVERTERS`), so that adding an op means adding one line here.

A converter gets the :class:`~.onnx_export.GraphBuilder` (which adds ONNX nodes and
initializers and knows the shapes the tape recorded), the node, the names of its inputs
and the op's settings as provenance noted them, and returns the name of its result. The
batch axis stays free: a reshape copies it (``0``) or infers it (``-1``) instead of
writing the example's batch size.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..nn.activation import LeakyReLUOp
from ..nn.conv import Conv2dOp
from ..nn.linear import LinearOp
from ..nn.losses import LogSoftmaxOp, SoftmaxOp
from ..nn.pool import MaxPool2dOp


def _same(op_type: str):
    """An op that ONNX has with the same inputs and NumPy's broadcasting."""
    def convert(g, node, inputs, params):
        return g.add(op_type, inputs, node)
    return convert


def _pairs(values) -> list:
    """ONNX's ``pads``: all the starts, then all the ends."""
    return [int(v) for v in values] * 2


def _conv(g, node, inputs, params):
    x, w, b = inputs
    weight = g.constant_value(node, 1)
    kernel = g.input_shape(node, 1)[2:]
    if weight is not None and _is_mean_kernel(weight, b, params):
        # avg_pool2d: each channel convolved with a constant 1/(kh*kw) kernel
        return g.add("AveragePool", [x], node, kernel_shape=list(kernel),
                     strides=list(params["stride"]), pads=_pairs(params["padding"]),
                     count_include_pad=1)
    return g.add("Conv", [x, w] + ([b] if b else []), node, kernel_shape=list(kernel),
                 strides=list(params["stride"]), pads=_pairs(params["padding"]),
                 dilations=list(params["dilation"]), group=int(params["groups"]))


def _is_mean_kernel(weight, bias, params) -> bool:
    kh, kw = weight.shape[2:]
    return (weight.shape[:2] == (1, 1) and not bias and tuple(params["dilation"]) == (1, 1)
            and bool(np.all(weight == weight.dtype.type(1.0 / (kh * kw)))))


def _max_pool(g, node, inputs, params):
    return g.add("MaxPool", inputs, node, kernel_shape=list(params["kernel_size"]),
                 strides=list(params["stride"]), pads=_pairs(params["padding"]))


def _linear(g, node, inputs, params):
    x, w, b = inputs
    if len(g.input_shape(node, 0)) == 2:
        return g.add("Gemm", [x, w] + ([b] if b else []), node, transB=1)
    # (..., in) inputs: Gemm takes matrices only
    wt = g.add("Transpose", [w], node, perm=[1, 0], suffix="weight_T")
    out = g.add("MatMul", [x, wt], node, suffix=None if not b else "MatMul")
    return g.add("Add", [out, b], node) if b else out


def _axis_op(op_type: str):
    def convert(g, node, inputs, params):
        return g.add(op_type, inputs, node, axis=int(params["axis"]))
    return convert


def _reduce(op_type: str):
    def convert(g, node, inputs, params):
        axis, rank = params.get("axis"), len(g.input_shape(node, 0))
        keep = int(bool(params.get("keepdims", False)))
        if axis is None:
            return g.add(op_type, inputs, node, keepdims=keep)
        axes = [int(a) % rank for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]
        return g.add(op_type, inputs + [g.constant(np.array(axes, dtype=np.int64), node,
                                                   "axes")], node, keepdims=keep)
    return convert


def _reshape(g, node, inputs, params):
    target = [int(n) for n in params["shape"]]
    source = g.input_shape(node, 0)
    if target and source:
        # keep the batch free: copy it when it stays in front, else infer what holds it
        target[0] = 0 if target[0] == source[0] else -1
    shape = g.constant(np.array(target, dtype=np.int64), node, "shape")
    return g.add("Reshape", inputs + [shape], node)


def _transpose(g, node, inputs, params):
    return g.add("Transpose", inputs, node, perm=[int(a) for a in params["axes"]])


def _pad(g, node, inputs, params):
    widths = np.asarray(params["pad_width"], dtype=np.int64).reshape(-1, 2)
    pads = g.constant(np.concatenate([widths[:, 0], widths[:, 1]]), node, "pads")
    dtype = g.input_dtype(node, 0)
    value = g.constant(np.array(params.get("value", 0.0), dtype=dtype), node, "value")
    return g.add("Pad", inputs + [pads, value], node, mode="constant")


def _cast(g, node, inputs, params):
    from onnx import helper

    return g.add("Cast", inputs, node,
                 to=helper.np_dtype_to_tensor_dtype(np.dtype(params["dtype"])))


def _leaky_relu(g, node, inputs, params):
    return g.add("LeakyRelu", inputs, node, alpha=float(params["negative_slope"]))


#: engine op -> its converter; what is not here has no ONNX form (losses, indexing)
CONVERTERS = {
    ops.Add: _same("Add"), ops.Sub: _same("Sub"), ops.Mul: _same("Mul"),
    ops.Div: _same("Div"), ops.Pow: _same("Pow"), ops.Neg: _same("Neg"),
    ops.Exp: _same("Exp"), ops.Log: _same("Log"), ops.Sqrt: _same("Sqrt"),
    ops.Abs: _same("Abs"), ops.MatMul: _same("MatMul"), ops.ToDevice: _same("Identity"),
    ops.ReLUOp: _same("Relu"), ops.SigmoidOp: _same("Sigmoid"), ops.TanhOp: _same("Tanh"),
    LeakyReLUOp: _leaky_relu,
    ops.Sum: _reduce("ReduceSum"), ops.Max: _reduce("ReduceMax"),
    ops.Reshape: _reshape, ops.Transpose: _transpose, ops.Pad: _pad, ops.Cast: _cast,
    Conv2dOp: _conv, MaxPool2dOp: _max_pool, LinearOp: _linear,
    SoftmaxOp: _axis_op("Softmax"), LogSoftmaxOp: _axis_op("LogSoftmax"),
}


def supported_ops() -> list[str]:
    """The engine ops export can write, by the names drawings and messages use."""
    return sorted(op.name for op in CONVERTERS)
