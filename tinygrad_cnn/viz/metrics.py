"""The runs in a metrics file that ``tinygrad-cnn train --log`` wrote, for ``plot``.

Each line is one epoch of one run, as JSON; lines carry the id of their run (lines of
versions before run ids do not), so runs that shared a file are drawn one at a time, never
spliced. Anything else (a checkpoint, any binary file, a mistyped line) is refused in one
line naming the file and the line.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

from ..fileio import check_readable
from .plots import PlotInputError

__all__ = ["MetricsRun", "read_metrics"]

_METRIC_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
_NUMBERS = _METRIC_KEYS[1:] + ("images_per_second", "seconds")
_MAX_METRICS_BYTES = 64 << 20  # about 190,000 epochs of 350-byte lines


class MetricsRun(NamedTuple):
    """One run of a ``--log`` file: its id (``unnamed-N`` for lines of earlier versions,
    which carry none), its epochs in order, and the number of its last line."""

    name: str
    epochs: list
    last_line: int


def _metrics_entry(line: str, where: str) -> dict:
    """One metrics line, parsed and checked, or PlotInputError naming ``where``."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PlotInputError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(entry, dict):
        raise PlotInputError(f"{where}: not a metrics line of tinygrad-cnn train --log (a "
                             f"JSON {type(entry).__name__}, not an object)")
    missing = [k for k in _METRIC_KEYS if k not in entry]
    if missing:
        raise PlotInputError(f"{where}: not a metrics line of tinygrad-cnn train --log "
                             f"(missing {', '.join(missing)})")
    epoch = entry["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise PlotInputError(f"{where}: 'epoch' should be a whole number from 1, found "
                             f"{epoch!r}")
    for key in _NUMBERS:
        value = entry.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PlotInputError(f"{where}: '{key}' should be a number, found {value!r:.40}")
    if not isinstance(entry.get("run", ""), str):
        raise PlotInputError(f"{where}: 'run' should be a run id (a string), found "
                             f"{entry['run']!r:.40}")
    return entry


def read_metrics(path) -> list[MetricsRun]:
    """The runs in a ``--log`` file (JSON lines, one per epoch), in the order they first
    appear.

    Lines are grouped by the run id each carries, so runs that shared the file, even at the
    same time, are told apart. Lines of earlier versions carry none: there a line with
    epoch 1 starts a new run. Within a run, an epoch written twice (a resumed run repeats an
    epoch whose checkpoint was lost) keeps its later line.

    Raises
    ------
    PlotInputError (a ValueError)
        A binary file (a checkpoint), or a line that is not a JSON object holding the
        metrics; names the file and the line.
    OSError
        Missing, or not a regular file (a FIFO is never opened).
    """
    shown = os.fspath(path)
    check_readable(shown, "metrics file")
    if os.path.getsize(shown) > _MAX_METRICS_BYTES:
        raise PlotInputError(f"{shown}: too large to be a metrics file of tinygrad-cnn train")
    with open(shown, "rb") as f:
        data = f.read()
    if data.startswith(b"PK\x03\x04") or b"\0" in data[:1 << 16]:
        kind = "a zip archive (a checkpoint?)" if data.startswith(b"PK") else "a binary file"
        raise PlotInputError(f"{shown}: {kind}, not the JSON lines that tinygrad-cnn train "
                             "--log writes; give plot the --log file")
    runs: dict = {}
    unnamed = 0
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PlotInputError(f"{shown}, line {number}: not text (UTF-8)") from None
        if not line.strip():
            continue
        entry = _metrics_entry(line, f"{shown}, line {number}")
        name = entry.get("run")
        if not name:  # earlier versions: epoch 1 starts a run
            if entry["epoch"] == 1 or not unnamed:
                unnamed += 1
            name = f"unnamed-{unnamed}"
        epochs, _ = runs.get(name, ({}, 0))
        epochs[entry["epoch"]] = {k: v for k, v in entry.items()
                                  if k not in ("run", "signature")}
        runs[name] = (epochs, number)
    if not runs:
        raise PlotInputError(f"{shown}: holds no metrics (write some with tinygrad-cnn train "
                             "--log FILE)")
    return [MetricsRun(name, [epochs[e] for e in sorted(epochs)], last)
            for name, (epochs, last) in runs.items()]
