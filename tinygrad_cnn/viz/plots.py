"""Pictures of training: learning curves, the confusion matrix, the worst mistakes, the
filters a network learned.

People would rather look than read: these are the pictures behind ``tinygrad-cnn plot``,
``evaluate --confusion / --misclassified`` and ``tinygrad-cnn filters``. Each function
returns a matplotlib ``Figure`` (drawn without pyplot, so no window opens and no global
state changes) that :func:`save_figure` writes atomically, marked as ours, never over
somebody else's file unless told to. matplotlib is an optional dependency:
``pip install "tinygrad-cnn[plot]"``.
"""

from __future__ import annotations

import io
import os

import numpy as np

from .. import __version__
from ..fileio import check_output, write_output

__all__ = ["PLOT_INSTALL_HINT", "MissingDependencyError", "PlotInputError", "confusion_matrix",
           "conv_filters", "learning_curves", "misclassified_grid", "require_matplotlib",
           "save_figure"]

PLOT_INSTALL_HINT = 'pip install "tinygrad-cnn[plot]"'
FORMATS = ("png", "svg", "pdf")

_TRAIN, _TEST = "#1f77b4", "#d62728"


class MissingDependencyError(ImportError):
    """An optional package that a feature needs is not installed; says how to get it."""


class PlotInputError(ValueError):
    """What was to be drawn, or where, cannot be: a malformed metrics file, an unknown
    picture format, a state dict without convolution weights. Names the file."""


def require_matplotlib():
    """``matplotlib.figure.Figure``, or MissingDependencyError with the install command."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            f"drawing pictures needs matplotlib, which is not installed; install it with: "
            f"{PLOT_INSTALL_HINT}") from None
    return Figure


def _format_of(path) -> str:
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if suffix not in FORMATS:
        raise PlotInputError(f"{os.fspath(path)}: cannot tell the picture format from the name; "
                             f"end it in one of {', '.join('.' + f for f in FORMATS)}")
    return suffix


def check_picture_path(path, force: bool = False, what: str = "picture") -> None:
    """Everything :func:`save_figure` will check, done before long work: the format, a
    writable destination, no foreign file in the way, and matplotlib installed."""
    _format_of(path)
    check_output(path, force, what)
    require_matplotlib()


def save_figure(figure, path, force: bool = False, what: str = "picture", dpi: int = 150):
    """Write ``figure`` to ``path`` (format from its suffix: png, svg or pdf) atomically.

    A file there that tinygrad-cnn did not write is left alone (FileExistsError) unless
    ``force``.
    """
    fmt = _format_of(path)
    metadata = {"png": {"Software": f"tinygrad-cnn {__version__}"},
                "svg": {"Creator": f"tinygrad-cnn {__version__}", "Date": None},
                "pdf": {"Creator": f"tinygrad-cnn {__version__}", "CreationDate": None}}[fmt]
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
    write_output(path, buffer.getvalue(), fmt, force=force, what=what)
    return os.fspath(path)


# ----------------------------------------------------------------------------- learning curves

def learning_curves(history, title: str | None = None):
    """Loss and accuracy per epoch, training and test side by side.

    Parameters
    ----------
    history : list of dict
        One run's metrics, as ``fit`` returns them, or the ``epochs`` of a run that
        :func:`~tinygrad_cnn.viz.metrics.read_metrics` reads.
    """
    Figure = require_matplotlib()
    epochs = [m["epoch"] for m in history]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    marker = "o" if len(epochs) <= 30 else None
    for ax, key, label, scale in ((loss_ax, "loss", "cross-entropy loss", 1),
                                  (acc_ax, "accuracy", "accuracy (%)", 100)):
        for split, color in (("train", _TRAIN), ("test", _TEST)):
            values = [scale * m[f"{split}_{key}"] for m in history]
            ax.plot(epochs, values, color=color, marker=marker, markersize=4,
                    label=f"{split} ({values[-1]:.2f}{'%' if scale == 100 else ''})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(title="last epoch", fontsize=9, title_fontsize=9)
    loss_ax.set_title("loss (lower is better)", fontsize=10)
    acc_ax.set_title("accuracy (higher is better)", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- evaluation

def confusion_matrix(confusion, classes, title: str | None = None):
    """The confusion matrix as an image: rows the true class, columns the prediction.

    Each cell prints its count. The diagonal (right answers) is shaded blue by the share of
    its true class; mistakes are shaded red on their own scale, up to the largest mistake,
    so that a 3% confusion stands out instead of vanishing beside a 97% diagonal.
    """
    Figure = require_matplotlib()
    confusion = np.asarray(confusion)
    n = len(confusion)
    names = [str(c) for c in classes] or [str(i) for i in range(n)]
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    diagonal = np.eye(n, dtype=bool)
    worst = float(shares[~diagonal].max()) if n > 1 else 0.0
    size = 1.6 + 0.55 * n
    fig = Figure(figsize=(size + 1.6, size), layout="constrained")
    ax = fig.subplots()
    right = ax.imshow(np.ma.masked_where(~diagonal, shares), cmap="Blues", vmin=0, vmax=1.3)
    wrong = ax.imshow(np.ma.masked_where(diagonal | (confusion == 0), shares), cmap="Reds",
                      vmin=0, vmax=max(worst, 1e-9) * 1.15)
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            dark = (shares[i, j] > 0.65) if i == j else (shares[i, j] > 0.6 * worst)
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ticks = np.arange(n)
    long_names = max(len(name) for name in names) > 2
    ax.set_xticks(ticks, names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center", fontsize=9)
    ax.set_yticks(ticks, names, fontsize=9)
    ax.set_xticks(ticks[:-1] + 0.5, minor=True)
    ax.set_yticks(ticks[:-1] + 0.5, minor=True)
    ax.grid(which="minor", color="#dddddd", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    ax.set_title(title or f"confusion matrix: {100 * accuracy:.2f}% of "
                 f"{confusion.sum():,} correct", fontsize=10)
    fig.colorbar(wrong, ax=ax, shrink=0.6, format=lambda v, _: f"{100 * v:.0f}%",
                 label="mistakes (red), as a share of the true class")
    del right  # blue diagonal: its counts are printed, its scale needs no bar
    return fig


def worst_mistakes(labels, predicted, confidence, count: int = 16) -> np.ndarray:
    """Indices of the ``count`` wrong predictions made with the highest confidence."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    wrong = np.flatnonzero(labels != predicted)
    order = np.argsort(-np.asarray(confidence)[wrong], kind="stable")
    return wrong[order[:count]]


def misclassified_grid(images, labels, predicted, confidence, classes, count: int = 16,
                       title: str | None = None):
    """The worst mistakes: the wrong predictions made with the highest confidence, each
    with its true class, the predicted class and the model's confidence.

    Parameters
    ----------
    images : array (N, 1, H, W) or (N, H, W)
    labels, predicted : int arrays (N,)
    confidence : float array (N,)
        Softmax probability of the predicted class.
    """
    Figure = require_matplotlib()
    images = np.asarray(images)
    images = images.reshape(len(images), *images.shape[-2:])
    chosen = worst_mistakes(labels, predicted, confidence, count)
    names = [str(c) for c in classes]
    columns = min(len(chosen), 8) or 1
    rows = max(-(-len(chosen) // columns), 1)
    fig = Figure(figsize=(1.45 * columns, 1.75 * rows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    low, high = float(images.min()), float(images.max())
    for ax in axes[len(chosen):]:
        ax.set_axis_off()
    for ax, i in zip(axes, chosen):
        ax.imshow(images[i], cmap="gray_r", vmin=low, vmax=high, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # a light frame shows where the image ends
            spine.set_color("#bbbbbb")
        ax.set_title(f"true {names[labels[i]]}\npredicted {names[predicted[i]]}\n"
                     f"{100 * confidence[i]:.0f}% sure", fontsize=8, linespacing=1.1)
    wrong = int(np.sum(np.asarray(labels) != np.asarray(predicted)))
    fig.suptitle(title or f"the {len(chosen)} most confident of {wrong:,} mistakes",
                 fontsize=10)
    if not len(chosen):
        axes[0].set_axis_on()
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    return fig


# ----------------------------------------------------------------------------- filters

def _mosaic(w: np.ndarray, gap: int = 1) -> np.ndarray:
    """Tiles ``w[c, r]`` of a (out, in, kh, kw) weight laid out as rows ``r`` and columns
    ``c`` of one image, separated by ``gap`` NaN pixels (one image draws far faster than
    a hundred small axes)."""
    out_ch, in_ch, kh, kw = w.shape
    mosaic = np.full((in_ch * (kh + gap) - gap, out_ch * (kw + gap) - gap), np.nan, np.float32)
    for r in range(in_ch):
        for c in range(out_ch):
            y, x = r * (kh + gap), c * (kw + gap)
            mosaic[y:y + kh, x:x + kw] = w[c, r]
    return mosaic


#: The most of a layer drawn: filters (columns) and input channels (rows), and the mosaic's
#: extent in weight pixels, so a figure stays a few thousand pixels across at most.
MAX_FILTERS, MAX_CHANNELS, MAX_MOSAIC = 64, 32, 256
#: The largest kernel side drawn: bigger is not a convolution's filter one can look at.
MAX_KERNEL = 32


def filter_weights(state_dict, layer: str):
    """The part of ``<layer>.weight`` that :func:`conv_filters` draws, as float32
    ``(filters, channels, kh, kw)``, and how many filters and channels the layer has.

    Raises
    ------
    PlotInputError
        Naming the key: missing, not an (out, in, kh, kw) array of real numbers, a zero-size
        or oversized kernel, or NaN/infinite weights.
    """
    key = f"{layer}.weight"
    if not isinstance(state_dict, dict) or key not in state_dict:
        keys = sorted(str(k)[:40] for k in state_dict) if isinstance(state_dict, dict) else []
        shown = ", ".join(keys[:12]) + (f", ... ({len(keys):,} keys)" if len(keys) > 12 else "")
        raise PlotInputError(f"conv_filters: no 4-D '{key}' (out, in, kh, kw) in the state dict; "
                             f"it has {shown or 'nothing'}")
    value = state_dict[key]
    try:
        w = np.asarray(value)
    except (TypeError, ValueError):  # a ragged list
        w = np.asarray(None)
    if w.ndim != 4 or w.dtype.kind not in "fiu":
        what = f"a {w.dtype} array of shape {w.shape}" if w.dtype.kind != "O" else \
            f"a {type(value).__name__}"
        raise PlotInputError(f"conv_filters: '{key}' is {what}, not the real-valued (out, in, "
                             "kh, kw) weights of a convolution")
    out_ch, in_ch, kh, kw = w.shape
    if w.size == 0:
        raise PlotInputError(f"conv_filters: '{key}' has shape {w.shape}: no weights to draw")
    if max(kh, kw) > MAX_KERNEL:
        raise PlotInputError(f"conv_filters: '{key}' has {kh}x{kw} kernels, larger than the "
                             f"{MAX_KERNEL}x{MAX_KERNEL} a picture of filters shows")
    w = w[:min(MAX_FILTERS, MAX_MOSAIC // (kw + 1)), :min(MAX_CHANNELS, MAX_MOSAIC // (kh + 1))]
    w = w.astype(np.float32)
    bad = w.size - int(np.isfinite(w).sum())
    if bad:
        raise PlotInputError(f"conv_filters: '{key}' holds {bad:,} NaN or infinite weights "
                             "(training diverged?): nothing to draw")
    return w, out_ch, in_ch


def conv_filters(state_dict, layers=("conv1", "conv2"), title: str | None = None):
    """Each convolution's weights as small images: one column per filter (output channel),
    one row per input channel it reads; blue negative, red positive, white zero, with one
    symmetric scale per layer. A wide layer shows its first filters and channels (at most
    :data:`MAX_FILTERS` by :data:`MAX_CHANNELS`), and says so.

    Parameters
    ----------
    state_dict : dict
        Name -> array, e.g. ``model.state_dict()`` or a checkpoint's ``"model"``.
    layers : sequence of str
        Which layers: each needs a ``<layer>.weight`` of shape (out, in, kh, kw), checked
        by :func:`filter_weights` before anything is drawn.
    """
    Figure = require_matplotlib()
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    checked = [filter_weights(state_dict, layer) for layer in layers]
    weights = [w for w, _, _ in checked]
    mosaics = [_mosaic(w) for w in weights]
    width = max(m.shape[1] for m in mosaics)
    heights = [m.shape[0] for m in mosaics]
    scale = 0.105  # inches per weight pixel
    fig = Figure(figsize=(scale * width + 2.0, scale * sum(heights) + 0.85 * len(weights) + 0.4),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(weights), 1,
                                      height_ratios=[h + 8 for h in heights]))
    for ax, layer, (w, all_out, all_in), mosaic in zip(axes, layers, checked, mosaics):
        out_ch, in_ch, kh, kw = w.shape
        limit = float(np.abs(w).max()) or 1.0
        image = ax.imshow(mosaic, cmap="RdBu_r", vmin=-limit, vmax=limit,
                          interpolation="nearest")
        frames = [Rectangle((c * (kw + 1) - 0.5, r * (kh + 1) - 0.5), kw, kh)
                  for r in range(in_ch) for c in range(out_ch)]
        ax.add_collection(PatchCollection(frames, facecolor="none", edgecolor="#555555",
                                          linewidth=0.6))
        ax.set_xlim(-1, width)  # the same pixel scale for every layer
        ax.set_xticks([c * (kw + 1) + (kw - 1) / 2 for c in range(out_ch)],
                      [str(c) for c in range(out_ch)], fontsize=7)
        ax.xaxis.tick_top()
        ax.set_yticks([r * (kh + 1) + (kh - 1) / 2 for r in range(in_ch)],
                      [f"in {r}" for r in range(in_ch)] if in_ch > 1 else [""], fontsize=7)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        shown = "" if (out_ch, in_ch) == (all_out, all_in) else \
            f"; the first {out_ch} of {all_out:,} filters, {in_ch} of {all_in:,} inputs shown"
        ax.set_title(f"{layer}: {all_out:,} filters of {all_in:,}x{kh}x{kw}"
                     + (" (columns: filters, rows: the input channel each reads)"
                        if in_ch > 1 else " (one per column)") + shown, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01, label="weight",
                     aspect=8 * max(in_ch, 1) ** 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
