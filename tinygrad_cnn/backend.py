"""Devices, their array modules, and the library's random number generators.

Every op asks :func:`array_module` for the module (``numpy`` or ``cupy``) that owns its
inputs and uses only functions the two share, so one code path serves both devices.
The default device is read once, at import, from ``TINYGRAD_CNN_DEVICE``.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

ENV_VAR = "TINYGRAD_CNN_DEVICE"
DEVICES = ("cpu", "cuda")
_ALIASES = {"cpu": "cpu", "cuda": "cuda", "gpu": "cuda"}
_VALID_SETTINGS = ("cpu", "cuda", "gpu", "auto")
CUDA_INSTALL_HINT = 'pip install "tinygrad-cnn[cuda]"'


class DeviceError(RuntimeError):
    """A device was asked for that cannot be used here (no CuPy, no GPU, bad name)."""


def parse_device(name) -> str:
    """Return the canonical device name (``"cpu"`` or ``"cuda"``) for a user-given name."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise ValueError(
            f"unknown device {name!r}; valid devices are 'cpu', 'cuda' (alias 'gpu')"
        )
    return _ALIASES[key]


# ----------------------------------------------------------------------------- CUDA probe

_cupy = None
_cuda_checked = False
_cuda_reason = "not checked yet"


def cuda_status() -> tuple[bool, str]:
    """Probe CuPy and the GPU once with a real allocation; return (usable, reason).

    "CuPy imports" is not proof of a GPU: the driver and device only show up when memory
    is allocated and a kernel runs.
    """
    global _cupy, _cuda_checked, _cuda_reason
    if _cuda_checked:
        return _cupy is not None, _cuda_reason
    _cuda_checked = True
    try:
        import cupy
    except ImportError as exc:
        _cuda_reason = f"CuPy is not installed ({exc}); install it with {CUDA_INSTALL_HINT}"
        return False, _cuda_reason
    try:
        probe = cupy.arange(4, dtype=cupy.float32)
        float((probe * 2).sum())
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        if isinstance(name, bytes):
            name = name.decode()
    except Exception as exc:  # any driver/runtime failure means "no usable GPU"
        _cuda_reason = (
            f"CuPy {cupy.__version__} is installed but no GPU could be used "
            f"({type(exc).__name__}: {exc})"
        )
        return False, _cuda_reason
    _cupy = cupy
    _cuda_reason = f"GPU {name} usable through CuPy {cupy.__version__}"
    return True, _cuda_reason


def require_cuda():
    """Return the ``cupy`` module, or raise :class:`DeviceError` saying what is missing."""
    ok, reason = cuda_status()
    if not ok:
        raise DeviceError(f"device 'cuda' is not available: {reason}")
    return _cupy


def _read_default_device() -> str:
    raw = os.environ.get(ENV_VAR, "")
    setting = raw.strip().lower() or "cpu"
    if setting not in _VALID_SETTINGS:
        raise ValueError(
            f"{ENV_VAR}={raw!r} is not a valid device; use one of "
            f"{', '.join(repr(s) for s in _VALID_SETTINGS)}"
        )
    if setting == "auto":
        ok, reason = cuda_status()
        if ok:
            return "cuda"
        warnings.warn(f"{ENV_VAR}=auto: using the CPU because {reason}", stacklevel=3)
        return "cpu"
    device = _ALIASES[setting]
    if device == "cuda":
        require_cuda()
    return device


DEFAULT_DEVICE = _read_default_device()


def default_device() -> str:
    return DEFAULT_DEVICE


# ----------------------------------------------------------------------------- dispatch

def array_module(device: str):
    """The array module (``numpy`` or ``cupy``) that holds arrays of ``device``."""
    return np if device == "cpu" else require_cuda()


def device_of(array) -> str:
    """``"cpu"`` for NumPy arrays and scalars, ``"cuda"`` for CuPy arrays."""
    if isinstance(array, (np.ndarray, np.generic)):
        return "cpu"
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    module = type(array).__module__
    if module.startswith("cupy"):
        return "cuda"
    return "cpu"


def move(array, device: str):
    """Copy ``array`` to ``device``; the one place host<->GPU transfers happen."""
    if device == "cpu":
        if isinstance(array, np.ndarray):
            return array
        if device_of(array) == "cuda":
            return array.get()
        return np.asarray(array)
    cupy = require_cuda()
    return cupy.asarray(array)


def to_host(array) -> np.ndarray:
    """A NumPy array holding ``array``'s values, wherever it lives."""
    return move(array, "cpu")


def synchronize(device: str) -> None:
    """Wait until the work queued on ``device`` has finished (the CPU never queues), so a
    timer read afterwards measures the work rather than its launch."""
    if device == "cuda":
        require_cuda().cuda.Device().synchronize()


# ----------------------------------------------------------------------------- randomness

_seed = None
_host_rng = np.random.default_rng()
_cuda_rng = None


def manual_seed(seed: int) -> None:
    """Seed every random draw the library makes: initialisation, dropout, shuffling."""
    global _seed, _host_rng, _cuda_rng
    _seed = int(seed)
    _host_rng = np.random.default_rng(_seed)
    _cuda_rng = None  # re-created from the seed on first use


def host_rng() -> np.random.Generator:
    """The library's NumPy generator (weights are drawn here, so CPU and GPU runs agree)."""
    return _host_rng


def device_rng(device: str):
    """A generator that draws directly on ``device`` (dropout masks on the GPU stay there)."""
    global _cuda_rng
    if device == "cpu":
        return _host_rng
    cupy = require_cuda()
    if _cuda_rng is None:
        seed = _seed if _seed is not None else int(_host_rng.integers(2**31))
        _cuda_rng = cupy.random.RandomState(seed)
    return _cuda_rng


def get_state() -> dict:
    """The host generator's state, for checkpoints that must resume bit-identically."""
    return {"seed": _seed, "bit_generator": _host_rng.bit_generator.state}


def set_state(state: dict) -> None:
    global _seed
    _seed = state.get("seed")
    _host_rng.bit_generator.state = state["bit_generator"]
