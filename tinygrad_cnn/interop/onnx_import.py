"""ONNX import: an ONNX graph read back as a Module that runs and trains here.

Each node becomes one layer (:mod:`.onnx_layers`), registered under a name taken from the
node's name (``/conv1/Conv`` and ``conv1/Conv`` both give ``conv1``), so the state dict,
the graph drawings and :func:`tinygrad_cnn.inspect.receptive_field` speak of ``conv1``
and ``fc3`` as they would for a model written here. Initializers become the layers'
Parameters. Small rewrites keep the layers whole: a ``MatMul`` by a constant followed by
the ``Add`` of a constant vector is one ``Linear``, a node that reads constants only (a
transposed weight) is computed at load time, and ``Identity`` and ``Dropout`` disappear.
A weight read by two layers becomes a Parameter of each: the tie is not kept.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from .. import nn
from ..fileio import check_readable
from .onnx_layers import BUILDERS, PASS_THROUGH, linear_from_matmul, supported_onnx_ops
from .requirements import OnnxFormatError, UnsupportedOpError, require


class Step(NamedTuple):
    """One layer of the graph: its name, the values it reads, the value it writes."""

    layer: str
    inputs: tuple
    output: str


class OnnxGraph(nn.Module):
    """A model read from an ONNX file: its layers run in the file's order.

    ``input_shape`` is the input's shape as the file declares it (``None`` where an axis
    is free, usually the batch); ``steps`` the layers and the values between them.
    """

    def __init__(self, steps, input_name: str, output_name: str, input_shape, layers):
        super().__init__()
        for name, layer in layers:
            self.add_module(name, layer)
        self.steps = tuple(steps)
        self.input_name, self.output_name = input_name, output_name
        self.input_shape = tuple(input_shape)

    def forward(self, x):
        values = {self.input_name: x}
        for step in self.steps:
            values[step.output] = getattr(self, step.layer)(*[values[i] for i in step.inputs])
        return values[self.output_name]


def _layer_name(node, index: int, taken: set) -> str:
    parts = [p for p in (node.name or "").split("/") if p]
    if parts and re.fullmatch(rf"{re.escape(node.op_type)}(_\d+)?", parts[-1]):
        parts.pop()
    base = re.sub(r"\W", "_", parts[-1]) if parts else f"{node.op_type.lower()}{index}"
    if base[0].isdigit() and not parts:
        base = "layer_" + base
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _read(path):
    onnx = require("onnx")
    check_readable(path, "ONNX file")
    try:
        proto = onnx.load(os.fspath(path))
    except Exception as exc:
        raise OnnxFormatError(f"{os.fspath(path)}: not an ONNX model ({exc})") from None
    return proto


def _opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def from_proto(proto, where: str = "ONNX model") -> OnnxGraph:
    """An :class:`OnnxGraph` from an ``onnx.ModelProto`` (see :func:`load`)."""
    from onnx import helper, numpy_helper

    graph = proto.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise OnnxFormatError(f"{where}: a model with one input and one output is "
                              f"supported, this one has {len(inputs)} and {len(graph.output)}")
    dims = inputs[0].type.tensor_type.shape.dim
    input_shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    alias, steps, layers, taken, fused = {}, [], [], set(), set()
    opset = _opset(proto)
    for index, node in enumerate(graph.node):
        if id(node) in fused:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        ins = [alias.get(i, i) for i in node.input]
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        if all(i in consts for i in ins if i) and node.op_type in BUILDERS:
            consts[node.output[0]] = _folded(node, ins, consts, opset)
            continue
        if node.op_type in PASS_THROUGH:
            alias[node.output[0]] = ins[0]
            continue
        build = BUILDERS.get(node.op_type)
        if build is None:
            raise UnsupportedOpError(
                f"onnx.load: {where}: node '{node.name}' is a {node.op_type}, which has no "
                f"layer here (supported: {', '.join(supported_onnx_ops())})")
        if node.op_type in ("Softmax", "LogSoftmax") and opset < 13:
            attrs.setdefault("axis", 1)  # older opsets: 1, over the flattened rest
        output = node.output[0]
        add = _bias_after(node, ins, readers, consts)
        if add is not None:  # MatMul by a constant, then + a constant vector: a Linear
            layer, reads = linear_from_matmul(consts[ins[1]], consts[_other(add, output)]), \
                [ins[0]]
            fused.add(id(add))
            output = add.output[0]
        else:
            layer, reads = build(node, ins, attrs, consts)
        name = _layer_name(node, index, taken)
        layers.append((name, layer))
        steps.append(Step(name, tuple(reads), output))
    out = alias.get(graph.output[0].name, graph.output[0].name)
    if not steps or out != steps[-1].output and out not in {s.output for s in steps}:
        raise OnnxFormatError(f"{where}: the output '{out}' is not computed by any node")
    return OnnxGraph(steps, inputs[0].name, out, input_shape, layers)


def _folded(node, ins, consts, opset):
    """The value of a node of constants only (a transposed weight, a weight times a
    number), computed once at load time by ONNX's reference evaluator."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    node = helper.make_node(node.op_type, list(ins), [node.output[0]], name=node.name,
                            **{a.name: helper.get_attribute_value(a) for a in node.attribute})
    evaluator = ReferenceEvaluator(node, opsets={"": opset})
    return evaluator.run(None, {i: consts[i] for i in ins if i})[0]


def _other(add, name):
    return add.input[1] if add.input[0] == name else add.input[0]


def _bias_after(node, ins, readers, consts):
    """The Add node that adds a constant vector to the output of ``node``, when ``node``
    is a MatMul by a constant matrix and that Add is the only reader of its output."""
    if node.op_type != "MatMul" or ins[1] not in consts or consts[ins[1]].ndim != 2:
        return None
    users = readers.get(node.output[0], [])
    if len(users) != 1 or users[0].op_type != "Add":
        return None
    bias = consts.get(_other(users[0], node.output[0]))
    if bias is None or bias.shape != (consts[ins[1]].shape[1],):
        return None
    return users[0]


def load(path) -> OnnxGraph:
    """Read an ONNX file as a Module that runs and trains in this engine.

    The weights become Parameters of the engine's own layers (``Conv2d``, ``Linear`` ...),
    named after the ONNX nodes, so the model can be drawn (:func:`tinygrad_cnn.viz.
    make_dot`), inspected (:mod:`tinygrad_cnn.inspect`) and fine-tuned like one built
    here; ``model.input_shape`` is the input shape the file declares.

    Raises
    ------
    UnsupportedOpError
        An op (or a setting of one) with no layer here, naming the node and listing the
        ops that are supported.
    OnnxFormatError
        The file is not an ONNX model with one input and one output.
    MissingDependencyError
        ``onnx`` is not installed.
    """
    proto = _read(path)
    return from_proto(proto, os.fspath(path))
