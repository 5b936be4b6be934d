"""What the graph explorer shows, as plain data: the module tree, the boxes, the edges.

The explorer page (:mod:`.explorer`) lays the graph out in the browser, so it needs the
graph as data, not as DOT text. :func:`graph_data` reads the same walk as the static
drawing (:class:`~.walk.GraphWalk`, iterative, forward order) and the same box texts
(:mod:`.labels`: settings, shapes, gradient statistics, red marks), and adds what only an
explorer needs: every module at every depth (each can be opened or closed), the module
each box sits in, and for the backward view the step at which ``backward()`` reaches
each op and whether a gradient flows along each edge.

Everything is lists, strings, numbers and booleans, ready for ``json.dumps``; indices
point into the lists, so a 10,000-op graph stays a flat array of small records.
"""

from __future__ import annotations

import collections

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .labels import input_lines, module_lines, op_lines, output_lines, tensor_lines
from .walk import GraphWalk

#: the longest settings line in a box; the tooltip repeats the box's lines
MAX_LABEL = 48


def _title(entry) -> str:
    name, kind = entry
    return f"{name} ({kind})" if name else kind


class _Modules:
    """The module tree: one record per module path, parents before children, numbered in
    the order the forward pass first entered them."""

    def __init__(self):
        self.index, self.records, self.paths = {}, [], []

    def of(self, path) -> int:
        """The index of module ``path`` (added with its ancestors if new); -1 for ()."""
        for k in range(1, len(path) + 1):  # outermost first, so parents come first
            if path[:k] not in self.index:
                self.index[path[:k]] = len(self.records)
                self.paths.append(path[:k])
                self.records.append({"title": _title(path[k - 1]),
                                     "parent": self.index.get(path[:k - 1], -1),
                                     "path": " \u203a ".join(_title(e) for e in path[:k])})
        return self.index.get(path, -1)


def _common_module(paths) -> tuple:
    """The innermost module that holds all of ``paths`` (where a shared parameter sits)."""
    first = paths[0]
    depth = min(len(p) for p in paths)
    for p in paths[1:]:
        depth = next((k for k in range(depth) if p[k] != first[k]), depth)
    return first[:depth]


def _node(lines, kind, bad, module, name, step=-1) -> dict:
    return {"kind": kind, "lines": [[text, grey] for text, grey in lines], "bad": bool(bad),
            "module": module, "name": name, "step": step}


def graph_data(root, params=None, show_grads=False, title=None) -> dict:
    """The graph that produced ``root`` as data for the explorer page.

    Parameters
    ----------
    root : Tensor
        Usually the loss.
    params : dict of name -> Tensor, or a Module, optional
        Names the parameters, as for :func:`~.graph.make_dot`.
    show_grads : bool
        Add the gradient statistics (after ``backward()``, see :func:`make_dot`).
    title : str, optional
        Shown above the graph.

    Returns
    -------
    dict
        ``modules`` (title, parent index, full path, box lines, leaf?), ``nodes`` (kind,
        lines, red mark, module index, search name, backward step), ``edges``
        (source, target, shape text, carries a gradient?), ``title``, ``grads``,
        ``backward_steps`` (how many ops ``backward()`` runs).
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"explore: root must be a Tensor (e.g. the loss), got "
                        f"{type(root).__name__}")
    walk = GraphWalk(root, params, collapse=False)
    modules = _Modules()
    nodes, edges = [], []
    index = {}  # node id / leaf id -> position in nodes
    steps = len(walk.order)

    for position, node in enumerate(walk.order):  # forward order: parents first
        incoming = []  # (source index, shape text, carries a gradient?)
        for parent, (shape, dtype) in zip(node.parents, node.input_meta, strict=True):
            if isinstance(parent, autograd.Function):
                incoming.append((index[id(parent)], str(tuple(shape)), True))
            elif isinstance(parent, Tensor):
                if id(parent) not in index:
                    users = [walk.paths[id(u)] for u in walk.leaf_users[id(parent)]]
                    where = _common_module(users) if walk.is_param(parent) else ()
                    lines, kind, bad = tensor_lines(walk, parent, show_grads)
                    name = walk.names.get(id(parent)) or lines[0][0]
                    index[id(parent)] = len(nodes)
                    nodes.append(_node(lines, kind, bad, modules.of(where), name))
                incoming.append((index[id(parent)], str(tuple(shape)), True))
            elif shape not in ((), None):  # an input needing no gradient, drawn per use
                nodes.append(_node(*input_lines(walk, shape, dtype), -1, "input"))
                incoming.append((len(nodes) - 1, str(tuple(shape)), False))
        lines, kind, bad = op_lines(walk, node, show_grads, True, MAX_LABEL)
        index[id(node)] = len(nodes)
        # backward() runs the ops in the reverse of this order, the root's op first
        nodes.append(_node(lines, kind, bad, modules.of(walk.paths[id(node)]), node.name,
                           steps - position))
        edges.extend([source, len(nodes) - 1, shape, grad] for source, shape, grad in incoming)

    if walk.root_node is None:  # the root is a leaf: nothing was recorded
        lines, kind, bad = tensor_lines(walk, root, show_grads)
        index[id(root)] = len(nodes)
        nodes.append(_node(lines, kind, bad, -1, walk.names.get(id(root), "input")))
        last = len(nodes) - 1
    else:
        last = index[id(walk.root_node)]
    lines, kind, bad = output_lines(walk, root, show_grads)
    nodes.append(_node(lines, kind, bad, -1, "output"))
    edges.append([last, len(nodes) - 1, str(tuple(root.shape)), walk.root_node is not None])
    return {"title": title or "", "grads": bool(show_grads), "backward_steps": steps,
            "modules": _module_records(walk, modules, show_grads), "nodes": nodes,
            "edges": edges}


def _module_records(walk, modules, show_grads) -> list:
    """Each module's box: a leaf module (one that holds ops only) says what the static
    layer picture says; a module of modules says how many ops and parameters it holds."""
    members = collections.defaultdict(list)
    for node in walk.order:
        path = walk.paths[id(node)]
        for k in range(1, len(path) + 1):
            members[path[:k]].append(node)
    has_children = {p[:-1] for p in modules.paths}
    walk.members.update(members)  # what labels.module_lines reads for a module's ops
    out = []
    for path, record in zip(modules.paths, modules.records, strict=True):
        ops = members[path]
        if path not in has_children:
            lines, _, bad = module_lines(walk, path, show_grads, MAX_LABEL)
        else:
            params = {id(p): p for n in ops for p in n.parents
                      if isinstance(p, Tensor) and walk.is_param(p)}
            count = sum(int(np.prod(p.shape)) for p in params.values())
            lines = [(record["title"], False),
                     (f"{len(ops):,} ops, {count:,} parameters", True)]
            bad = any(walk.wrong_dtype(p.dtype) for p in params.values())
        out.append({**record, "lines": [[t, g] for t, g in lines], "bad": bool(bad),
                    "leaf": path not in has_children})
    return out

