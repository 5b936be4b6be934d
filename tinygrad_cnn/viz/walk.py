"""The walk behind a graph drawing: which nodes are drawn, in which order, under which
names, and which of them a collapsed module box stands for.

One pass over the tape (:func:`tinygrad_cnn.autograd.topological_order`, reversed into
forward order) collects the leaves (parameters, inputs) and their users, the module path
of each op (noted by :mod:`.provenance`), and, when modules are collapsed, the group each
op belongs to. The drawing (:mod:`.graph`) and the labels (:mod:`.labels`) then only read it.
"""

from __future__ import annotations

import collections

import numpy as np

from .. import autograd
from ..tensor import Tensor
from . import provenance


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


class GraphWalk:
    """One pass over the tape: forward order, leaves, names and module groups.

    What the drawing and the labels read: ``order`` (the nodes, forward), ``names``
    (parameter id -> name), ``paths`` (node id -> module path), ``group_of`` and
    ``members`` (the module box each op is folded into, and its ops), ``ref_dtype``
    (the model's float dtype, against which a stray float64 is marked).
    """

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
        """A float64 in a float32 model: usually a stray NumPy default, drawn red."""
        return np.dtype(dtype) == np.float64 and self.ref_dtype == np.float32

    def grad_flags(self, stats) -> bool:
        """Whether gradient ``stats`` (see :func:`.gradstats.grad_statistics`) look wrong."""
        return stats["nonfinite"] or self.wrong_dtype(stats["dtype"])
