"""What several commands share: argument types that refuse bad numbers at parse time,
the data and ``--force`` arguments, the default checkpoint, the device a command runs on,
and :class:`UsageError` for arguments that do not go together."""

from __future__ import annotations

import argparse
import math
import os

from .. import backend

DEFAULT_CHECKPOINT = os.path.join("checkpoints", "lenet5.npz")


class UsageError(Exception):
    """Arguments that do not go together; reported like argparse's errors (status 2)."""


# ----------------------------------------------------------------------------- argument types

def number(convert, zero_allowed: bool, expected: str):
    """An argparse type: ``convert(text)``, finite, above zero (or at least zero), else an
    error that says what was ``expected``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value >= 0 if zero_allowed else value > 0)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_int = number(int, False, "a positive integer")
non_negative_int = number(int, True, "an integer >= 0")
positive_float = number(float, False, "a positive finite number")
non_negative_float = number(float, True, "a finite number >= 0")


def within(bound):
    """An argparse type for a setting held to ``bound`` (a
    :class:`~tinygrad_cnn.train.config.Bound`): an integer or a finite number in its range,
    else an error that gives the range and why."""
    def parse(text: str):
        try:
            value = int(text) if bound.integer else float(text)
        except ValueError:
            value = None
        if not bound.holds(value):
            raise argparse.ArgumentTypeError(f"expected {bound.describe()} ({bound.why}), "
                                             f"got {text!r}")
        return value

    return parse


def setting(name: str):
    """The argparse type of the training setting ``name``, held to the same bounds as
    :class:`~tinygrad_cnn.train.TrainConfig` (``train.config.LIMITS``)."""
    from ..train.config import LIMITS

    return within(LIMITS[name])


def count(high: int, why: str):
    """An argparse type: an integer from 1 to ``high``, ``why`` saying why not more."""
    from ..train.config import Bound

    return within(Bound(1, high, why, integer=True))


#: ``evaluate --count``: a figure of more mistakes is too tall to read and slow to draw.
mistakes_count = count(256, "32 rows of 8 pictures; more make a figure too tall to read, "
                       "and each takes about 30 ms to draw")
#: ``graph --batch-size``: the drawing shows shapes; a larger batch only costs memory.
graph_batch_size = count(1024, "the drawing shows one step's shapes; a larger batch only "
                         "costs time and memory")


# ----------------------------------------------------------------------------- shared arguments

def add_data_args(p: argparse.ArgumentParser, dataset_default="auto", dataset_help=None):
    from ..data import MIRRORS, dataset_names, get_dataset

    p.add_argument("--dataset", default=dataset_default,
                   choices=["auto", *dataset_names()],
                   help=dataset_help or "auto: MNIST where it is found, else the bundled "
                   "sample (default)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the IDX files (also $TINYGRAD_CNN_DATA); when given, "
                   "the data must be there")
    p.add_argument("--download", action="store_true",
                   help=f"fetch {' / '.join(get_dataset(n).title for n in MIRRORS)} (SHA-256 "
                   "checked) when not found")
    p.add_argument("--device", default=None, choices=backend.device_choices(),
                   help="default: $TINYGRAD_CNN_DEVICE, else cpu")


def add_threads(p: argparse.ArgumentParser) -> None:
    """``--threads N``: fix the BLAS threads on the CPU instead of choosing by measuring."""
    p.add_argument("--threads", type=setting("threads"), default=None, metavar="N",
                   help="BLAS threads on the CPU (default: chosen by timing the first "
                   "batches, and again when the machine's load changes)")


def add_force(p: argparse.ArgumentParser, what: str) -> None:
    """``--force``: replace ``what`` even when this program did not write it."""
    p.add_argument("--force", action="store_true",
                   help=f"replace {what} even if tinygrad-cnn did not write it")


def chosen_device(name: str | None) -> str:
    """The device ``--device`` names, else the default one (``$TINYGRAD_CNN_DEVICE``)."""
    return backend.parse_device(name) if name else backend.default_device()


def checkpoint_model(path, num_classes: int | None = None):
    """``(LeNet5, fields)``: the model of a training checkpoint with its weights loaded,
    and the checkpoint's validated fields (``epoch``, ``config`` ...).

    ``num_classes`` defaults to what the checkpoint's last layer holds; the weights' names
    and shapes are checked against the model before any array is read, so a wrong file
    fails in one line naming the weight.
    """
    from ..models import LeNet5
    from ..train.checkpoint import inspect_checkpoint, read_checkpoint

    if num_classes is None:
        bias = inspect_checkpoint(path)["model"].get("fc3.bias")
        shape = getattr(bias, "shape", ())
        # anything odd is left for read_checkpoint to name
        num_classes = shape[0] if len(shape) == 1 and shape[0] > 0 else 10
    model = LeNet5(num_classes=num_classes)
    state = read_checkpoint(path, model=model)
    model.load_state_dict(state["model"])
    return model, state

