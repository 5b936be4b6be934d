"""What a user sees while work runs: progress bars (tqdm's), one-line messages, warnings.

``tqdm.auto`` draws a widget in Jupyter and a text bar on a terminal. Anywhere else (a log
file, CI output, a pipe) no bar is drawn at all, so logs get the one-line summaries the
caller prints (:func:`say`) instead of hundreds of carriage returns. A summary that cannot
be printed (a closed pipe, a full disk) never stops training: the checkpoint and the
``--log`` file hold every epoch.
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

__all__ = ["progress_bar", "say", "shows_progress", "warn"]


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


# ----------------------------------------------------------------------------- messages

def say(text: str, out=None) -> None:
    """Print ``text`` to ``out`` (default stdout) and flush; a closed or failing stream
    never stops the work it reports on.

    A reader that went away (``train | head -2``, a dead ``tee``) is a broken pipe: the
    rest of the output is silently dropped. Any other failure (a full disk under a
    redirected stdout) is one warning on stderr. Either way the stream's descriptor is
    pointed at the null device, so that Python's own flush at exit does not fail again.
    """
    out = sys.stdout if out is None else out
    try:
        print(text, file=out, flush=True)
    except OSError as exc:
        _silence(out)
        if not isinstance(exc, BrokenPipeError):
            warn(f"cannot write to {getattr(out, 'name', 'the output')} ({exc.strerror or exc}); "
                 "its further output is dropped, the work goes on")


def warn(text: str) -> None:
    """One line ``tinygrad-cnn: warning: TEXT`` on stderr (which may be closed too)."""
    try:
        print(f"tinygrad-cnn: warning: {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _silence(stream) -> None:
    """Point ``stream``'s descriptor at the null device (as Python's documentation advises
    for SIGPIPE), where it has one."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, fd)
    except OSError:
        pass
    finally:
        os.close(null)
