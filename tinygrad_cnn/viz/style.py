"""How this project's Graphviz pictures look: one font, one palette, one set of defaults.

The graph of a training step (:mod:`.graph`) and the picture of the package's layers
(:mod:`.architecture`) are drawn with these, so the two read as one family: grey op boxes,
blue parameters, green inputs, orange outputs, yellow module boxes, red for what looks wrong.
"""

FONT = "Helvetica"

# The attribute text of each kind of box (the DOT attributes after its label).
NODE_STYLES = {
    # ops share a group so that dot keeps the data path straight
    "op": 'shape=box style="rounded,filled" fillcolor="#f2f2f2" color="#7f7f7f" group=ops',
    "module": 'shape=box style="rounded,filled" fillcolor="#fff6d5" color="#b59b3b" '
              'penwidth=1.5 group=ops',
    "param": 'shape=box style="filled" fillcolor="#dbe9f6" color="#4a7fb5"',
    "input": 'shape=box style="rounded,filled" fillcolor="#dcf2dc" color="#4f9a4f"',
    "output": 'shape=box style="rounded,filled" fillcolor="#fde2c2" color="#d9822b" '
              'penwidth=1.5',
}
# added to a box's attributes when something in it looks wrong (NaN/Inf, a stray float64)
MARKED = ' color="#d62728" fontcolor="#d62728" fillcolor="#fde0dc" penwidth=2.5'
# the background of a cluster, darker for each level of nesting
CLUSTER_FILLS = ("#f7f9fc", "#eef2f8", "#e4eaf3")
CLUSTER_BORDER = "#9aa7b8"
GREY_TEXT = "#555555"

# graph, node and edge defaults of a drawing (a graph adds its own rankdir first)
GRAPH_ATTRS = {"fontname": FONT, "fontsize": "12", "nodesep": "0.25", "ranksep": "0.3",
               "newrank": "true", "ordering": "in"}
NODE_ATTRS = {"fontname": FONT, "fontsize": "11", "margin": "0.12,0.04", "height": "0.3"}
EDGE_ATTRS = {"fontname": FONT, "fontsize": "9", "arrowsize": "0.6", "color": GREY_TEXT}
