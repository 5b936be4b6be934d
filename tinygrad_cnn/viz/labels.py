"""What each box of a graph drawing says: the text of op, tensor and module labels.

A label is Graphviz HTML: the first line bold (the op, the parameter's name, the module),
the rest small (settings, shape and dtype, gradient statistics). Settings are shortened
the way a reader writes them (``kernel 5, stride 2``, defaults left out where they say
nothing); long lines are clipped. The builders at the bottom read a
:class:`~.walk.GraphWalk` for names, module groups and the model's dtype.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor
from . import provenance
from .gradstats import grad_statistics, node_grad_stats
from .style import GREY_TEXT

# friendly names for op params; these are shown as one number when all entries agree
_KEY_NAMES = {"kernel_size": "kernel", "padding": "pad", "pad_width": "pad"}
_SQUARE_KEYS = {"kernel_size", "stride", "padding", "dilation"}
_GEOMETRY_KEYS = {"stride", "padding", "dilation", "groups"}
_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def _op_params(node) -> dict:
    """The settings drawn in an op's box; a convolution's kernel size comes from its
    weight's shape (the op itself has no use for it)."""
    params = provenance.of(node).params
    if node.name == "Conv2d":
        params = {**params, "kernel_size": tuple(node.input_meta[1][0][2:])}
    return params


# ----------------------------------------------------------------------------- labels

def escape(text) -> str:
    """``text`` safe inside a Graphviz HTML label (``<``, ``>``, ``&`` as entities)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, max_label: int) -> str:
    return text if len(text) <= max_label else text[: max(max_label - 1, 1)] + "\u2026"


def shape_text(shape, dtype) -> str:
    """A tensor's shape and dtype as a box shows them: ``(4, 6, 28, 28) float32``."""
    return f"{tuple(shape)} {np.dtype(dtype).name}"


def _atom(value) -> str:
    """One param value in a few characters; arrays show their dtype and shape only."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{np.dtype(value.dtype).name}{list(value.shape)}"
    if isinstance(value, slice):
        parts = ["" if v is None else str(v) for v in (value.start, value.stop, value.step)]
        return ":".join(parts[:2] if value.step is None else parts)
    if value is Ellipsis:
        return "..."
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return repr(value)


def _param_text(key, value, skip_defaults=False) -> str | None:
    if isinstance(value, (tuple, list)) and key in _SQUARE_KEYS and value \
            and all(v == value[0] for v in value):
        value = value[0]  # (2, 2) -> 2
    if value is None or value is False:
        return None
    if isinstance(value, int) and _DEFAULTS.get(key) == value and (
            skip_defaults or key not in ("stride", "padding")):
        return None
    name = _KEY_NAMES.get(key, key)
    if value is True:
        return name
    if isinstance(value, (tuple, list)):
        if len(value) > 16:
            return f"{name} ({len(value)} items)"
        return f"{name} ({', '.join(_atom(v) for v in value)})"
    return f"{name} {_atom(value)}"


def _attrs_text(params: dict, max_label: int, skip_defaults=False) -> str:
    parts = (_param_text(k, v, skip_defaults) for k, v in params.items())
    return _clip(", ".join(p for p in parts if p), max_label)


def _stats_text(stats: dict) -> str:
    if stats["nonfinite"]:
        return "\u2207 has NaN/Inf"
    return f"\u2207 norm {stats['norm']:.3g} [{stats['min']:.3g}, {stats['max']:.3g}]"


def html_label(lines) -> str:
    """First line bold, the rest small; ``lines`` are (text, grey?) pairs."""
    out = []
    for i, (text, grey) in enumerate(lines):
        text = escape(text)
        if i == 0:
            out.append(f"<B>{text}</B>")
        else:
            colour = f' COLOR="{GREY_TEXT}"' if grey else ""
            out.append(f'<FONT POINT-SIZE="9"{colour}>{text}</FONT>')
    return "<" + "<BR/>".join(out) + ">"


# ----------------------------------------------------------------------------- the boxes
#
# Each ``*_lines`` builder returns (lines, kind of box, marked red?), the lines being
# (text, grey?) pairs: the explorer (:mod:`.explorer_data`) shows them as they are, and
# each ``*_label`` wraps them as Graphviz HTML for the drawing in :mod:`.graph`.

def tensor_label(walk, t, show_grads):
    """A leaf tensor's box in a drawing; see :func:`tensor_lines`."""
    lines, kind, bad = tensor_lines(walk, t, show_grads)
    return html_label(lines), kind, bad


def op_label(walk, node, show_grads, show_attrs, max_label):
    """An op's box in a drawing; see :func:`op_lines`."""
    lines, kind, bad = op_lines(walk, node, show_grads, show_attrs, max_label)
    return html_label(lines), kind, bad


def module_label(walk, group, show_grads, max_label):
    """A collapsed module's box in a drawing; see :func:`module_lines`."""
    lines, kind, bad = module_lines(walk, group, show_grads, max_label)
    return html_label(lines), kind, bad


def tensor_lines(walk, t, show_grads):
    """A leaf tensor: its name (parameter) or 'input', shape, dtype, gradient."""
    param = walk.is_param(t)
    lines = [(walk.names.get(id(t)) or ("parameter" if param else "input"), False),
             (shape_text(t.shape, t.dtype), True)]
    bad = walk.wrong_dtype(t.dtype)
    if show_grads:
        if not bool(backend.array_module(t.device).isfinite(t.data).all()):
            lines.append(("value has NaN/Inf", False))
            bad = True
        if t.grad is not None:
            stats = grad_statistics(t.grad.data)
            lines.append((_stats_text(stats), True))
            bad = bad or walk.grad_flags(stats)
    return lines, "param" if param else "input", bad


def op_lines(walk, node, show_grads, show_attrs, max_label):
    """An op: its name, settings, scalar operands, output shape and dtype, gradient."""
    lines = [(node.name, False)]
    attrs = _attrs_text(_op_params(node), max_label) if show_attrs else ""
    if attrs:
        lines.append((attrs, False))
    for parent, (shape, dtype) in zip(node.parents, node.input_meta, strict=True):
        if parent is None and shape == ():
            lines.append((f"with scalar {np.dtype(dtype).name}", True))
    note, stats = provenance.of(node), node_grad_stats(node)
    lines.append((shape_text(note.out_shape, note.out_dtype), True))
    bad = walk.wrong_dtype(note.out_dtype)
    if show_grads and stats is not None:
        lines.append((_stats_text(stats), True))
        bad = bad or walk.grad_flags(stats)
    return lines, "op", bad


def module_lines(walk, group, show_grads, max_label):
    """A collapsed module: what it is, its geometry, parameter count and output."""
    nodes = walk.members[group]
    name, kind = group[-1]
    lines = [(f"{name} ({kind})" if name else kind, False)]
    params = []
    for node in nodes:
        params.extend((p, node) for p in node.parents if isinstance(p, Tensor)
                      and walk.is_param(p) and all(p is not q for q, _ in params))
    weight, node = max(params, key=lambda pn: pn[0].ndim, default=(None, None))
    if weight is not None and weight.ndim >= 2:
        # PyTorch layouts: (out, in) and (out, in, kh, kw)
        geometry = f"{weight.shape[1]}\u2192{weight.shape[0]}"
        if weight.ndim > 2:
            geometry += " " + "\u00d7".join(str(n) for n in weight.shape[2:])
        rest = {k: v for k, v in _op_params(node).items() if k in _GEOMETRY_KEYS}
        attrs = _attrs_text(rest, max_label, skip_defaults=True)
        lines.append((geometry + (", " + attrs if attrs else ""), False))
    else:
        attrs = ", ".join(filter(None, (_attrs_text(_op_params(n), max_label,
                                                    skip_defaults=True)
                                        for n in nodes)))
        if attrs:
            lines.append((_clip(attrs, max_label), False))
    if params:
        lines.append((f"{sum(int(np.prod(p.shape)) for p, _ in params):,} parameters", True))
    bad = any(walk.wrong_dtype(provenance.of(n).out_dtype) for n in nodes)
    bad = bad or any(walk.wrong_dtype(p.dtype) for p, _ in params)
    if show_grads:
        for p, _ in params:
            if p.grad is not None:
                stats = grad_statistics(p.grad.data)
                short = walk.names.get(id(p), "parameter").rsplit(".", 1)[-1]
                lines.append((f"{short} {_stats_text(stats)}", True))
                bad = bad or walk.grad_flags(stats)
        last = node_grad_stats(nodes[-1])
        if last is not None:
            lines.append((f"output {_stats_text(last)}", True))
        bad = bad or any(node_grad_stats(n) is not None
                         and walk.grad_flags(node_grad_stats(n)) for n in nodes)
    return lines, "module", bad


def output_lines(walk, root, show_grads):
    """The output (usually the loss): shape, dtype, and whether its value is finite."""
    lines = [("output", False), (shape_text(root.shape, root.dtype), True)]
    bad = walk.wrong_dtype(root.dtype)
    if show_grads and not bool(backend.array_module(root.device).isfinite(root.data).all()):
        lines.append(("value has NaN/Inf", False))
        bad = True
    return lines, "output", bad


def input_lines(walk, shape, dtype):
    """An input that needs no gradient: only its shape and dtype are on the tape."""
    return [("input", False), (shape_text(shape, dtype), True)], "input", \
        walk.wrong_dtype(dtype)
