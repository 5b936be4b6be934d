"""The package's architecture, read from its own source: the layer table, the imports
between modules, the ones that break the table, and a picture of it all.

:data:`LAYERS` is THE layer table of ``tinygrad_cnn``, bottom to top. A module may import
any module of a lower layer and the modules of its own unit (a top-level module, or
everything under a subpackage's folder); it may not import a higher layer, nor another
unit of its own layer (peers stay independent: ``train`` and ``viz`` do not know each
other), unless :data:`EXCEPTIONS` says so and why. Units are folders or module names, so
splitting ``nn/conv.py`` into ``nn/conv/`` or ``backend.py`` into ``backend/`` changes
nothing here; a new top-level module must be placed in the table by hand.

The imports are read from the source by :mod:`.imports` (:func:`import_graph`): every
import of every module, those inside functions too, nothing imported.
``tests/test_layout.py`` asserts that :func:`violations` is empty, and
``make architecture`` draws ``docs/architecture.svg`` (and ``.png``) with :func:`draw`::

    python -m tinygrad_cnn.viz.architecture docs/architecture.svg docs/architecture.png
"""

from __future__ import annotations

import collections
import os
import sys
from typing import NamedTuple

import graphviz

from .imports import (  # noqa: F401  (import_graph, modules, private_names_crossing: here too)
    PACKAGE_DIR,
    Import,
    PackageSource,
    import_graph,
    modules,
    private_names_crossing,
    read_package,
)
from .labels import escape
from .rendering import GraphvizNotFoundError, render
from .style import CLUSTER_BORDER, CLUSTER_FILLS, EDGE_ATTRS, FONT, GREY_TEXT, PALETTE, RED


class Layer(NamedTuple):
    """One row of the layer table."""

    name: str
    units: tuple  # paths inside the package, without .py: a module ("tensor") or a folder ("nn")
    why: str  # what the layer holds, shown in the picture
    kind: str  # the colour of its boxes: a kind of style.PALETTE


LAYERS = (
    Layer("helpers", ("fileio",), "atomic signed files: imports nothing of the package",
          "param"),
    Layer("devices", ("backend",), "one record per device: arrays, transfers, random", "param"),
    Layer("memory and checks", ("workspace", "checks"),
          "recycled host buffers for the big temporaries; argument, axis and index checks",
          "param"),
    Layer("tape", ("autograd",), "Function, nodes, backward; knows no Tensor", "param"),
    Layer("ops", ("ops", "display"), "the differentiable primitives; printing arrays", "param"),
    Layer("math", ("tensor_math",), "what can be computed with a tensor, one line per op",
          "param"),
    Layer("in place", ("tensor_inplace",), "changing a tensor in place, by PyTorch's rules",
          "param"),
    Layer("tensor", ("tensor",), "Tensor: data, grad, the tape's handle", "param"),
    Layer("blocks", ("nn", "serialization", "testing"),
          "layers and fused ops; save and load; gradient checks", "module"),
    Layer("parts", ("optim", "data", "models"), "optimizers, datasets, LeNet-5", "module"),
    Layer("applications", ("train", "viz"), "training; the tools for looking", "input"),
    Layer("leaving the engine", ("interop",),
          "ONNX out of the tape and back as Modules; PyTorch both ways", "input"),
    Layer("benchmarks", ("bench",), "where the time goes, against PyTorch", "input"),
    Layer("command line", ("cli",), "tinygrad-cnn and its commands", "output"),
    Layer("public face", ("__init__", "__main__", "inspect", "onnx"),
          "what scripts import; python -m; the inspect and onnx faces", "output"),
)

# (importer unit, imported unit) -> why this import against the table is right
EXCEPTIONS = {
    ("bench", "__init__"): "the benchmark workers run in processes of their own and drive "
                           "the package through its public face, as a user's script does",
}
# Names any module may read from the package's __init__.py: it sets them before it imports
# anything, so reading them never needs the layers above.
ROOT_CONSTANTS = frozenset({"__version__"})

# ----------------------------------------------------------------------------- the table

def _path_parts(module: str) -> tuple:
    """``tinygrad_cnn/nn/conv.py`` or ``tinygrad_cnn.nn.conv`` -> ("nn", "conv")."""
    if module.endswith(".py"):
        parts = module[:-3].replace(os.sep, "/").split("/")[1:]
        return tuple(parts)
    parts = tuple(module.split(".")[1:])
    return parts or ("__init__",)


def unit_of(module: str, layers=LAYERS) -> str | None:
    """The unit of the table that holds ``module`` (a path or a dotted name): the longest
    unit that is a folder above it or the module itself; None when the table lacks it."""
    parts = _path_parts(module)
    best = None
    for layer in layers:
        for unit in layer.units:
            unit_parts = tuple(unit.split("/"))
            if parts[: len(unit_parts)] == unit_parts and (
                    best is None or len(unit_parts) > len(best.split("/"))):
                best = unit
    return best


def layer_of(module: str, layers=LAYERS) -> Layer | None:
    """The layer of ``module`` (``"tinygrad_cnn/nn/conv.py"`` or ``"tinygrad_cnn.nn.conv"``),
    or None when the table places it nowhere."""
    unit = unit_of(module, layers)
    return next((layer for layer in layers if unit in layer.units), None)


def _rank(unit: str, layers) -> int:
    return next(i for i, layer in enumerate(layers) if unit in layer.units)


def _judge(imp: Import, layers, exceptions):
    """None when ``imp`` keeps to the table, "exception" when an entry of ``exceptions``
    allows it, else why it breaks the table."""
    src, dst = unit_of(imp.importer, layers), unit_of(imp.imported, layers)
    if src is None or dst is None or src == dst:
        return None
    if dst == "__init__" and imp.names and set(imp.names) <= ROOT_CONSTANTS:
        return None
    below, above = _rank(dst, layers), _rank(src, layers)
    if below < above:
        return None
    if (src, dst) in exceptions:
        return "exception"
    if below > above:
        return f"{src} sits below {dst}"
    return f"{src} and {dst} are peers in layer {layers[above].name}: neither may import " \
           f"the other"


def unplaced_modules(root: str | None = None, layers=LAYERS) -> list[str]:
    """The modules of the package that no layer of the table holds."""
    return [path for path in modules(root) if unit_of(path, layers) is None]


def violations(root: str | None = None, layers=LAYERS, exceptions=None) -> list[str]:
    """Every way the source breaks the table, in words; empty when it keeps to it.

    An import against the layers (one line per importer and imported module, at its first
    import), a module that is in no layer, an import of something the package lacks.

    Examples
    --------
    ``"tinygrad_cnn/nn/conv.py:12 imports tinygrad_cnn/train/loop.py: nn sits below train"``
    """
    exceptions = EXCEPTIONS if exceptions is None else exceptions
    source = read_package(root)
    out, seen = [], set()
    for imp in source.imports:
        why = _judge(imp, layers, exceptions)
        if why and why != "exception" and (imp.importer, imp.imported) not in seen:
            seen.add((imp.importer, imp.imported))
            out.append(f"{imp.importer}:{imp.line} imports {imp.imported}: {why}")
    for path in sorted(source.modules.values()):
        if unit_of(path, layers) is None:
            unit = "/".join(_path_parts(path)[:1])
            out.append(f"{path} is in no layer: place {unit!r} in LAYERS "
                       f"(tinygrad_cnn/viz/architecture.py)")
    for path, line, target in source.unresolved:
        out.append(f"{path}:{line} imports {target}, which is no module of the package")
    return out


def unused_exceptions(root: str | None = None, layers=LAYERS, exceptions=None) -> list[str]:
    """The entries of :data:`EXCEPTIONS` that no import needs any more (remove them)."""
    exceptions = EXCEPTIONS if exceptions is None else exceptions
    used = {(unit_of(imp.importer, layers), unit_of(imp.imported, layers))
            for imp in import_graph(root) if _judge(imp, layers, exceptions) == "exception"}
    return [f"{src} -> {dst}" for src, dst in exceptions if (src, dst) not in used]


# ----------------------------------------------------------------------------- the picture

def _unit_label(unit: str, members: list, package: str, shortcuts: list) -> str:
    """An HTML label: the unit in bold, one row per module of a subpackage, then the units
    it also imports directly (``shortcuts``, left out of the arrows)."""
    if members == [f"{package}/{unit}.py"]:  # a module of its own
        title, rows = f"{unit}.py", []
    else:  # a folder: its modules as rows
        title, rows = f"{unit}/", [path[len(package) + len(unit) + 2:] for path in members]
    cells = [f"<B>{escape(title)}</B>"]
    cells += [f'<FONT POINT-SIZE="9" COLOR="{GREY_TEXT}">{escape(row)}</FONT>' for row in rows]
    line = "also imports"
    for i, name in enumerate(shortcuts):  # a few names a line, so the box stays narrow
        line += (" " if i % 3 == 0 else ", ") + name
        if i % 3 == 2 or i == len(shortcuts) - 1:
            cells.append(f'<FONT POINT-SIZE="8" COLOR="{GREY_TEXT}"><I>{escape(line)}</I></FONT>')
            line = "    "
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
            + "".join(f'<TR><TD ALIGN="LEFT">{cell}</TD></TR>' for cell in cells)
            + "</TABLE>>")


def _unit_imports(source: PackageSource, layers, exceptions) -> dict:
    """(importer unit, imported unit) -> the worst judgement among its imports (None: fine,
    "exception", or why it breaks the table); reads of :data:`ROOT_CONSTANTS` are left out."""
    worse = {None: 0, "exception": 1}
    pairs = {}
    for imp in source.imports:
        src, dst = unit_of(imp.importer, layers), unit_of(imp.imported, layers)
        if src is None or dst is None or src == dst:
            continue
        if dst == "__init__" and imp.names and set(imp.names) <= ROOT_CONSTANTS:
            continue
        why = _judge(imp, layers, exceptions)
        if (src, dst) not in pairs or worse.get(why, 2) > worse.get(pairs[(src, dst)], 2):
            pairs[(src, dst)] = why
    return pairs


def _shortcuts(fine: set) -> set:
    """The pairs of ``fine`` that a longer path of ``fine`` pairs also joins (cli imports
    backend, but also train, which imports it): without them the arrows show the same
    order with far fewer lines."""
    users = collections.defaultdict(set)
    for src, dst in fine:
        users[src].add(dst)

    def reachable_without(src, dst):
        stack, seen = [d for d in users[src] if d != dst], set()
        while stack:
            unit = stack.pop()
            if unit == dst:
                return True
            if unit not in seen:
                seen.add(unit)
                stack.extend(users[unit])
        return False

    return {(src, dst) for src, dst in fine if reachable_without(src, dst)}


def draw(root: str | None = None, layers=LAYERS, exceptions=None) -> graphviz.Digraph:
    """The layers as a picture: one band per layer, top layer on top, one box per unit
    (a module, or a subpackage with its modules as rows), arrows from importer down to
    imported unit.

    An import that a longer chain of arrows already implies is written in the importer's
    box ("also imports ...") instead of drawn, so the picture shows the order without a
    line from every module to ``backend``. An arrow against the table is red and always
    drawn; one that :data:`EXCEPTIONS` allows is dashed.

    Returns
    -------
    graphviz.Digraph
        Render it with :func:`~tinygrad_cnn.viz.render`.
    """
    exceptions = EXCEPTIONS if exceptions is None else exceptions
    source = read_package(root)
    package = os.path.basename(os.path.normpath(os.path.abspath(root or PACKAGE_DIR)))
    members = collections.defaultdict(list)
    for path in sorted(source.modules.values()):
        members[unit_of(path, layers)].append(path)
    pairs = _unit_imports(source, layers, exceptions)
    shortcuts = _shortcuts({pair for pair, why in pairs.items() if why is None})
    dot = graphviz.Digraph(
        name="architecture",
        graph_attr={"rankdir": "TB", "fontname": FONT, "fontsize": "12", "newrank": "true",
                    "nodesep": "0.3", "ranksep": "0.3", "labelloc": "t", "labeljust": "l",
                    "label": f"<<B>{package}</B>: its layers, bottom to top, and the imports "
                             f"between them (an arrow: importer to imported; drawn from the "
                             f"code by make architecture)>"},
        node_attr={"fontname": FONT, "fontsize": "11", "shape": "box",
                   "style": "rounded,filled", "margin": "0.1,0.04"},
        edge_attr=dict(EDGE_ATTRS, arrowsize="0.5", penwidth="0.8"),
    )
    ids = {}
    for rank in range(len(layers) - 1, -1, -1):  # top first, so the picture reads downwards
        layer = layers[rank]
        fill, border = PALETTE[layer.kind]
        with dot.subgraph(name=f"cluster_{rank}") as band:
            band.attr(label=f'<<B>{escape(layer.name)}</B>  <FONT POINT-SIZE="9" '
                            f'COLOR="{GREY_TEXT}">{escape(layer.why)}</FONT>>',
                      style="rounded,filled", fillcolor=CLUSTER_FILLS[0],
                      color=CLUSTER_BORDER, fontsize="11", labeljust="l", rank="same")
            for unit in layer.units:
                ids[unit] = f"u{len(ids)}"
                also = sorted((dst for src, dst in shortcuts if src == unit),
                              key=lambda dst: (-_rank(dst, layers), dst))
                band.node(ids[unit], fillcolor=fill, color=border,
                          label=_unit_label(unit, members.get(unit, []), package, also))
    for (src, dst), why in sorted(pairs.items(), key=lambda item: (
            -_rank(item[0][0], layers), _rank(item[0][1], layers), item[0])):
        if why is None and (src, dst) not in shortcuts:
            dot.edge(ids[src], ids[dst])
        elif why == "exception":  # upwards, so it must not pull the bands out of order
            dot.edge(ids[src], ids[dst], style="dashed", constraint="false",
                     tooltip=exceptions[(src, dst)])
        elif why is not None:
            dot.edge(ids[src], ids[dst], color=RED, penwidth="1.5", constraint="false",
                     tooltip=why)
    # keep the bands stacked in table order even where no arrow joins two neighbours
    for rank in range(len(layers) - 1, 0, -1):
        dot.edge(ids[layers[rank].units[0]], ids[layers[rank - 1].units[0]], style="invis")
    return dot


def main(argv=None) -> int:
    """``python -m tinygrad_cnn.viz.architecture PICTURE...``: draw the layers into each
    picture (svg, png, pdf or dot, by suffix); print the violations, if any, and fail."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or any(a.startswith("-") for a in argv):
        print("usage: python -m tinygrad_cnn.viz.architecture PICTURE [PICTURE...]\n"
              "  e.g. docs/architecture.svg docs/architecture.png", file=sys.stderr)
        return 2
    dot = draw()
    for path in argv:
        try:
            print("wrote", render(dot, path))
        except (GraphvizNotFoundError, FileExistsError, ValueError) as exc:
            print(f"architecture: {exc}", file=sys.stderr)
            return 1
    broken = violations()
    for line in broken:
        print(f"architecture: {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
