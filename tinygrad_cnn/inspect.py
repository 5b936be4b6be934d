"""Kept so that ``from tinygrad_cnn.inspect import ...`` written against earlier versions
still works: the inspection tools live in :mod:`tinygrad_cnn.viz.inspect`."""

from .viz.inspect import *  # noqa: F401,F403
from .viz.inspect import __all__  # noqa: F401
