"""Neural-network building blocks: ``Module``, ``Parameter``, layers, ``functional``, ``init``.

``module.py`` holds the module machinery (registration, state dicts, devices);
``containers.py`` ``Sequential`` and ``ModuleList``; ``hooks.py`` what tools attach to
(which module is running, hook handles); ``layers.py`` the layers; ``functional.py`` the
stateless operations the layers call, which check arguments and apply the fused ops of
``conv/``, ``pool.py``, ``linear.py``, ``activation.py`` and ``losses.py``;
``reference.py`` the same ops written with Tensor primitives, to read and to test against;
``init.py`` the weight initialisers.
"""

from . import functional, init, reference
from .containers import ModuleList, Sequential
from .layers import (
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from .module import Module, Parameter

__all__ = [
    "AvgPool2d", "Conv2d", "Dropout", "Flatten", "LeakyReLU", "Linear", "MaxPool2d", "Module",
    "ModuleList",
    "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh", "functional", "init", "reference",
]
