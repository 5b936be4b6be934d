"""The graph explorer: one self-contained HTML page to open layers, hover, search and
follow the computation graph, in a browser or inline in Jupyter (:func:`explore`).

A static picture (:func:`~.graph.make_dot`) stops helping where a reader needs it most:
the full LeNet-5 step is a tall drawing of small text, the layer picture hides the ops, and
a 10,000-op graph cannot be read at all. The explorer shows the same graph (the same walk,
box texts, module frames, gradient statistics and red marks, through
:mod:`.explorer_data`), but lays it out in the browser, so a layer opens in place.

The page is one file: the graph as JSON, the page's own script and style, and the layout
library dagre (MIT, vendored in ``explorer_assets/`` with its licence), all inline. It needs
no network, no CDN and no Graphviz. In Jupyter the page sits in an ``<iframe srcdoc>``,
whose scripts run even where the notebook strips scripts from plain HTML output.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources

from ..fileio import write_output
from .explorer_data import graph_data
from .style import CLUSTER_BORDER, CLUSTER_FILLS, FONT, GREY_TEXT, PALETTE, RED


def _asset(name: str) -> str:
    return (resources.files(__package__) / "explorer_assets" / name).read_text("utf-8")


def _dagre() -> str:
    """The vendored dagre with its licence in front (the page is a copy of it) and without
    its source-map line (the map is not shipped; a browser's tools would look for it)."""
    notice = ("/* dagre 3.1.3 with @dagrejs/graphlib 4.0.6 bundled, both under this licence:\n"
              + _asset("LICENSE.dagre").replace("*/", "* /") + "*/\n")
    code = "\n".join(line for line in _asset("dagre.min.js").splitlines()
                     if not line.startswith("//# sourceMappingURL="))
    return notice + code


def _colours() -> str:
    """The static pictures' palette (:mod:`.style`) as CSS variables, so both look alike."""
    pairs = {"font": FONT, "grey": GREY_TEXT, "red": RED, "cluster-line": CLUSTER_BORDER}
    for kind, (fill, line) in PALETTE.items():
        pairs.update({f"{kind}-fill": fill, f"{kind}-line": line})
    pairs.update({f"cluster{i}": fill for i, fill in enumerate(CLUSTER_FILLS)})
    return ":root { " + " ".join(f"--{k}: {v};" for k, v in pairs.items()) + " }"


def _script_json(data: dict) -> str:
    """JSON safe inside ``<script>``: no ``</script>`` or ``<!--`` can end it early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029",
                                                                             "\\u2029")


class Explorer:
    """One graph, ready to be shown: :meth:`save` writes the page, and Jupyter shows it
    inline (:meth:`_repr_html_`).

    Attributes
    ----------
    data : dict
        What the page draws (see :func:`.explorer_data.graph_data`).
    """

    #: the height of the inline view in a notebook, in pixels
    notebook_height = 560

    def __init__(self, data: dict):
        self.data = data

    def html(self) -> str:
        """The whole page as text: everything it needs is inside it."""
        title = html.escape(self.data["title"] or "computation graph")
        parts = {"@CSS@": _colours() + "\n" + _asset("explorer.css"),
                 "@DAGRE@": _dagre(), "@LAYOUT@": _asset("layout.js"),
                 "@SCRIPT@": _asset("explorer.js"), "@DATA@": _script_json(self.data)}
        page = _asset("explorer.html").replace("@TITLE@", title)
        for mark, text in parts.items():  # each mark once; the inserted text is not searched
            before, after = page.split(mark, 1)
            page = before + text + after
        return page

    def save(self, path, force: bool = False) -> str:
        """Write the page to ``path`` (atomically, signed; never over a file this library
        did not write unless ``force``) and return the path."""
        path = os.fspath(path)
        write_output(path, self.html().encode("utf-8"), "html", force, "graph explorer")
        return path

    def _repr_html_(self) -> str:
        """The page inside an iframe, for Jupyter: ``srcdoc`` keeps it offline and lets
        its scripts run where a notebook would not run scripts in plain HTML output."""
        return (f'<iframe srcdoc="{html.escape(self.html(), quote=True)}" '
                f'style="width:100%;height:{self.notebook_height}px;border:1px solid #ccc" '
                f'sandbox="allow-scripts" title="computation graph explorer"></iframe>')

    def __repr__(self) -> str:
        ops = sum(n["kind"] == "op" for n in self.data["nodes"])
        return f"<Explorer of {ops} ops in {len(self.data['modules'])} modules>"


def explore(root, params=None, *, grads=False, title=None, path=None,
            force=False) -> Explorer:
    """The explorer of the graph that produced ``root``.

    Parameters
    ----------
    root : Tensor
        Usually the loss.
    params : dict of name -> Tensor, or a Module, optional
        Names the parameters, as for :func:`~.graph.make_dot`.
    grads : bool
        Show each gradient's norm and range and mark NaN/Inf and stray float64 (run
        ``backward()`` inside :func:`record_grad_stats` first for the ops' gradients).
    title : str, optional
        Shown at the top of the page.
    path : str or os.PathLike, optional
        Also write the page there (see :meth:`Explorer.save`).
    force : bool
        Replace a file at ``path`` that tinygrad-cnn did not write.

    Returns
    -------
    Explorer
        The last value of a notebook cell shows the explorer inline; ``.save(path)``
        writes the page.
    """
    explorer = Explorer(graph_data(root, params, show_grads=grads, title=title))
    if path is not None:
        explorer.save(path, force=force)
    return explorer


def explore_training_step(model="lenet5", batch_size=4, *, grads=False,
                          input_shape=(1, 28, 28), seed=0) -> Explorer:
    """The explorer of one training step, the same step
    :func:`~.training_step.draw_training_step` draws (``tinygrad-cnn graph --output
    step.html``)."""
    from .training_step import run_training_step

    loss, model = run_training_step(model, batch_size, grads=grads, input_shape=input_shape,
                                    seed=seed)
    title = f"{type(model).__name__}: one training step, batch of {batch_size}"
    return explore(loss, model, grads=grads, title=title)
