"""The ``tinygrad-cnn`` command."""

from .app import build_parser, main  # noqa: F401
