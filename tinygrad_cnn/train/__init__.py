"""Training LeNet-5: the loop behind ``tinygrad-cnn train``, its recipes, checkpoints,
metrics and progress bar.

Scripts use ``train.fit(TrainConfig(...))``; the modules below say how it is done.
"""

from .loop import (  # noqa: F401
    CHECKPOINT_FORMAT, READ_INTERVAL, RECIPES, ConfigError, TrainConfig, TrainingDiverged,
    TrainingInterrupted, evaluate, fit, inspect_checkpoint, load_datasets, make_optimizer,
    read_checkpoint, write_checkpoint,
)
from .loop import __all__  # noqa: F401
