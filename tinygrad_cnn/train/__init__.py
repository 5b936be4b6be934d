"""Training LeNet-5: the loop behind ``tinygrad-cnn train``, its settings, recipes,
checkpoints, metrics and progress bar.

Scripts use ``train.fit(TrainConfig(...))``; the modules below say how it is done:
:mod:`.config` (the settings and their checks), :mod:`.loop` (``fit``: epochs,
evaluation, checkpoints, resuming; the recipes), :mod:`.epoch` (one training epoch, the
entry point the epoch benchmark calls too), :mod:`.checkpoint` (the files),
:mod:`.metrics` (sums kept on the device, ``evaluate``) and :mod:`.progress` (the bar).
"""

from .checkpoint import (
    CHECKPOINT_FORMAT,
    inspect_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from .config import ConfigError, TrainConfig
from .epoch import READ_INTERVAL, EpochState, train_epoch
from .loop import (
    RECIPES,
    TrainingDiverged,
    TrainingInterrupted,
    fit,
    load_datasets,
    make_optimizer,
)
from .metrics import evaluate

__all__ = ["CHECKPOINT_FORMAT", "ConfigError", "EpochState", "READ_INTERVAL", "RECIPES",
           "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "evaluate", "fit",
           "inspect_checkpoint", "load_datasets", "make_optimizer", "read_checkpoint",
           "train_epoch", "write_checkpoint"]
