"""The metrics log of ``train --log``: one signed JSON line per epoch, carrying its run.

Several runs may share one log (it is appended to), even at the same time: each line holds
the id of the run that wrote it (:func:`new_run_id`; a resumed run keeps its id, read from
its checkpoint), so ``tinygrad-cnn plot`` draws one run instead of splicing them. Each line
is written in one ``write``, whole or not at all; a line that cannot be written (a full
disk) is a warning, kept and written with the next epoch's, and is in the checkpoint's
history anyway. A file is appended to only when it is a log of ours (:func:`check_log`):
never a script, a picture or the checkpoint itself.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import time

from ..fileio import append_whole, check_writable, line_signature, sign_line
from .config import ConfigError
from .progress import warn

__all__ = ["METRIC_KEYS", "MetricsLog", "check_log", "new_run_id"]

#: What every metrics line holds (earlier versions' lines too).
METRIC_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")

# A log this large is not one of ours (a line is about 350 bytes: 190,000 epochs).
_MAX_LOG_BYTES = 64 << 20


def new_run_id() -> str:
    """A fresh run's id: when it started (UTC) and six random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _refuse(path, why: str):
    raise FileExistsError(errno.EEXIST, f"refusing to append to the --log file: {why}; "
                          "choose another --log file", os.fspath(path))


def check_log(path, checkpoint=None) -> None:
    """Refuse, before training, a ``--log`` that cannot be written or is not a metrics log
    of ours: the checkpoint itself, a file with anything but metrics lines (a ``.py``), a
    line edited after we signed it. Lines of earlier versions (unsigned, but holding the
    metrics) are appended to: appending keeps all they hold, and their shape is one no
    script or checkpoint has. A last line cut short by an older version is tolerated (the
    next line starts on a line of its own).
    """
    check_writable(path, "--log file", example="metrics.jsonl")
    shown = os.fspath(path)
    if checkpoint and os.path.realpath(shown) == os.path.realpath(os.fspath(checkpoint)):
        raise ConfigError(f"--log {shown} is the checkpoint itself; give the log a name of "
                          "its own, e.g. metrics.jsonl")
    if not os.path.exists(shown):
        return
    if os.path.getsize(shown) > _MAX_LOG_BYTES:
        _refuse(shown, "it is too large to be a metrics log of tinygrad-cnn train")
    with open(shown, "rb") as f:
        data = f.read()
    if b"\0" in data:
        _refuse(shown, "it is a binary file, not a metrics log of tinygrad-cnn train")
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            _refuse(shown, f"line {number} is not text")
        if number == len(lines) and line.startswith("{") and not _is_json(line):
            continue  # the last line, cut short by an older version
        signed = line_signature(line)
        if signed is False:
            _refuse(shown, f"line {number} was edited after tinygrad-cnn wrote it (its "
                    "signature no longer matches)")
        if signed is None and not _earlier_metrics_line(line):
            _refuse(shown, f"line {number} is not a metrics line of tinygrad-cnn train")


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _earlier_metrics_line(line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and all(k in entry for k in METRIC_KEYS)


class MetricsLog:
    """Appends each epoch's metrics to ``path`` as one signed line of run ``run_id``."""

    def __init__(self, path, run_id: str, checkpointed: bool = True):
        self.path = os.fspath(path)
        self.run_id = run_id
        self.kept = ("they are in the checkpoint's history" if checkpointed
                     else "no checkpoint keeps them")
        self.pending: list[str] = []  # lines not written yet, oldest first

    def add(self, metrics: dict) -> bool:
        """Write ``metrics`` (and any lines a failure held back); on failure warn and keep
        them for the next call. Returns whether everything is written."""
        self.pending.append(sign_line({"run": self.run_id, **metrics}) + "\n")
        try:
            append_whole(self.path, "".join(self.pending).encode(), "--log file")
        except OSError as exc:
            warn(f"{self.path}: could not write the metrics of epoch {metrics['epoch']} "
                 f"({exc.strerror or exc}); {self.kept}, and the next epoch tries again; "
                 "training goes on")
            return False
        self.pending.clear()
        return True

    def close(self) -> None:
        """Warn about lines that were never written."""
        if self.pending:
            epochs = ", ".join(str(json.loads(line)["epoch"]) for line in self.pending)
            warn(f"{self.path}: the metrics of epoch(s) {epochs} could not be written; "
                 f"{self.kept}")
