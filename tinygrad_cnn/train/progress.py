"""Progress bars for long work (training epochs, evaluation, downloads): tqdm's.

``tqdm.auto`` draws a widget in Jupyter and a text bar on a terminal. Anywhere else (a log
file, CI output, a pipe) no bar is drawn at all, so logs get the one-line summaries the
caller prints instead of hundreds of carriage returns.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

__all__ = ["progress_bar", "shows_progress"]


def _in_notebook() -> bool:
    """True inside a Jupyter kernel, where ``tqdm.auto`` picked the widget bar."""
    return any(kind.__module__ == "tqdm.notebook" for kind in tqdm.__mro__)


def shows_progress(enabled: bool | None = None, stream=None) -> bool:
    """Whether to draw a bar: ``enabled`` when given, else on a terminal or in a notebook."""
    if enabled is not None:
        return bool(enabled)
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        tty = False
    return tty or _in_notebook()


def progress_bar(total: int, desc: str = "", enabled: bool | None = None, initial: int = 0,
                 unit: str = "batch", **kwargs) -> tqdm:
    """A tqdm bar over ``total`` steps, removed when closed so a summary line can follow.

    Parameters
    ----------
    total : int
    desc : str
        Shown before the bar (``"epoch 3/10"``).
    enabled : bool, optional
        Force the bar on or off; default: :func:`shows_progress`.
    initial : int
        Steps already done (a resumed epoch).
    """
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(total=total, desc=desc, initial=initial, unit=unit, leave=False,
                disable=not shows_progress(enabled), dynamic_ncols=True, **kwargs)
