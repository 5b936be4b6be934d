"""How this project's Graphviz pictures look: one font, one palette, one set of defaults.

The graph of a training step (:mod:`.graph`) and the picture of the package's layers
(:mod:`.architecture`) are drawn with these, so the two read as one family: grey op boxes,
blue parameters, green inputs, orange outputs, yellow module boxes, red for what looks wrong.
"""

FONT = "Helvetica"

# (fill, border) of each kind of box
PALETTE = {
    "op": ("#f2f2f2", "#7f7f7f"),
    "module": ("#fff6d5", "#b59b3b"),
    "param": ("#dbe9f6", "#4a7fb5"),
    "input": ("#dcf2dc", "#4f9a4f"),
    "output": ("#fde2c2", "#d9822b"),
}
RED = "#d62728"
GREY_TEXT = "#555555"


def _box(kind: str, style: str, extra: str = "") -> str:
    fill, border = PALETTE[kind]
    return f'shape=box style="{style}" fillcolor="{fill}" color="{border}"{extra}'


# The attribute text of each kind of box in a graph drawing (the DOT attributes after its
# label). Ops and module boxes share a group so that dot keeps the data path straight.
NODE_STYLES = {
    "op": _box("op", "rounded,filled", " group=ops"),
    "module": _box("module", "rounded,filled", " penwidth=1.5 group=ops"),
    "param": _box("param", "filled"),
    "input": _box("input", "rounded,filled"),
    "output": _box("output", "rounded,filled", " penwidth=1.5"),
}
# added to a box's attributes when something in it looks wrong (NaN/Inf, a stray float64)
MARKED = f' color="{RED}" fontcolor="{RED}" fillcolor="#fde0dc" penwidth=2.5'
# the background of a cluster, darker for each level of nesting
CLUSTER_FILLS = ("#f7f9fc", "#eef2f8", "#e4eaf3")
CLUSTER_BORDER = "#9aa7b8"

# graph, node and edge defaults of a drawing (a graph adds its own rankdir first)
GRAPH_ATTRS = {"fontname": FONT, "fontsize": "12", "nodesep": "0.25", "ranksep": "0.3",
               "newrank": "true", "ordering": "in"}
NODE_ATTRS = {"fontname": FONT, "fontsize": "11", "margin": "0.12,0.04", "height": "0.3"}
EDGE_ATTRS = {"fontname": FONT, "fontsize": "9", "arrowsize": "0.6", "color": GREY_TEXT}
