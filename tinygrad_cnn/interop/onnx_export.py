"""ONNX export from the tape: run the model once, walk what autograd recorded, and write
each recorded op as ONNX nodes (:mod:`.onnx_ops`), the parameters as initializers.

Why the tape and not the modules: the tape holds what the model computed, whatever its
``forward`` does (a functional call, a reshape written inline), in the order it ran;
:mod:`tinygrad_cnn.viz.provenance` noted for every node the module it ran in and the op's
settings, so the nodes can be named after the modules (``conv1/Conv``) and an op with no
ONNX form is named with the module it sits in. The tape keeps only what backward needs,
so a constant that is not a parameter is readable only where its op saved it for backward
(``x * 0.5``, a convolution's kernel); elsewhere (``x + 1``) export says so.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from .. import __version__, autograd
from ..fileio import check_writable, write_bytes
from ..tensor import Tensor
from ..viz import provenance
from .onnx_ops import CONVERTERS, supported_ops
from .requirements import UnsupportedOpError, require

#: the ONNX opset written: 18 has every op used here in its current form and runs on
#: ONNX Runtime 1.14 and later
OPSET = 18
SIGNATURE_KEY = "tinygrad_cnn.sha256"


def module_path_text(path) -> str:
    """``features.3`` for a module path noted by provenance; the model itself if empty."""
    names = ".".join(name for name, _ in path if name)
    if names:
        return f"module '{names}' ({path[-1][1]})"
    return f"the forward of {path[-1][1]}" if path else "code outside any module"


class GraphBuilder:
    """The ONNX graph under construction: nodes, initializers, and the names given to
    each tape node's output, each parameter and the input."""

    def __init__(self, helper, numpy_helper, names: dict):
        self.helper, self.numpy_helper = helper, numpy_helper  # onnx's, imported when needed
        self.names = names  # id(tensor or node) -> value name
        self.nodes, self.initializers, self.taken = [], [], set(names.values())

    def _unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def prefix(self, node) -> str:
        return ".".join(name for name, _ in provenance.of(node).module_path if name)

    def add(self, op_type: str, inputs, node, suffix=None, **attrs) -> str:
        """Add one ONNX node for tape ``node``; returns its output's name
        (``conv1/Conv``)."""
        prefix = self.prefix(node)
        base = f"{prefix}/{suffix or op_type}" if prefix else (suffix or op_type)
        name = self._unique(base)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [name], name=name,
                                                **attrs))
        return name

    def constant(self, array, node, what: str) -> str:
        """An initializer holding ``array`` (a shape, axes, a constant operand)."""
        prefix = self.prefix(node)
        name = self._unique(f"{prefix}/{what}" if prefix else what)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def input_shape(self, node, i) -> tuple:
        return tuple(node.input_meta[i][0])

    def input_dtype(self, node, i):
        return np.dtype(node.input_meta[i][1])

    @staticmethod
    def constant_value(node, i):
        """Input ``i`` of ``node`` when it is a constant the op saved for backward (the
        ops here save their operands in input order), else None."""
        saved = getattr(node, "saved", ())
        shape = node.input_meta[i][0]
        if i < len(saved) and getattr(saved[i], "shape", None) == shape:
            from ..backend import to_host

            return to_host(saved[i])
        return None


def _record(model, example):
    """One forward pass of ``model`` in eval mode with every parameter and buffer
    recorded; the output, the input tensor, and ``id -> name`` of the leaves."""
    first = next(iter(model.parameters()), None)
    data = example.data if isinstance(example, Tensor) else np.asarray(example)
    if first is not None and data.dtype.kind == "f" and not isinstance(example, Tensor):
        data = data.astype(first.dtype, copy=False)  # a float64 array for a float32 model
    x = Tensor(data, requires_grad=True, device=None if first is None else first.device)
    leaves = list(model.named_parameters()) + list(model.named_buffers())
    modes = [(m, m.training) for m in model.modules()]
    flags = [(t, t.requires_grad) for _, t in leaves]
    try:
        model.eval()
        for _, t in leaves:
            if t.dtype.kind == "f":
                t.requires_grad = True  # a leaf, so that it is on the tape with its name
        with autograd.set_grad_enabled(True):
            out = model(x)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
        for t, flag in flags:
            t.requires_grad = flag
    return out, x, {id(t): name for name, t in leaves}


def _input_names(builder, node, leaf_names, input_id):
    names = []
    for i, (parent, (shape, _)) in enumerate(zip(node.parents, node.input_meta)):
        if isinstance(parent, autograd.Function):
            names.append(builder.names[id(parent)])
        elif parent is not None:
            if id(parent) not in leaf_names and id(parent) != input_id:
                raise UnsupportedOpError(
                    f"export: {node.name} in {module_path_text(provenance.of(node).module_path)}"
                    f" reads a tensor of shape {shape} that requires grad but is not a "
                    f"parameter of the model; register it as a Parameter")
            names.append(builder.names[id(parent)])
        elif shape is None:
            names.append("")  # an absent optional input (no bias)
        else:
            value = builder.constant_value(node, i)
            if value is None:
                raise UnsupportedOpError(
                    f"export: {node.name} in {module_path_text(provenance.of(node).module_path)}"
                    f" reads a constant of shape {shape} that the tape does not keep; make "
                    f"it a Parameter or a buffer of the module")
            names.append(builder.constant(value, node, "constant"))
    return names


def to_onnx(model, example_input, input_name: str = "input", output_name: str = "output"):
    """The ``onnx.ModelProto`` of one forward pass of ``model`` on ``example_input``
    (see :func:`export`), checked with ``onnx.checker``."""
    onnx = require("onnx")
    from onnx import helper, numpy_helper

    out, x, leaf_names = _record(model, example_input)
    if not isinstance(out, Tensor) or out.grad_fn is None:
        raise UnsupportedOpError("export: the model's output must be one Tensor computed "
                                 "from its input or parameters")
    names = {id(x): input_name}
    names.update(leaf_names)
    builder = GraphBuilder(helper, numpy_helper, names)
    order = autograd.topological_order(out.grad_fn)[::-1]
    used = set()
    for node in order:
        convert = CONVERTERS.get(type(node))
        where = module_path_text(provenance.of(node).module_path)
        if convert is None:
            raise UnsupportedOpError(f"export: the op {node.name} in {where} has no ONNX form "
                                     f"here (supported: {', '.join(supported_ops())})")
        inputs = _input_names(builder, node, leaf_names, id(x))
        used.update(p for p in node.parents if isinstance(p, Tensor))
        builder.names[id(node)] = convert(builder, node, inputs, provenance.of(node).params)
    last = builder.nodes[-1]  # the root's last node: nothing reads its output
    last.output[0] = output_name  # the graph's output gets the plain name
    params = [numpy_helper.from_array(t.numpy(), leaf_names[id(t)])
              for t in used if id(t) in leaf_names]
    params.sort(key=lambda p: p.name)
    read = {name for n in builder.nodes for name in n.input}
    constants = [c for c in builder.initializers if c.name in read]  # not those a
    elem = helper.np_dtype_to_tensor_dtype  # converter replaced (a mean kernel)
    graph = helper.make_graph(
        builder.nodes, type(model).__name__,
        [helper.make_tensor_value_info(input_name, elem(x.dtype), ["N", *x.shape[1:]])],
        [helper.make_tensor_value_info(output_name, elem(out.dtype), ["N", *out.shape[1:]])],
        initializer=params + constants)
    proto = helper.make_model(graph, producer_name="tinygrad_cnn", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = min(proto.ir_version, 10)  # what ONNX Runtime reads
    proto.doc_string = f"{type(model).__name__} exported from tinygrad_cnn's autograd tape"
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _digest(proto) -> str:
    unsigned = type(proto)()
    unsigned.CopyFrom(proto)
    kept = [p for p in unsigned.metadata_props if p.key != SIGNATURE_KEY]
    del unsigned.metadata_props[:]
    unsigned.metadata_props.extend(kept)
    return hashlib.sha256(unsigned.SerializeToString(deterministic=True)).hexdigest()


def written_by_us(path) -> bool:
    """Whether ``path`` is an ONNX file this package wrote and nobody edited since (its
    metadata carries the SHA-256 of the rest)."""
    if not os.path.isfile(path):
        return False
    onnx = require("onnx")
    try:
        proto = onnx.load(os.fspath(path), load_external_data=False)
    except Exception:  # not ONNX at all: not ours
        return False
    marks = [p.value for p in proto.metadata_props if p.key == SIGNATURE_KEY]
    return bool(marks) and marks[0] == _digest(proto)


def export(model, example_input, path, input_name: str = "input",
           output_name: str = "output", force: bool = False):
    """Write one recorded forward pass of ``model`` as an ONNX file.

    Parameters
    ----------
    model : nn.Module
        Run once in eval mode (then put back in its mode); its parameters and buffers
        become initializers under their state-dict names.
    example_input : Tensor or array
        An input of the shape the model takes; its first axis is the batch, written as
        the free dimension ``N``.
    path : str or PathLike
        Where to write; a file this package did not write is replaced only with ``force``.

    Returns
    -------
    onnx.ModelProto
        The model written, already checked by ``onnx.checker``.

    Raises
    ------
    UnsupportedOpError
        An op with no ONNX form, naming the op and the module it sits in.
    MissingDependencyError
        ``onnx`` is not installed.
    """
    proto = to_onnx(model, example_input, input_name, output_name)
    check_writable(path, "ONNX file")
    if os.path.exists(path) and not force and not written_by_us(path):
        raise FileExistsError(f"{os.fspath(path)}: refusing to overwrite the ONNX file: it "
                              f"exists and was not written by tinygrad-cnn (use --force, "
                              f"or force=True, to replace it, or choose another name)")
    proto.metadata_props.add(key=SIGNATURE_KEY, value=_digest(proto))
    write_bytes(path, proto.SerializeToString(deterministic=True), what="ONNX file")
    return proto
