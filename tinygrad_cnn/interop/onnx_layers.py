"""How each ONNX op is read back as a layer: one builder per op in :data:`BUILDERS`.

A builder gets the node, its attributes and the constant inputs (initializers and
``Constant`` nodes, as NumPy arrays), and returns the layer and the names of the inputs it
reads at run time. The engine's own layers are used wherever one fits (``Conv2d``,
``Linear``, ``MaxPool2d``, ``ReLU`` ...), so an imported model is drawn, inspected
(receptive fields, filters) and trained exactly as one written here; the few ops with no
layer of their own get a small one below (a reshape, a permutation, softmax along an axis,
an elementwise op with a learnable constant).
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..nn import functional as F
from .requirements import UnsupportedOpError

# ----------------------------------------------------------------------------- small layers


class ReshapeTo(nn.Module):
    """ONNX's Reshape: ``0`` copies the input's size on that axis, ``-1`` is inferred."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(n) for n in shape)

    def forward(self, x):
        shape = [x.shape[i] if n == 0 else n for i, n in enumerate(self.shape)]
        if -1 in shape:
            known = int(np.prod([n for n in shape if n != -1]))
            shape[shape.index(-1)] = x.size // known if known else 0
        return x.reshape(*shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class PermuteAxes(nn.Module):
    def __init__(self, perm):
        super().__init__()
        self.perm = tuple(int(a) for a in perm)

    def forward(self, x):
        return x.transpose(*self.perm)

    def extra_repr(self) -> str:
        return f"perm={self.perm}"


class SoftmaxAlong(nn.Module):
    """Softmax (or, with ``log``, log-softmax) along one axis."""

    def __init__(self, axis: int, log: bool = False):
        super().__init__()
        self.axis, self.log = int(axis), bool(log)

    def forward(self, x):
        return (F.log_softmax if self.log else F.softmax)(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}" + (", log=True" if self.log else "")


class Elementwise(nn.Module):
    """``a op b`` for Add, Sub, Mul, Div, MatMul; a constant operand is a Parameter
    (``constant``), so it trains like any weight; ``constant_first`` when it is ``a``."""

    OPS = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
           "Div": lambda a, b: a / b, "Pow": lambda a, b: a ** b, "MatMul": lambda a, b: a @ b}

    def __init__(self, op: str, constant=None, constant_first: bool = False):
        super().__init__()
        self.op, self.constant_first = op, bool(constant_first)
        self.register_parameter("constant", None if constant is None else
                                nn.Parameter(np.asarray(constant, dtype=np.float32)))

    def forward(self, a, b=None):
        if self.constant is not None:
            a, b = (self.constant, a) if self.constant_first else (a, self.constant)
        return self.OPS[self.op](a, b)

    def extra_repr(self) -> str:
        return f"op={self.op}"


class Unary(nn.Module):
    """An elementwise function of the Tensor API (Exp, Log, Sqrt, Abs, Neg)."""

    OPS = {"Exp": lambda x: x.exp(), "Log": lambda x: x.log(), "Sqrt": lambda x: x.sqrt(),
           "Abs": lambda x: x.abs(), "Neg": lambda x: -x, "Identity": lambda x: x}

    def __init__(self, op: str):
        super().__init__()
        self.op = op

    def forward(self, x):
        return self.OPS[self.op](x)

    def extra_repr(self) -> str:
        return f"op={self.op}"


class Reduce(nn.Module):
    """A sum or a maximum over ``axes`` (all when None)."""

    def __init__(self, op: str, axes, keepdims: bool):
        super().__init__()
        self.op, self.keepdims = op, bool(keepdims)
        self.axes = None if axes is None else tuple(int(a) for a in axes)

    def forward(self, x):
        reduce = x.sum if self.op == "ReduceSum" else x.max
        return reduce(axis=self.axes, keepdims=self.keepdims)

    def extra_repr(self) -> str:
        return f"op={self.op}, axes={self.axes}, keepdims={self.keepdims}"


class PadConstant(nn.Module):
    """Constant padding, ``pad_width`` as in ``numpy.pad``."""

    def __init__(self, pad_width, value: float = 0.0):
        super().__init__()
        self.pad_width, self.value = tuple(map(tuple, pad_width)), float(value)

    def forward(self, x):
        return x.pad(self.pad_width, self.value)

    def extra_repr(self) -> str:
        return f"pad_width={self.pad_width}, value={self.value}"


# ----------------------------------------------------------------------------- builders

def _fail(node, why: str):
    raise UnsupportedOpError(f"onnx.load: node '{node.name}' ({node.op_type}): {why}")


def _constant(node, consts, name, what):
    if name not in consts:
        _fail(node, f"the {what} must be a constant (an initializer), not computed")
    return consts[name]


def _symmetric(node, pads, rank=2):
    pads = list(pads or [0] * 2 * rank)
    if pads[:rank] != pads[rank:]:
        _fail(node, f"pads {pads} differ at the start and the end; only symmetric "
                    f"padding has a layer here")
    return tuple(pads[:rank])


def _window_attrs(node, attrs):
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", b"NOTSET", b"VALID"):
        _fail(node, f"auto_pad={attrs['auto_pad']!r} is not supported; write explicit pads")
    if attrs.get("ceil_mode", 0):
        _fail(node, "ceil_mode=1 is not supported (the engine rounds output sizes down)")
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        _fail(node, f"dilations {attrs['dilations']} are not supported for pooling")
    kernel = tuple(attrs["kernel_shape"])
    if len(kernel) != 2:
        _fail(node, f"only 2-D windows are supported, got kernel_shape {list(kernel)}")
    return kernel, tuple(attrs.get("strides", [1, 1])), _symmetric(node, attrs.get("pads"))


def _conv(node, ins, attrs, consts):
    w = _constant(node, consts, ins[1], "weight")
    b = consts.get(ins[2]) if len(ins) > 2 and ins[2] else None
    if w.ndim != 4:
        _fail(node, f"only 2-D convolutions are supported, got a weight of shape {w.shape}")
    if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        _fail(node, "group and dilation other than 1 have no Conv2d layer here")
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", b"NOTSET", b"VALID"):
        _fail(node, f"auto_pad={attrs['auto_pad']!r} is not supported; write explicit pads")
    layer = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=tuple(attrs.get("strides",
                      [1, 1])), padding=_symmetric(node, attrs.get("pads")),
                      bias=b is not None)
    _load(layer, w, b)
    return layer, [ins[0]]


def _gemm(node, ins, attrs, consts):
    if attrs.get("transA", 0):
        _fail(node, "transA=1 is not supported")
    w = _constant(node, consts, ins[1], "weight") * attrs.get("alpha", 1.0)
    w = w if attrs.get("transB", 0) else w.T
    b = consts.get(ins[2]) if len(ins) > 2 and ins[2] else None
    if b is not None:
        b = np.broadcast_to(b * attrs.get("beta", 1.0), (w.shape[0],))
    layer = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    _load(layer, w, b)
    return layer, [ins[0]]


def linear_from_matmul(w, b=None):
    """``x @ w (+ b)`` with a constant ``w`` of shape (in, out) as a Linear layer."""
    layer = nn.Linear(w.shape[0], w.shape[1], bias=b is not None)
    _load(layer, w.T, b)
    return layer


def _load(layer, w, b):
    """Host arrays into the layer's parameters, wherever they live (load_state_dict
    uploads them)."""
    state = {"weight": np.asarray(w, dtype=np.float32)}
    if b is not None:
        state["bias"] = np.asarray(b, dtype=np.float32)
    layer.load_state_dict(state)


def _binary(node, ins, attrs, consts):
    a, b = ins[0], ins[1]
    if a in consts and b in consts:
        _fail(node, "both operands are constants")
    if node.op_type == "MatMul" and b in consts and consts[b].ndim == 2:
        return linear_from_matmul(consts[b]), [a]
    if a in consts:
        return Elementwise(node.op_type, consts[a], constant_first=True), [b]
    if b in consts:
        return Elementwise(node.op_type, consts[b]), [a]
    return Elementwise(node.op_type), [a, b]


def _max_pool(node, ins, attrs, consts):
    if len(node.output) > 1:
        _fail(node, "the Indices output is not supported")
    kernel, stride, padding = _window_attrs(node, attrs)
    return nn.MaxPool2d(kernel, stride, padding), [ins[0]]


def _avg_pool(node, ins, attrs, consts):
    kernel, stride, padding = _window_attrs(node, attrs)
    if any(padding) and not attrs.get("count_include_pad", 0):
        _fail(node, "count_include_pad=0 with padding is not supported (AvgPool2d counts "
                    "the zero padding, as PyTorch's default does)")
    return nn.AvgPool2d(kernel, stride, padding), [ins[0]]


def _flatten(node, ins, attrs, consts):
    if attrs.get("axis", 1) != 1:
        _fail(node, f"axis={attrs['axis']} is not supported (only 1: (N, ...) -> (N, -1))")
    return nn.Flatten(1), [ins[0]]


def _reshape(node, ins, attrs, consts):
    if attrs.get("allowzero", 0):
        _fail(node, "allowzero=1 is not supported")
    shape = _constant(node, consts, ins[1], "shape")
    return ReshapeTo(shape.tolist()), [ins[0]]


def _softmax(log: bool):
    def build(node, ins, attrs, consts):
        return SoftmaxAlong(attrs.get("axis", -1), log), [ins[0]]
    return build


def _unary(node, ins, attrs, consts):
    return Unary(node.op_type), [ins[0]]


def _plain(layer_class):
    def build(node, ins, attrs, consts):
        return layer_class(), [ins[0]]
    return build


def _reduce(node, ins, attrs, consts):
    axes = attrs.get("axes")  # an attribute before opset 18 (13 for ReduceSum), then an input
    if len(ins) > 1 and ins[1]:
        axes = _constant(node, consts, ins[1], "axes").tolist()
    if not axes and attrs.get("noop_with_empty_axes", 0):
        return Unary("Identity"), [ins[0]]
    return Reduce(node.op_type, axes or None, attrs.get("keepdims", 1)), [ins[0]]


def _pad(node, ins, attrs, consts):
    if attrs.get("mode", "constant") != "constant" or (len(ins) > 3 and ins[3]):
        _fail(node, "only constant padding of every axis is supported")
    pads = _constant(node, consts, ins[1], "pads").astype(int)
    value = float(consts[ins[2]]) if len(ins) > 2 and ins[2] else 0.0
    half = len(pads) // 2
    return PadConstant(list(zip(pads[:half], pads[half:])), value), [ins[0]]


#: ONNX op type -> builder of its layer
BUILDERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _binary,
    "Add": _binary, "Sub": _binary, "Mul": _binary, "Div": _binary, "Pow": _binary,
    "Exp": _unary, "Log": _unary, "Sqrt": _unary, "Abs": _unary, "Neg": _unary,
    "ReduceSum": _reduce, "ReduceMax": _reduce, "Pad": _pad,
    "MaxPool": _max_pool, "AveragePool": _avg_pool,
    "Relu": _plain(nn.ReLU), "Sigmoid": _plain(nn.Sigmoid), "Tanh": _plain(nn.Tanh),
    "LeakyRelu": lambda node, ins, attrs, consts: (nn.LeakyReLU(attrs.get("alpha", 0.01)),
                                              [ins[0]]),
    "Flatten": _flatten, "Reshape": _reshape,
    "Transpose": lambda node, ins, attrs, consts: (PermuteAxes(attrs["perm"]), [ins[0]]),
    "Softmax": _softmax(False), "LogSoftmax": _softmax(True),
}
#: ops that pass their input on unchanged at inference
PASS_THROUGH = ("Identity", "Dropout")


def supported_onnx_ops() -> list[str]:
    return sorted([*BUILDERS, *PASS_THROUGH, "Constant"])

