"""Neural-network building blocks: ``Module``, ``Parameter``, layers, ``functional``, ``init``.

``module.py`` holds the module machinery (registration, state dicts, scopes for graph
drawings) and the containers; ``layers.py`` the layers; ``functional.py`` the stateless
operations the layers call; ``init.py`` the weight initialisers.
"""

from . import functional, init
from .layers import (
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from .module import Module, ModuleList, Parameter, Sequential

__all__ = [
    "AvgPool2d", "Conv2d", "Dropout", "Flatten", "Linear", "MaxPool2d", "Module", "ModuleList",
    "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh", "functional", "init",
]
