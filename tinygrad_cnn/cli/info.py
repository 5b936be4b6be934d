"""``tinygrad-cnn info``: versions, the default device and whether CUDA is usable."""

from __future__ import annotations

import platform
import sys

import numpy as np

from .. import __version__, backend
from ..backend import threads


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("info", help="versions, default device and CUDA status")
    p.set_defaults(run_command=run, parser=p)


def run(args) -> int:
    """Versions and devices; runs even when the device setting is unusable, to explain it."""
    print(f"tinygrad-cnn {__version__}")
    print(f"Python {platform.python_version()} ({sys.executable})")
    print(f"NumPy {np.__version__}")
    print(f"BLAS threads on the CPU: {threads.threads_setting()} "
          f"({threads.available_cores()} cores available; --threads N fixes it)")
    for label, value in backend.stack_versions().items():
        print(f"{label}: {value}")
    setting = f"{backend.ENV_VAR}={backend.default_device_setting()!r}"
    try:
        print(f"default device: {backend.default_device()} ({setting})")
    except backend.DeviceError as exc:
        print(f"default device: none usable: {exc}")
    usable, reason = backend.cuda_status()
    print(f"CUDA usable: {'yes' if usable else 'no'}: {reason}")
    return 0
