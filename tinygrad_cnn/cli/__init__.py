"""The ``tinygrad-cnn`` command: train, evaluate, graph, plot, filters, export, bench, info.

Each command is one module here that adds its parser (``add_parser(subparsers)``) and runs
it (``run(args)``); :mod:`.arguments` holds what several share. :func:`main` is the one
error boundary: expected failures (files, data, checkpoints, devices, settings) end in one
line naming the file or setting and exit status 1, arguments that do not go together exit
with status 2 as argparse's errors do, Ctrl-C exits with 130, and anything else is a bug
and keeps its traceback. Every file a command writes is checked before the long work
starts, and no command replaces a file it did not write unless given ``--force``.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__, backend
from . import bench, evaluate, export, filters, graph, info, plot, train
from .arguments import UsageError

__all__ = ["COMMANDS", "build_parser", "describe_error", "main"]

#: The commands, in the order ``--help`` lists them.
COMMANDS = (train, evaluate, graph, plot, filters, export, bench, info)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command: each command module adds its own."""
    parser = argparse.ArgumentParser(
        prog="tinygrad-cnn",
        description="Train, evaluate and draw LeNet-5 with a from-scratch autograd engine.")
    parser.add_argument("--version", action="version", version=f"tinygrad-cnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run ``tinygrad-cnn ARGV`` (default: the process's arguments); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    prefix = f"tinygrad-cnn {args.command}"
    try:
        return args.run_command(args)
    except UsageError as exc:
        args.parser.error(str(exc))  # usage and message on stderr, exit status 2
    except KeyboardInterrupt:
        print(f"\n{prefix}: interrupted", file=sys.stderr)
        return 130
    except _stopped_cleanly() as exc:  # the message says what was saved and how to go on
        print(f"\n{exc}", file=sys.stderr)
        return 130
    except _expected_errors() as exc:
        print(f"{prefix}: error: {describe_error(exc)}", file=sys.stderr)
        return 1


def _stopped_cleanly() -> tuple:
    """Ctrl-C caught by a command that then stopped at a clean point (training, after
    writing its checkpoint)."""
    from ..train.loop import TrainingInterrupted

    return (TrainingInterrupted,)


def _expected_errors() -> tuple:
    """The failures a user can cause and fix: reported in one line, never a traceback."""
    from ..bench.harness import BenchmarkError
    from ..data import DataFormatError
    from ..interop import OnnxFormatError, UnsupportedOpError
    from ..serialization import CheckpointError
    from ..train.config import ConfigError
    from ..train.loop import TrainingDiverged
    from ..viz.plots import MissingDependencyError, PlotInputError

    return (OSError, CheckpointError, DataFormatError, ConfigError, TrainingDiverged,
            MissingDependencyError, PlotInputError, BenchmarkError, backend.DeviceError,
            UnsupportedOpError, OnnxFormatError)


def describe_error(exc: BaseException) -> str:
    """One message for an expected error; OSErrors as ``file: problem``."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__
