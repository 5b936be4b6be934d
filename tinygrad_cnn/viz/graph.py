"""Graphviz drawings of the computation graph: :func:`make_dot`.

The picture is read top to bottom in forward direction: data inputs (green) and
parameters (blue) flow through op boxes (grey, with their key attributes and output
shape) to the output (orange). Ops created inside a module call sit in a cluster per
module (``conv1 (Conv2d)``), nested as the modules nest. Anything suspicious (NaN/Inf,
a float64 inside a float32 model) is drawn in red. Node ids come from the walk order,
so one graph always gives the same DOT text.

The work is shared: :mod:`.walk` finds what to draw, :mod:`.labels` says what each box
shows, :mod:`.style` how it looks; this module writes the DOT text. Pictures come from
:func:`.rendering.render`, the training-step picture from :mod:`.training_step`.
"""

from __future__ import annotations

import graphviz

from .. import autograd
from ..tensor import Tensor
from .labels import (
    escape,
    html_label,
    input_lines,
    module_label,
    op_label,
    output_lines,
    tensor_label,
)
from .style import (
    CLUSTER_BORDER,
    CLUSTER_FILLS,
    EDGE_ATTRS,
    GRAPH_ATTRS,
    MARKED,
    NODE_ATTRS,
    NODE_STYLES,
)
from .walk import GraphWalk


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
        line = f"\t{nid} [label={label} {NODE_STYLES[style]}{MARKED if bad else ''}]\n"
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
                title = escape(f"{name} ({kind})" if name else kind)
                fill = CLUSTER_FILLS[min(len(item) - 1, len(CLUSTER_FILLS) - 1)]
                out.append(f"\tsubgraph cluster_{self.ids[item]} {{\n"
                           f'\tlabel=<<B>{title}</B>> labeljust=l fontsize=12 '
                           f'style="rounded,filled" fillcolor="{fill}" '
                           f'color="{CLUSTER_BORDER}"\n')
                stack.append(iter(self.items[item]))
        return out + self.edges


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
    walk = GraphWalk(root, params, collapse)
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
                    drawing.node(src, path, *tensor_label(walk, parent, show_grads))
                edge(src, dst, shape)
            elif shape not in ((), None):  # an input needing no gradient (None: absent)
                src, inputs = f"c{inputs}", inputs + 1
                lines, kind, bad = input_lines(walk, shape, dtype)
                drawing.node(src, (), html_label(lines), kind, bad)
                edge(src, dst, shape)
        if dst in drawn:
            continue
        drawn.add(dst)
        group = walk.group_of.get(id(node))
        if group is None:
            label = op_label(walk, node, show_grads, show_attrs, max_label)
            drawing.node(dst, walk.paths[id(node)], *label)
        else:
            drawing.node(dst, group[:-1], *module_label(walk, group, show_grads, max_label))
    if walk.root_node is None:
        drawing.node("t0", (), *tensor_label(walk, root, show_grads))
    lines, kind, bad = output_lines(walk, root, show_grads)
    drawing.node("out", (), html_label(lines), kind, bad)
    edge(walk.rep(walk.root_node) if walk.root_node is not None else "t0", "out", root.shape)
    graph_attr = {"rankdir": rankdir, **GRAPH_ATTRS}
    if title:
        graph_attr.update(label=title, labelloc="t", fontsize="16")
    return graphviz.Digraph(
        name="tinygrad_cnn", graph_attr=graph_attr, body=drawing.body(),
        node_attr=dict(NODE_ATTRS), edge_attr=dict(EDGE_ATTRS),
    )
