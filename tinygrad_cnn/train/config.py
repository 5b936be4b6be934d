"""The settings of a training run: :class:`TrainConfig`, the checks that refuse settings
that cannot train, and :class:`ConfigError`, the one-line failure those checks raise.

A config is stored in every checkpoint, so that ``resume`` can refuse to continue a run
made with other settings; unset fields (``None``) take the dataset's recipe when the run
starts (:meth:`TrainConfig.resolved`).
"""

from __future__ import annotations

import dataclasses
import math

from .. import backend
from ..checks import is_int
from ..data import DatasetError, get_dataset

__all__ = ["ConfigError", "TrainConfig", "check_settings"]


class ConfigError(ValueError):
    """Settings that cannot train (a non-positive batch size, an infinite learning rate, an
    unknown dataset); the message names the setting."""


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
        return config


def check_settings(config: TrainConfig) -> None:
    """Refuse settings that cannot train (each message names the setting)."""
    for name in ("epochs", "batch_size"):
        value = getattr(config, name)
        if not is_int(value) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(config.lr, (int, float)) and math.isfinite(config.lr)
            and config.lr > 0):
        raise ConfigError(f"lr must be a positive finite number, got {config.lr!r}")
    for name in ("momentum", "weight_decay"):
        value = getattr(config, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a non-negative finite number, got {value!r}")
    if isinstance(config.augment, bool) or not isinstance(config.augment, int) \
            or config.augment < 0:
        raise ConfigError(f"augment must be a non-negative integer, got {config.augment!r}")
