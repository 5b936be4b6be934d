"""The settings of a training run: :class:`TrainConfig`, the checks that refuse settings
that cannot train, and :class:`ConfigError`, the one-line failure those checks raise.

A config is stored in every checkpoint, so that ``resume`` can refuse to continue a run
made with other settings; unset fields (``None``) take the dataset's recipe when the run
starts (:meth:`TrainConfig.resolved`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

from .. import backend
from ..checks import is_int, is_real
from ..data import DatasetError, get_dataset
from ..data.augment import largest_shift

__all__ = ["Bound", "ConfigError", "IMAGE_SIDE", "LIMITS",
           "TrainConfig", "check_settings"]

class ConfigError(ValueError):
    """Settings that cannot train (a non-positive batch size, an infinite learning rate, an
    unknown dataset); the message names the setting."""


#: The side of the images LeNet-5 takes (28x28), which bounds ``augment``.
IMAGE_SIDE = 28


class Bound(NamedTuple):
    """The range a setting must lie in, and why its top is where it is; ``open_top``: the
    top itself is excluded. ``integer``: only integers (never True or False). ``shown``:
    the range as messages write it, where the numbers would not read well."""

    low: float
    high: float
    why: str
    integer: bool = False
    open_top: bool = False
    shown: str = ""

    def holds(self, value) -> bool:
        kind = is_int(value) if self.integer else is_real(value) and math.isfinite(value)
        return kind and self.low <= value and (value < self.high if self.open_top
                                               else value <= self.high)

    def describe(self) -> str:
        """``"an integer from 1 to 1,000,000"``, ``"a number from 0 to below 1"``."""
        kind, fmt = ("an integer", ",") if self.integer else ("a finite number", "g")
        if self.shown:
            return f"{kind} from {self.shown}"
        top = f"below {self.high:{fmt}}" if self.open_top else f"{self.high:{fmt}}"
        return f"{kind} from {self.low:{fmt}} to {top}"

    def check(self, value, name: str, error=ValueError):
        """``value`` when it :meth:`holds`, else ``error`` naming ``name``, the range and
        why."""
        if not self.holds(value):
            raise error(f"{name} must be {self.describe()} ({self.why}), got {value!r}")
        return value


#: setting -> its :class:`Bound`: what :func:`check_settings` and the CLI's arguments hold
#: each number to. ``lr`` has no top: too high a rate is reported as such when the loss
#: stops being finite.
LIMITS = {
    "epochs": Bound(1, 1_000_000, "more is a typing slip: a million epochs of the 4,000-image "
                    "sample alone take weeks", integer=True),
    "batch_size": Bound(1, 1 << 20, "a training step keeps about 0.4 MB per image, so a batch "
                        "of more than 2**20 images needs hundreds of GB", integer=True),
    "momentum": Bound(0, 1, "SGD's velocity sums past gradients weighted by momentum**k: at 1 "
                      "or more they never fade and the steps grow without bound (PyTorch "
                      "accepts such a momentum; its steps grow all the same)",
                      open_top=True),
    "weight_decay": Bound(0, 1, "the decay adds weight_decay * w to every gradient: above 1 it "
                          "outweighs the loss and drives the weights to zero or overflows "
                          "them"),
    "augment": Bound(0, largest_shift(IMAGE_SIDE), "a shift beyond a quarter of LeNet-5's "
                     f"{IMAGE_SIDE}-pixel side moves much of each digit out of the image",
                     integer=True),
    "threads": Bound(1, 1024, "BLAS threads beyond the cores only wait for each other; more "
                     "than 1,024 is a typing slip", integer=True),
    "seed": Bound(backend.SEED_MIN, backend.SEED_MAX, "PyTorch's range: a signed or unsigned "
                  "64-bit integer, -1 being the same seed as 2**64 - 1", integer=True,
                  shown="-2**63 to 2**64 - 1"),
}


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run; stored in checkpoints so ``resume`` can check it.

    ``force`` allows replacing an existing checkpoint without resuming it; ``download``
    fetches MNIST / Fashion-MNIST when they are not found.
    """

    dataset: str = "auto"
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int = 64
    lr: float | None = None
    optimizer: str | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str | None = None
    augment: int | None = None
    seed: int = 0
    device: str | None = None
    normalize: bool = True
    checkpoint: str | None = None
    resume: bool = False
    log: str | None = None
    force: bool = False
    download: bool = False
    threads: int | None = None

    def resolved(self, dataset: str) -> TrainConfig:
        """A copy with ``dataset`` fixed and its recipe's defaults (from the dataset's
        record) filled in, validated."""
        try:
            info = get_dataset(dataset)
        except DatasetError as exc:
            raise ConfigError(str(exc)) from None
        recipe = info.recipe
        pick = {k: getattr(self, k) if getattr(self, k) is not None else getattr(recipe, k)
                for k in ("epochs", "lr", "schedule", "augment")}
        if pick["schedule"] not in ("cosine", "constant"):
            raise ConfigError(f"unknown schedule {pick['schedule']!r}; choose cosine or constant")
        config = dataclasses.replace(
            self, dataset=info.name, **pick,
            optimizer=(self.optimizer or recipe.optimizer).lower(),
            device=backend.parse_device(self.device) if self.device else backend.default_device(),
        )
        check_settings(config)
        # -1 and 2**64 - 1 draw the same numbers, so a checkpoint of one resumes with the other
        return dataclasses.replace(config, seed=backend.canonical_seed(config.seed))


def check_settings(config: TrainConfig) -> None:
    """Refuse settings that cannot train: each message names the setting, its range
    (:data:`LIMITS`) and why."""
    for name in ("epochs", "batch_size", "momentum", "weight_decay", "augment", "seed"):
        LIMITS[name].check(getattr(config, name), name, ConfigError)
    if config.threads is not None:
        LIMITS["threads"].check(config.threads, "threads", ConfigError)
    if not (is_real(config.lr) and math.isfinite(config.lr) and config.lr > 0):
        raise ConfigError(f"lr must be a positive finite number, got {config.lr!r}")
