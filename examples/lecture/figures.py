"""Plotting helpers shared by the lecture scripts: one style, and saving the pictures.

A script run as ``python plot_xx.py --save DIR`` (what ``make figures`` does) writes its
pictures into ``DIR`` as PNG files without a creation timestamp or software version, so
that rerunning it gives the same bytes. Run without ``--save`` (by hand, or by
sphinx-gallery for the documentation site) it only draws them.

The numbers a script measures and a page quotes go through :func:`quote` (and timings
through :func:`timings`), from ``numbers_file.py``: ``make figures`` writes them into
``docs/lecture/numbers.json``.
"""

from __future__ import annotations

import os
import sys

import matplotlib

if "--save" in sys.argv:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tinygrad_cnn.fileio import atomic_write  # noqa: E402

from numbers_file import quote, timings  # noqa: E402,F401  (re-exported for the scripts)

STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.titlesize": 9.5,
    "axes.labelsize": 9, "legend.fontsize": 8, "figure.facecolor": "white",
    "savefig.facecolor": "white", "image.interpolation": "nearest",
    "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "tinygrad_cnn",
}


def apply_style() -> None:
    """Set the lecture's matplotlib style. Called on import, and by the documentation build
    before each gallery script: sphinx-gallery resets matplotlib's settings between scripts,
    and this module, imported once, would not set them again (the pictures of the gallery
    then had the default, larger fonts, and page 6's titles overlapped)."""
    plt.rcParams.update(STYLE)


apply_style()

#: Colours used across the pages: detector / pooled / random, convolution / dense.
COLORS = {"conv": "#1f77b4", "dense": "#d62728", "pool": "#2ca02c", "other": "#9467bd",
          "grey": "#7f7f7f", "orange": "#ff7f0e"}


def save_dir() -> str | None:
    """The folder given with ``--save``, or None."""
    if "--save" not in sys.argv:
        return None
    index = sys.argv.index("--save")
    if index + 1 >= len(sys.argv):
        raise SystemExit("--save needs a folder, e.g. --save docs/lecture/img")
    return sys.argv[index + 1]


def save(fig, name: str) -> None:
    """Write ``fig`` to ``<save dir>/<name>`` (PNG) when saving; otherwise do nothing."""
    folder = save_dir()
    if folder is None:
        return
    path = os.path.join(folder, name)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", bbox_inches="tight", pad_inches=0.05,
                    metadata={"Software": None})
    print(f"wrote {path}")


def image(ax, values, title: str = "", signed: bool = False, vmax: float | None = None,
          cmap: str | None = None):
    """Show a 2-D array without axes: ink dark on white, or signed values in red and blue
    around a white zero."""
    values = np.asarray(values)
    if signed:
        vmax = vmax or float(np.abs(values).max()) or 1.0
        shown = ax.imshow(values, cmap=cmap or "RdBu_r", vmin=-vmax, vmax=vmax)
    else:
        shown = ax.imshow(values, cmap=cmap or "gray_r", vmin=0,
                          vmax=vmax or max(float(values.max()), 1e-12))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#bbbbbb")
    if title:
        ax.set_title(title)
    return shown


def colorbar(fig, shown, axes, label: str):
    """A colour scale for the image ``shown`` beside ``axes``, labelled with what the colour
    measures."""
    bar = fig.colorbar(shown, ax=axes, shrink=0.85, aspect=15, pad=0.02)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def show() -> None:
    """Open the windows when run by hand with an interactive backend."""
    if save_dir() is None and matplotlib.get_backend().lower() != "agg":
        plt.show()
