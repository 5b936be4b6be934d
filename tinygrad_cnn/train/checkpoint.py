"""Training checkpoints: what ``tinygrad-cnn train`` writes after every epoch, checked
field by field when read back.

A checkpoint is a :func:`~tinygrad_cnn.serialization.save` archive holding the model's and
optimizer's state, the learning-rate schedule, the position in training (epoch, batch),
the random state at the start of the epoch, the running sums of the epoch so far, the
history of finished epochs, the settings of the run and its id (which the run's ``--log``
lines carry; checkpoints of earlier versions have none, and resuming one starts a new id).
Reading one validates every field (and the model's parameter names, shapes and dtypes
against the model it is meant for) before any array is read, so a hand-edited or foreign
file fails with a message naming the file and the field instead of an ``AttributeError``
deep inside the loop.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from ..fileio import check_readable
from ..serialization import ArrayInfo, CheckpointError, describe, load, save

__all__ = ["CHECKPOINT_FORMAT", "check_same_run", "describe_checkpoint", "inspect_checkpoint",
           "read_checkpoint", "saved_run_id", "write_checkpoint"]

CHECKPOINT_FORMAT = "tinygrad_cnn.checkpoint/1"

# field -> (type it must have, what it is); JSON fields are strings holding JSON
_FIELDS = {
    "format": (str, "format marker"),
    "model": (dict, "model state dict"),
    "optimizer": (dict, "optimizer state"),
    "scheduler": (dict, "schedule state"),
    "epoch": (int, "finished epochs"),
    "batch": (int, "batches done in the current epoch"),
    "rng_epoch_start": (str, "random state (JSON)"),
    "running": (dict, "running sums"),
    "history": (str, "history (JSON)"),
    "config": (str, "settings (JSON)"),
}
_OPTIONAL = {"run": (str, "run id")}  # fields earlier versions did not write
_RUNNING = ("loss", "correct", "seen", "seconds")
_KIND_NAMES = {int: "an integer", str: "a string", dict: "a dict"}


def write_checkpoint(path, model, optimizer, scheduler, config, epoch, batch,
                     rng_epoch_start, running, history, run: str | None = None) -> None:
    """Atomically write everything needed to continue exactly from here; ``run`` is the
    run's id."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "epoch": epoch,
        "batch": batch,
        "rng_epoch_start": json.dumps(rng_epoch_start),
        "running": running,
        "history": json.dumps(history),
        "config": json.dumps(dataclasses.asdict(config)),
    }
    if run is not None:
        state["run"] = run
    save(state, path)


def _fail(path, message):
    raise CheckpointError(f"{path}: {message}")


def _json_field(state, key, path, kind):
    try:
        value = json.loads(state[key])
    except (TypeError, ValueError) as exc:
        _fail(path, f"field '{key}' is not valid JSON ({exc})")
    if kind is not None and not isinstance(value, kind):
        _fail(path, f"field '{key}' should hold a JSON {kind.__name__}, found "
                    f"{type(value).__name__}")
    return value


def _check_fields(state, path) -> dict:
    """Validate the fields of ``state`` (arrays as ArrayInfo or arrays); parse the JSON."""
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        _fail(path, f"not a tinygrad_cnn training checkpoint (format marker "
                    f"{CHECKPOINT_FORMAT!r} missing); a plain state dict saved with "
                    "tinygrad_cnn.save() loads with tinygrad_cnn.load()")
    for key, (kind, what) in _FIELDS.items():
        if key not in state:
            _fail(path, f"the {what} field '{key}' is missing")
        value = state[key]
        if kind is int and not isinstance(value, bool) and isinstance(value, np.integer):
            value = state[key] = int(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            _fail(path, f"the {what} field '{key}' should be {_KIND_NAMES[kind]}, found "
                        f"{type(value).__name__}")
        if kind is int and value < 0:
            _fail(path, f"the {what} field '{key}' is negative ({value})")
    for key, (kind, what) in _OPTIONAL.items():
        if key in state and not isinstance(state[key], kind):
            _fail(path, f"the {what} field '{key}' should be {_KIND_NAMES[kind]}, found "
                        f"{type(state[key]).__name__}")
    for key in _RUNNING:
        value = state["running"].get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            _fail(path, f"field 'running/{key}' should be a number, found "
                        f"{type(value).__name__}")
    for name, value in state["model"].items():
        dtype = value.dtype if isinstance(value, (ArrayInfo, np.ndarray)) else None
        if dtype is None or dtype.kind != "f":
            _fail(path, f"model entry '{name}' should be a float array, found "
                        f"{dtype if dtype is not None else type(value).__name__}")
    parsed = dict(state)
    parsed["rng_epoch_start"] = _json_field(state, "rng_epoch_start", path, None)
    if parsed["rng_epoch_start"] is not None and not isinstance(parsed["rng_epoch_start"],
                                                                 dict):
        _fail(path, "field 'rng_epoch_start' should hold a JSON object or null")
    parsed["history"] = _json_field(state, "history", path, list)
    if not all(isinstance(m, dict) for m in parsed["history"]):
        _fail(path, "field 'history' should hold a list of per-epoch JSON objects")
    config = parsed["config"] = _json_field(state, "config", path, dict)
    for key, kinds in (("dataset", str), ("data_dir", (str, type(None))),
                       ("normalize", bool), ("epochs", int)):
        if not isinstance(config.get(key), kinds) or (kinds is int
                                                      and isinstance(config[key], bool)):
            _fail(path, f"setting '{key}' in field 'config' is missing or has the wrong "
                        f"type ({type(config.get(key)).__name__})")
    return parsed


def check_model_entries(model_state: dict, expected: dict, path) -> None:
    """Compare a checkpoint's model entries (arrays or ArrayInfo) with ``expected``
    (name -> array): the same names, the same shapes. Raise CheckpointError listing all
    differences."""
    missing = [k for k in expected if k not in model_state]
    unexpected = [k for k in model_state if k not in expected]
    shapes = [f"'{k}' is {tuple(model_state[k].shape)}, the model needs {tuple(v.shape)}"
              for k, v in expected.items()
              if k in model_state and tuple(model_state[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(f"'{k}'" for k in missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(f"'{k}'" for k in unexpected))
    problems += shapes
    if problems:
        _fail(path, "its weights do not fit the model (" + "; ".join(problems) + ")")


def inspect_checkpoint(path) -> dict:
    """The checkpoint's fields, validated, with arrays as ``ArrayInfo`` (shape and dtype
    only) and the JSON fields parsed; no array is read (and nothing but a regular file is
    opened: a FIFO would wait for a writer forever)."""
    check_readable(path, "checkpoint")
    return _check_fields(describe(path), os.fspath(path))


def read_checkpoint(path, model=None) -> dict:
    """Read and validate a checkpoint; with ``model``, also check that its weights fit
    (names and shapes) before any array is read.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, NotARegularFileError
    CheckpointError (a ValueError)
        Naming the file and the field or weight that is wrong.
    """
    path = os.fspath(path)
    info = inspect_checkpoint(path)
    if model is not None:
        check_model_entries(info["model"], model.state_dict(), path)
    state = load(path)
    parsed = _check_fields(state, path)
    running = parsed["running"]
    parsed["running"] = {k: float(running[k]) for k in _RUNNING}
    for k in ("loss", "seconds"):
        if not math.isfinite(parsed["running"][k]):
            _fail(path, f"field 'running/{k}' is not finite")
    return parsed


def saved_run_id(path) -> str | None:
    """The run id in the checkpoint at ``path``; None when there is none (no checkpoint, one
    of an earlier version, or one that cannot be read: resuming it reports why)."""
    try:
        run = inspect_checkpoint(path).get("run") if path and os.path.exists(path) else None
    except (CheckpointError, OSError):
        return None
    return run or None


def describe_checkpoint(path) -> str:
    """One phrase saying what ``path`` holds, for messages ("a training checkpoint of ...")."""
    try:
        info = inspect_checkpoint(path)
    except (CheckpointError, OSError):
        return "a file that is not a tinygrad_cnn training checkpoint"
    config, history = info["config"], info["history"]
    text = (f"a training checkpoint ({config.get('dataset')}, epoch {info['epoch']}/"
            f"{config.get('epochs')}")
    if history and isinstance(history[-1].get("test_accuracy"), (int, float)):
        text += f", test accuracy {100 * history[-1]['test_accuracy']:.2f}%"
    return text + ")"


def check_same_run(saved: dict, config) -> None:
    """Refuse to resume a checkpoint whose settings ``saved`` (its ``config`` field) differ
    from the run's ``config`` in its recipe: the result would be neither run's."""
    keys = ("dataset", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "seed",
            "normalize", "schedule", "augment")
    if config.schedule == "cosine":
        keys += ("epochs",)  # the schedule's length is part of the recipe
    different = [f"{k}: checkpoint {saved.get(k)!r}, now {getattr(config, k)!r}"
                 for k in keys if saved.get(k) != getattr(config, k)]
    if different:
        raise CheckpointError(f"{config.checkpoint}: cannot resume: the checkpoint was made "
                              "with other settings (" + "; ".join(different) + ")")
