"""Graphviz drawings of the computation graph: :func:`make_dot`, :func:`render`,
:func:`draw_training_step`.

The picture is read top to bottom in forward direction: data inputs (green) and
parameters (blue) flow through op boxes (grey, with their key attributes and output
shape) to the output (orange). Ops created inside a module call sit in a cluster per
module (``conv1 (Conv2d)``), nested as the modules nest. Anything suspicious (NaN/Inf,
a float64 inside a float32 model) is drawn in red. Node ids come from the walk order,
so one graph always gives the same DOT text.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import weakref

import graphviz
import numpy as np

from .. import autograd, backend
from . import provenance
from ..fileio import check_output, write_output
from ..tensor import Tensor

_FONT = "Helvetica"
_STYLE = {
    # ops share a group so that dot keeps the data path straight
    "op": 'shape=box style="rounded,filled" fillcolor="#f2f2f2" color="#7f7f7f" group=ops',
    "module": 'shape=box style="rounded,filled" fillcolor="#fff6d5" color="#b59b3b" '
              'penwidth=1.5 group=ops',
    "param": 'shape=box style="filled" fillcolor="#dbe9f6" color="#4a7fb5"',
    "input": 'shape=box style="rounded,filled" fillcolor="#dcf2dc" color="#4f9a4f"',
    "output": 'shape=box style="rounded,filled" fillcolor="#fde2c2" color="#d9822b" '
              'penwidth=1.5',
}
_BAD = ' color="#d62728" fontcolor="#d62728" fillcolor="#fde0dc" penwidth=2.5'
_CLUSTER_FILLS = ("#f7f9fc", "#eef2f8", "#e4eaf3")
# friendly names for op params; these are shown as one number when all entries agree
_KEY_NAMES = {"kernel_size": "kernel", "padding": "pad", "pad_width": "pad"}
_SQUARE_KEYS = {"kernel_size", "stride", "padding", "dilation"}
_GEOMETRY_KEYS = {"stride", "padding", "dilation", "groups"}
_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """The Graphviz ``dot`` program is missing; the DOT source was written anyway."""

    def __init__(self, message: str):
        RuntimeError.__init__(self, message)


# ----------------------------------------------------------------------------- gradient stats

_grad_stats: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def grad_statistics(grad) -> dict:
    """Norm, min, max of a gradient array, whether it holds NaN/Inf, and its dtype."""
    xp = backend.xp_of(grad)
    g = grad.astype("float64")
    return {
        "norm": float(xp.sqrt((g * g).sum())),
        "min": float(g.min()) if g.size else 0.0,
        "max": float(g.max()) if g.size else 0.0,
        "nonfinite": not bool(xp.isfinite(grad).all()),
        "dtype": str(grad.dtype),
    }


@contextlib.contextmanager
def record_grad_stats():
    """Inside, ``backward()`` notes the statistics of each node's output gradient for
    :func:`make_dot` (``show_grads``); off by default, because each costs a reduction and a
    read of the device."""
    handle = autograd.on_backward(lambda node, g: _grad_stats.__setitem__(
        node, grad_statistics(g)))
    try:
        yield
    finally:
        handle.remove()


def _node_grad_stats(node):
    return _grad_stats.get(node)


def _op_params(node) -> dict:
    """The settings drawn in an op's box; a convolution's kernel size comes from its
    weight's shape (the op itself has no use for it)."""
    params = provenance.of(node).params
    if node.name == "Conv2d":
        params = {**params, "kernel_size": tuple(node.input_meta[1][0][2:])}
    return params


# ----------------------------------------------------------------------------- labels

def _esc(text) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, max_label: int) -> str:
    return text if len(text) <= max_label else text[: max(max_label - 1, 1)] + "\u2026"


def _shape_text(shape, dtype) -> str:
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


def _html(lines) -> str:
    """First line bold, the rest small; ``lines`` are (text, grey?) pairs."""
    out = []
    for i, (text, grey) in enumerate(lines):
        text = _esc(text)
        if i == 0:
            out.append(f"<B>{text}</B>")
        else:
            colour = ' COLOR="#555555"' if grey else ""
            out.append(f'<FONT POINT-SIZE="9"{colour}>{text}</FONT>')
    return "<" + "<BR/>".join(out) + ">"


# ----------------------------------------------------------------------------- the walk

def _param_names(params) -> dict:
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = dict(params.named_parameters())
    return {id(t): name for name, t in params.items()}


def _reference_dtype(leaves, names):
    """The model's float dtype: the parameters' (most common), else the leaves'."""
    pool = [t for t in leaves if id(t) in names] or [t for t in leaves if t.requires_grad]
    counts = collections.Counter(t.dtype for t in pool if t.dtype.kind == "f")
    return counts.most_common(1)[0][0] if counts else np.dtype(np.float32)


def _collapse_targets(paths, collapse):
    """Map each module path that gets drawn as one node to itself (its 'group')."""
    if not collapse:
        return set()
    prefixes = {p[:k] for p in paths for k in range(1, len(p) + 1)}
    if collapse is True or collapse == "leaf":
        return {p for p in prefixes if not any(q[: len(p)] == p and q != p for q in prefixes)}
    if collapse == "top":
        firsts = {p[0] for p in prefixes}
        depth = 2 if len(firsts) == 1 and any(len(p) > 1 for p in prefixes) else 1
    elif isinstance(collapse, int):
        depth = collapse
    else:
        raise ValueError(f"make_dot: collapse must be False, True, 'leaf', 'top' or a depth, "
                         f"got {collapse!r}")
    return {p for p in prefixes if len(p) == depth}


class _Drawing:
    """Collects node lines per cluster, in drawing order, then writes the DOT body once.

    Each module path owns a list of items: node lines, and its child clusters at the
    place where they first appeared, so the DOT text follows the forward order.
    """

    def __init__(self):
        self.items = {(): []}  # module path -> node lines and child paths
        self.ids = {}  # module path -> cluster number, in order of first appearance
        self.edges = []

    def node(self, nid, path, label, style, bad=False):
        for k in range(1, len(path) + 1):
            if path[:k] not in self.items:
                self.items[path[:k]] = []
                self.ids[path[:k]] = len(self.ids)
                self.items[path[: k - 1]].append(path[:k])
        line = f"\t{nid} [label={label} {_STYLE[style]}{_BAD if bad else ''}]\n"
        self.items[path].append(line)

    def edge(self, src, dst, label=None):
        extra = f' [label="{label}"]' if label else ""
        self.edges.append(f"\t{src} -> {dst}{extra}\n")

    def body(self) -> list:
        out = []
        stack = [iter(self.items[()])]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
                if stack:
                    out.append("\t}\n")
            elif isinstance(item, str):
                out.append(item)
            else:
                name, kind = item[-1]
                title = _esc(f"{name} ({kind})" if name else kind)
                fill = _CLUSTER_FILLS[min(len(item) - 1, len(_CLUSTER_FILLS) - 1)]
                out.append(f"\tsubgraph cluster_{self.ids[item]} {{\n"
                           f'\tlabel=<<B>{title}</B>> labeljust=l fontsize=12 '
                           f'style="rounded,filled" fillcolor="{fill}" color="#9aa7b8"\n')
                stack.append(iter(self.items[item]))
        return out + self.edges


class _Walk:
    """One pass over the tape: forward order, leaves, names and module groups."""

    def __init__(self, root, params, collapse):
        self.names = _param_names(params)
        self.root_node = root.grad_fn
        node = self.root_node
        self.order = autograd.topological_order(node)[::-1] if node is not None else []
        self.leaf_ids, self.leaf_users = {}, collections.defaultdict(list)
        leaves = []
        for node in self.order:
            for parent in node.parents:
                if isinstance(parent, Tensor):
                    if id(parent) not in self.leaf_ids:
                        self.leaf_ids[id(parent)] = f"t{len(leaves)}"
                        leaves.append(parent)
                    self.leaf_users[id(parent)].append(node)
        if self.root_node is None:
            leaves.append(root)
        self.ref_dtype = _reference_dtype(leaves, self.names)
        self.node_ids = {id(node): f"n{i}" for i, node in enumerate(self.order)}
        self.paths = {id(n): provenance.of(n).module_path for n in self.order}
        targets = _collapse_targets({p for p in self.paths.values() if p}, collapse)
        self.group_of, self.group_ids = {}, {}
        self.members = collections.defaultdict(list)
        for node in self.order if targets else ():
            path = self.paths[id(node)]
            group = next((path[:k] for k in range(1, len(path) + 1) if path[:k] in targets),
                         None)
            if group is not None:
                self.group_of[id(node)] = group
                self.group_ids.setdefault(group, f"m{len(self.group_ids)}")
                self.members[group].append(node)

    def rep(self, node) -> str:
        """Id of the drawn node that shows op ``node`` (itself or its module's node)."""
        group = self.group_of.get(id(node))
        return self.group_ids[group] if group is not None else self.node_ids[id(node)]

    def is_param(self, t) -> bool:
        users = self.leaf_users.get(id(t))
        return id(t) in self.names or bool(not self.names and users
                                           and self.paths[id(users[0])])

    def is_folded(self, t) -> bool:
        """A parameter used only inside collapsed modules is part of their node."""
        users = self.leaf_users.get(id(t))
        return bool(users and self.is_param(t) and all(id(u) in self.group_of for u in users))

    def wrong_dtype(self, dtype) -> bool:
        return np.dtype(dtype) == np.float64 and self.ref_dtype == np.float32

    def grad_flags(self, stats) -> bool:
        return stats["nonfinite"] or self.wrong_dtype(stats["dtype"])


def _tensor_label(walk, t, show_grads):
    """A leaf tensor: its name (parameter) or 'input', shape, dtype, gradient."""
    param = walk.is_param(t)
    lines = [(walk.names.get(id(t)) or ("parameter" if param else "input"), False),
             (_shape_text(t.shape, t.dtype), True)]
    bad = walk.wrong_dtype(t.dtype)
    if show_grads:
        if not bool(backend.array_module(t.device).isfinite(t.data).all()):
            lines.append(("value has NaN/Inf", False))
            bad = True
        if t.grad is not None:
            stats = grad_statistics(t.grad.data)
            lines.append((_stats_text(stats), True))
            bad = bad or walk.grad_flags(stats)
    return _html(lines), "param" if param else "input", bad


def _op_label(walk, node, show_grads, show_attrs, max_label):
    lines = [(node.name, False)]
    attrs = _attrs_text(_op_params(node), max_label) if show_attrs else ""
    if attrs:
        lines.append((attrs, False))
    for parent, (shape, dtype) in zip(node.parents, node.input_meta, strict=True):
        if parent is None and shape == ():
            lines.append((f"with scalar {np.dtype(dtype).name}", True))
    note, stats = provenance.of(node), _node_grad_stats(node)
    lines.append((_shape_text(note.out_shape, note.out_dtype), True))
    bad = walk.wrong_dtype(note.out_dtype)
    if show_grads and stats is not None:
        lines.append((_stats_text(stats), True))
        bad = bad or walk.grad_flags(stats)
    return _html(lines), "op", bad


def _module_label(walk, group, show_grads, max_label):
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
        last = _node_grad_stats(nodes[-1])
        if last is not None:
            lines.append((f"output {_stats_text(last)}", True))
        bad = bad or any(_node_grad_stats(n) is not None
                         and walk.grad_flags(_node_grad_stats(n)) for n in nodes)
    return _html(lines), "module", bad


def make_dot(root, params=None, *, collapse=False, show_grads=False, show_attrs=True,
             max_label=48, rankdir="TB", title=None) -> graphviz.Digraph:
    """Draw the graph that produced ``root`` in forward direction.

    Parameters
    ----------
    root : Tensor
        Usually the loss. Its node and everything reachable from it is drawn.
    params : dict of name -> Tensor, or a Module, optional
        Names parameters (matched by identity); a Module gives ``named_parameters()``.
        Without names, leaves that require grad and are used inside a module are still
        drawn as parameters, labelled by shape.
    collapse : False, True/'leaf', 'top' or int
        Draw each leaf module (True), each child of the model ('top') or each module at
        that depth as one node, with tensor shapes on the edges.
    show_grads : bool
        After ``backward()``: gradient norm/min/max per tensor (op outputs need the
        backward to run inside :func:`record_grad_stats`); NaN/Inf marked red.
    show_attrs : bool
        Show op attributes (stride, padding, axis...); arrays show only their shape.
    max_label : int
        Longest attribute line, in characters.
    rankdir : {"TB", "LR"}
        Top to bottom or left to right.
    title : str, optional
        A caption above the picture.

    Returns
    -------
    graphviz.Digraph
        Its ``source`` is the DOT text; see :func:`render` for pictures.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"make_dot: root must be a Tensor (e.g. the loss), got "
                        f"{type(root).__name__}")
    walk = _Walk(root, params, collapse)
    drawing = _Drawing()
    labelled = bool(walk.group_of)  # shapes go on the edges when modules hide their ops
    drawn, seen, inputs = set(), set(), 0

    def edge(src, dst, shape):
        if src == dst or (labelled and (src, dst) in seen):
            return
        seen.add((src, dst))
        drawing.edge(src, dst, str(tuple(shape)) if labelled else None)

    for node in walk.order:  # forward order: each node is drawn before its users
        dst = walk.rep(node)
        for parent, (shape, dtype) in zip(node.parents, node.input_meta, strict=True):
            if isinstance(parent, autograd.Function):
                edge(walk.rep(parent), dst, shape)
            elif isinstance(parent, Tensor):
                if walk.is_folded(parent):
                    continue
                src = walk.leaf_ids[id(parent)]
                if src not in drawn:
                    drawn.add(src)
                    users = walk.leaf_users[id(parent)]
                    path = walk.paths[id(users[0])] if walk.is_param(parent) else ()
                    group = walk.group_of.get(id(users[0]))
                    path = group[:-1] if group is not None and path else path
                    drawing.node(src, path, *_tensor_label(walk, parent, show_grads))
                edge(src, dst, shape)
            elif shape not in ((), None):  # an input needing no gradient (None: absent)
                src, inputs = f"c{inputs}", inputs + 1
                lines = [("input", False), (_shape_text(shape, dtype), True)]
                drawing.node(src, (), _html(lines), "input", walk.wrong_dtype(dtype))
                edge(src, dst, shape)
        if dst in drawn:
            continue
        drawn.add(dst)
        group = walk.group_of.get(id(node))
        if group is None:
            label = _op_label(walk, node, show_grads, show_attrs, max_label)
            drawing.node(dst, walk.paths[id(node)], *label)
        else:
            drawing.node(dst, group[:-1], *_module_label(walk, group, show_grads, max_label))
    if walk.root_node is None:
        drawing.node("t0", (), *_tensor_label(walk, root, show_grads))
    lines = [("output", False), (_shape_text(root.shape, root.dtype), True)]
    bad = walk.wrong_dtype(root.dtype)
    if show_grads and not bool(backend.array_module(root.device).isfinite(root.data).all()):
        lines.append(("value has NaN/Inf", False))
        bad = True
    drawing.node("out", (), _html(lines), "output", bad)
    edge(walk.rep(walk.root_node) if walk.root_node is not None else "t0", "out", root.shape)
    graph_attr = {"rankdir": rankdir, "fontname": _FONT, "fontsize": "12", "nodesep": "0.25",
                  "ranksep": "0.3", "newrank": "true", "ordering": "in"}
    if title:
        graph_attr.update(label=title, labelloc="t", fontsize="16")
    return graphviz.Digraph(
        name="tinygrad_cnn", graph_attr=graph_attr, body=drawing.body(),
        node_attr={"fontname": _FONT, "fontsize": "11", "margin": "0.12,0.04",
                   "height": "0.3"},
        edge_attr={"fontname": _FONT, "fontsize": "9", "arrowsize": "0.6",
                   "color": "#555555"},
    )


# ----------------------------------------------------------------------------- files

_FORMATS = ("svg", "png", "pdf")


def _install_hint() -> str:
    """The install command for this platform first, then the others."""
    hints = {"apt": "apt-get install graphviz (Debian/Ubuntu; dnf or pacman elsewhere)",
             "brew": "brew install graphviz (macOS)", "conda": "conda install graphviz",
             "winget": "winget install graphviz (Windows)"}
    if os.environ.get("CONDA_PREFIX"):
        first = "conda"
    else:
        first = {"darwin": "brew", "win32": "winget"}.get(sys.platform, "apt")
    return "; or ".join([hints.pop(first)] + list(hints.values()))


def render(dot: graphviz.Digraph, path, format=None, force: bool = False) -> str:
    """Render ``dot`` to ``path`` (written atomically, never over a file this library did
    not write unless ``force``).

    Parameters
    ----------
    dot : graphviz.Digraph
        From :func:`make_dot`.
    path : str or os.PathLike
        The picture to write, e.g. ``"lenet5.svg"``; a path ending in ``.dot`` writes the
        DOT source itself.
    format : {"svg", "png", "pdf", "dot"}, optional
        Defaults to the suffix of ``path``, else svg (then ``.svg`` is appended).
    force : bool
        Replace an existing file that was not written by tinygrad-cnn.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    GraphvizNotFoundError
        When the Graphviz ``dot`` program is missing: the DOT source was written beside
        ``path`` instead (``lenet5.dot``), and the message says so and how to install
        Graphviz.
    FileExistsError
        ``path`` exists, was not written by tinygrad-cnn, and ``force`` is false.
    """
    path = os.fspath(path)
    stem, suffix = os.path.splitext(path)
    suffix = suffix.lstrip(".").lower()
    known = _FORMATS + ("dot", "gv")
    format = (format or (suffix if suffix in known else "svg")).lower()
    if format not in known:
        raise ValueError(f"render: unknown format {format!r}; use one of svg, png, pdf, dot")
    if suffix in known and suffix != format:
        raise ValueError(f"render: {path} ends in .{suffix} but the format is {format!r}")
    if suffix != format:  # no suffix, or one that names no format: add it
        stem, path = path, f"{path}.{format}"
    check_output(path, force, "graph")
    source = dot.source.encode("utf-8")
    if format in ("dot", "gv"):
        write_output(path, source, "dot", force, "graph")
        return path
    try:
        picture = dot.pipe(format=format)
    except graphviz.ExecutableNotFound:
        dot_path = f"{stem}.dot"
        write_output(dot_path, source, "dot", force, "DOT source")
        raise GraphvizNotFoundError(
            f"cannot render {path}: the Graphviz 'dot' program is not installed or not on "
            f"PATH. Install it with: {_install_hint()}. The DOT source was written to "
            f"{dot_path}; render it later with: dot -T{format} {dot_path} -o {path}"
        ) from None
    write_output(path, picture, format, force, "graph")
    return path


# ----------------------------------------------------------------------------- the CLI helper

def draw_training_step(model="lenet5", batch_size=4, *, collapse=False, grads=False,
                       input_shape=(1, 28, 28), seed=0, **options) -> graphviz.Digraph:
    """The graph of one training step: forward, cross-entropy loss, optionally backward.

    Parameters
    ----------
    model : Module or str
        A model, or a name from ``models`` ("lenet5"), built with ``seed``.
    batch_size : int
        Rows of the random input batch (values in [0, 1), random class targets).
    collapse, options
        Passed to :func:`make_dot` (``collapse=True`` gives the layer picture).
    grads : bool
        Also run ``backward()`` inside :func:`record_grad_stats` and show the
        gradient statistics. This fills ``.grad`` of the model's parameters (zeroed first).
    input_shape : tuple
        One sample's shape, without the batch axis.
    seed : int
        Seeds the data (and the weights of a model built from a name); the library's
        global random state is left as it was.
    """
    from .. import models  # viz sits beside the CLI, above models in the import order
    from ..nn import functional as F

    state = backend.get_state()
    try:
        if isinstance(model, str):
            key = model.strip().lower().replace("-", "").replace("_", "")
            factories = {"lenet5": models.LeNet5, "lenet": models.LeNet5}
            if key not in factories:
                raise ValueError(f"draw_training_step: unknown model {model!r}; "
                                 f"known: lenet5")
            backend.manual_seed(seed)
            model = factories[key]()
        params = list(model.parameters())
        device = params[0].device if params else backend.default_device()
        rng = np.random.default_rng(seed)
        x = Tensor(rng.random((batch_size, *input_shape), dtype=np.float32), device=device)
        logits = model(x)
        target = Tensor(rng.integers(0, logits.shape[-1], size=batch_size), device=device)
        loss = F.cross_entropy(logits, target)
        if grads:
            model.zero_grad()
            with record_grad_stats():
                loss.backward()
    finally:
        backend.set_state(state)
    options.setdefault("title", f"{type(model).__name__}: one training step, batch of "
                                f"{batch_size}")
    return make_dot(loss, model, collapse=collapse, show_grads=grads, **options)
