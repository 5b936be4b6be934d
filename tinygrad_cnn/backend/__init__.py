"""Devices: one record per device, the registry, and the default device.

Everything the library knows of a device is here; every other module asks this package
("where does this array live?", "move it there", "which names may a user type?") and never
spells a device's name itself. The package holds:

- ``device.py``: :class:`Device`, the record every device fills in;
- one file per device behind that one interface: ``cpu.py`` (NumPy, the host) and
  ``cuda.py`` (CuPy on a GPU, the accelerator);
- ``generators.py``: the library's random generators (NumPy's on the host,
  :class:`CounterRNG` on a device), all seeded by :func:`manual_seed`;
- ``threads.py``: the host BLAS's thread count, and choosing it by timing real batches;
- ``products.py``: host matrix products, cut into chunks of columns where measured faster;
- ``hugepages.py``: host arrays in memory advised for 2 MiB pages (fewer TLB misses);
- this file: the registry, the questions the rest of the library asks, the default device.

What a device must provide (an op never asks "which device am I on?" to choose code):

- ``xp``: an array module with NumPy's API (``numpy``, ``cupy``); ops call only functions
  that the two share, so one code path serves every device;
- ``owns(array)``: whether an array lives on this device (asked of accelerators; the host
  holds whatever no accelerator owns);
- ``upload(array)`` and ``download(array)``: host data onto the device and back, reached
  only through :func:`move` and :func:`to_host`, the one place data crosses;
- a random generator for draws made on the device (dropout masks) whose state can be saved
  and restored (``rng`` and the ``rng_state`` / ``set_rng_state`` pair);
- ``synchronize()``: wait for queued work, for timing;
- ``scatter_add(positions, values, size)``: sums of ``values`` per flat position, without
  waiting for the device (the one primitive whose fastest form differs between devices);
- ``working_set_bytes``: how large the temporaries of one step of a chunked loop should be
  (a CPU's cache; None where large batches are best taken whole, as on a GPU);
- ``name``, ``aliases`` and ``accelerator``: how users spell it, and whether its memory is
  apart from the host's;
- ``probe()``: whether it is usable here and, if not, why (a real allocation, not an
  import); ``versions()``: what ``tinygrad-cnn info`` shows of the software under it.

The default device is read once from ``TINYGRAD_CNN_DEVICE`` at import; it is *checked* when
first needed (:func:`default_device`), so that ``tinygrad-cnn info`` can still start and
explain a bad setting, while any script that creates a tensor fails at once with the reason.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from . import generators
from .cpu import CPU
from .cuda import CUDA, gpu_properties
from .cuda import INSTALL_HINT as CUDA_INSTALL_HINT
from .device import Device, DeviceError, DeviceSettingError
from .generators import SEED_MAX, SEED_MIN, CounterRNG, canonical_seed

__all__ = [
    "ACCELERATOR", "CUDA_INSTALL_HINT", "DEVICES", "ENV_VAR", "HOST", "SEED_MAX", "SEED_MIN",
    "CounterRNG", "Device", "DeviceError", "DeviceSettingError", "array_module",
    "canonical_seed", "check_later", "cuda_status",
    "default_device", "default_device_setting", "device_choices",
    "device_names", "device_of", "device_rng", "free_memory_bytes", "get", "get_state",
    "gpu_properties",
    "host_rng", "is_accelerator", "manual_seed", "move", "on_accelerator", "parse_device",
    "require_cuda", "set_state", "stack_versions", "synchronize", "to_host", "xp_of",
]

ENV_VAR = "TINYGRAD_CNN_DEVICE"

# ----------------------------------------------------------------------------- the registry

DEVICES = {device.name: device for device in (CPU(), CUDA())}
HOST = CPU.name  # where NumPy arrays live, and host data lands unless told otherwise
ACCELERATOR = CUDA.name  # what Tensor.cuda() and TINYGRAD_CNN_DEVICE=auto reach for
_ACCELERATORS = tuple(device for device in DEVICES.values() if device.accelerator)
_ALIASES = {alias: device.name for device in DEVICES.values() for alias in device.aliases}


def device_names() -> tuple:
    """The canonical names of the devices, host first (``("cpu", "cuda")``)."""
    return tuple(DEVICES)


def device_choices() -> tuple:
    """Every spelling :func:`parse_device` accepts, aliases included, in registry order
    (``("cpu", "cuda", "gpu")``): the choices of a ``--device`` option."""
    return tuple(_ALIASES)


def parse_device(name) -> str:
    """The canonical device name (``"cpu"`` or ``"cuda"``) for a user-given name."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        aliases = [alias for alias, device in _ALIASES.items() if alias != device]
        also = f" (alias {', '.join(map(repr, aliases))})" if aliases else ""
        raise ValueError(f"unknown device {name!r}; valid devices are "
                         f"{', '.join(map(repr, DEVICES))}{also}")
    return _ALIASES[key]


def is_accelerator(name) -> bool:
    """Whether the device a user-given name stands for has memory apart from the host's
    (``"cuda"`` and ``"gpu"``: yes; ``"cpu"``: no)."""
    return DEVICES[parse_device(name)].accelerator


def get(device: str) -> Device:
    """The record of a canonical device name."""
    return DEVICES[device]


# ----------------------------------------------------------------------------- dispatch

def array_module(device: str):
    """The array module (``numpy`` or ``cupy``) that holds arrays of ``device``; raises
    :class:`DeviceError` saying why where the device cannot be used here."""
    return DEVICES[device].xp


def device_of(array) -> str:
    """The device holding ``array``: the accelerator that owns it, else the host (NumPy
    arrays, scalars, lists)."""
    if type(array) is np.ndarray:  # no accelerator owns one: asked ~65 times a LeNet-5 step
        return HOST
    for device in _ACCELERATORS:
        if device.owns(array):
            return device.name
    return HOST


def on_accelerator(array) -> bool:
    """Whether ``array`` lives in an accelerator's memory (reading it means a transfer)."""
    return device_of(array) != HOST


def xp_of(array):
    """The array module that owns ``array``: what every op calls its math through."""
    return DEVICES[device_of(array)].xp


def move(array, device: str):
    """``array`` as an array on ``device`` (itself when already there): with
    :func:`to_host`, the one place data crosses between host and device."""
    if device == HOST:
        return to_host(array)
    record = DEVICES[device]
    return array if record.owns(array) else record.upload(array)


def to_host(array) -> np.ndarray:
    """A NumPy array holding ``array``'s values, wherever it lives (a GPU read waits for
    the GPU: call it only where a value is really needed). Checks queued on the device by
    :func:`check_later` travel in the same transfer and raise here if one failed."""
    if isinstance(array, np.ndarray):
        return array
    device = DEVICES[device_of(array)]
    if not device.accelerator:
        return np.asarray(array)
    if not _deferred:
        return device.download(array)
    xp, messages, flags = device.xp, list(_deferred), list(_deferred.values())
    _deferred.clear()
    raw = xp.ascontiguousarray(array).reshape(-1).view(xp.uint8)
    both = device.download(xp.concatenate([raw, xp.stack(flags).astype(xp.uint8)]))  # once
    for message, failed in zip(messages, both[raw.size:]):
        if failed:
            raise ValueError(message + " (checked on the device; reported at the next read "
                             "of a device value)")
    return both[:raw.size].view(array.dtype).reshape(array.shape)


# checks computed on a device without waiting for it: message -> device flag ("failed")
_deferred: dict = {}


def check_later(failed, message: str) -> None:
    """Remember a device-side check (a boolean array that is True on failure) and raise
    ``ValueError(message)`` at the next read of a device value, as CUDA reports its
    device-side asserts, so that a training step never waits for the GPU to answer it."""
    if not on_accelerator(failed):
        if bool(failed):
            raise ValueError(message)
        return
    previous = _deferred.get(message)
    _deferred[message] = failed if previous is None else previous | failed


def synchronize(device: str) -> None:
    """Wait until ``device`` has finished its queued work (no-op on the CPU)."""
    DEVICES[device].synchronize()


def free_memory_bytes(device: str) -> int | None:
    """Bytes free in ``device``'s own memory (raises :class:`DeviceError` where it is not
    usable); None for the host, whose memory is the system's."""
    return DEVICES[device].free_memory_bytes()


# ----------------------------------------------------------------------------- what is usable

def cuda_status() -> tuple[bool, str]:
    """Probe CuPy and the GPU once; return (usable, reason)."""
    return DEVICES[ACCELERATOR].probe()


def require_cuda():
    """The ``cupy`` module, or :class:`DeviceError` saying what is missing."""
    return DEVICES[ACCELERATOR].xp


def stack_versions() -> dict:
    """``{label: text}`` of the software under every device (CuPy, CUDA runtime and
    driver, the GPU), as ``tinygrad-cnn info`` prints it; never raises."""
    return {label: text for device in DEVICES.values()
            for label, text in device.versions().items()}


# ----------------------------------------------------------------------------- the default

_SETTINGS = device_choices() + ("auto",)
_SETTING = os.environ.get(ENV_VAR, "")  # read once: changing it later has no effect
_default = None


def _resolve_default() -> str:
    setting = _SETTING.strip().lower() or HOST
    if setting not in _SETTINGS:
        raise DeviceSettingError(f"{ENV_VAR}={_SETTING!r} is not a valid device; use one of "
                                 f"{', '.join(repr(s) for s in _SETTINGS)}")
    if setting == "auto":
        reason = "no accelerator is registered"
        for device in _ACCELERATORS:
            usable, reason = device.probe()
            if usable:
                return device.name
        warnings.warn(f"{ENV_VAR}=auto: using the CPU because {reason}", stacklevel=4)
        return HOST
    device = parse_device(setting)
    usable, reason = DEVICES[device].probe()
    if not usable:
        raise DeviceError(f"device '{device}' is not available: {reason} "
                          f"(set by {ENV_VAR}={_SETTING!r})")
    return device


def default_device() -> str:
    """Where data created without ``device=`` goes, from ``TINYGRAD_CNN_DEVICE``.

    Raises :class:`DeviceSettingError` (a bad setting, also a ``ValueError``) or
    :class:`DeviceError` (``cuda`` unusable here), each time it is asked, so every entry
    point reports the same reason.
    """
    global _default
    if _default is None:
        _default = _resolve_default()
    return _default


def default_device_setting() -> str:
    """The raw ``TINYGRAD_CNN_DEVICE`` value read at import (for ``tinygrad-cnn info``)."""
    return _SETTING


# ----------------------------------------------------------------------------- seeds

def manual_seed(seed: int) -> None:
    """Seed every random draw the library makes: initialisation, dropout, shuffling.

    Any integer from ``-2**63`` to ``2**64 - 1`` is a seed, as in PyTorch; a negative one
    is the same seed as its unsigned 64-bit twin (``-1`` and ``2**64 - 1``). Anything else
    is a ``ValueError`` (:func:`canonical_seed`).
    """
    generators.seed_all(seed)
    for device in _ACCELERATORS:
        device.set_rng_state(None)  # re-created from the seed on first use


def host_rng() -> np.random.Generator:
    """The library's NumPy generator (weights are drawn here, so CPU and GPU runs agree)."""
    return generators.host()


def device_rng(device: str):
    """The generator that draws directly on ``device`` (dropout masks stay on the GPU)."""
    return DEVICES[device].rng


def get_state() -> dict:
    """Every generator's state, for checkpoints that must resume bit-identically: the
    host's, with each accelerator's under its name."""
    state = DEVICES[HOST].rng_state()
    for device in _ACCELERATORS:
        state[device.name] = device.rng_state()
    return state


def set_state(state: dict) -> None:
    """Restore what :func:`get_state` returned (older states without an accelerator's
    entry work too)."""
    DEVICES[HOST].set_rng_state(state)
    for device in _ACCELERATORS:
        device.set_rng_state(state.get(device.name))
