"""Pictures from a drawing: :func:`render` writes SVG, PNG, PDF or the DOT text itself.

A picture is written atomically and signed (:mod:`tinygrad_cnn.fileio`), so a second run
replaces it but a file someone else wrote is never overwritten by accident. Without the
Graphviz ``dot`` program the DOT source is still written, and the error says how to
install Graphviz on this platform (:func:`install_hint`) and how to render the file later.
"""

from __future__ import annotations

import os
import sys

import graphviz

from ..fileio import check_output, write_output


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """The Graphviz ``dot`` program is missing. The DOT source was written anyway, unless a
    file tinygrad-cnn did not write stands in its place (then the message says that too)."""

    def __init__(self, message: str):
        RuntimeError.__init__(self, message)


_FORMATS = ("svg", "png", "pdf")


def install_hint() -> str:
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
        From :func:`~tinygrad_cnn.viz.make_dot` (or any graphviz graph).
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
        missing = (f"cannot render {path}: the Graphviz 'dot' program is not installed or not "
                   f"on PATH. Install it with: {install_hint()}.")
        try:
            write_output(dot_path, source, "dot", force, "DOT source")
        except FileExistsError as exc:  # both problems in one message; that file is kept
            raise GraphvizNotFoundError(f"{missing} The DOT source was not written either: "
                                        f"{exc}") from None
        raise GraphvizNotFoundError(
            f"{missing} The DOT source was written to {dot_path}; render it later with: "
            f"dot -T{format} {dot_path} -o {path}") from None
    write_output(path, picture, format, force, "graph")
    return path
