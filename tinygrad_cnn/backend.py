"""Devices: one record per device, and the default device read from ``TINYGRAD_CNN_DEVICE``.

What a backend must provide (everything device-specific in the library goes through a
:class:`Device` record; an op never asks "which device am I on?" to choose code):

- ``xp``: an array module with NumPy's API (``numpy``, ``cupy``); ops call only functions
  that the two share, so one code path serves every device;
- ``owns(array)``: whether an array lives on this device;
- ``upload(array)``: host data onto the device, and :func:`to_host` for the way back: the
  only two places data crosses between host and device;
- a random generator for draws made on the device (dropout masks) whose state can be saved
  and restored (``rng`` and the ``rng_state`` / ``set_rng_state`` pair);
- ``synchronize()``: wait for queued work, for timing;
- ``scatter_add(positions, values, size)``: sums of ``values`` per flat position, without
  waiting for the device (the one primitive whose fastest form differs between devices);
- ``working_set_bytes``: how large the temporaries of one step of a chunked loop should be
  (a CPU's cache; None where large batches are best taken whole, as on a GPU);
- ``name`` and ``aliases``: how users spell it;
- ``probe()``: whether it is usable here and, if not, why (a real allocation, not an import).

The default device is read once from ``TINYGRAD_CNN_DEVICE`` at import; it is *checked* when
first needed (:func:`default_device`), so that ``tinygrad-cnn info`` can still start and
explain a bad setting, while any script that creates a tensor fails at once with the reason.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

ENV_VAR = "TINYGRAD_CNN_DEVICE"
CUDA_INSTALL_HINT = ('pip install "tinygrad-cnn[cuda]" (CUDA 12; "tinygrad-cnn[cuda13]" for '
                     'CUDA 13)')
_SETTINGS = ("cpu", "cuda", "gpu", "auto")


class DeviceError(RuntimeError):
    """A device was asked for that cannot be used here (no CuPy, no GPU, bad name)."""


class DeviceSettingError(DeviceError, ValueError):
    """``TINYGRAD_CNN_DEVICE`` holds a value that names no device."""


# ----------------------------------------------------------------------------- randomness

_MASK64 = (1 << 64) - 1


def _splitmix64(x):
    """A stateless 64-bit mixer (Steele et al.'s SplitMix64 finaliser) on uint64 arrays;
    integer overflow wraps on NumPy and CuPy alike."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _mix(x: int) -> int:
    """:func:`_splitmix64` on one Python integer (NumPy scalars would warn on overflow)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class CounterRNG:
    """Uniform draws computed on the device as ``hash(key, counter + i)``.

    CuPy's generators keep their state inside cuRAND, where it can be neither read nor set,
    so a resumed GPU run could not replay its dropout masks. Here the whole state is two
    integers (the key and how many numbers were drawn), kept on the host: saving and
    restoring it is exact, and drawing needs no host-device synchronisation.
    """

    def __init__(self, xp, seed: int):
        self.xp = xp
        self.key = _mix(int(seed) & _MASK64)  # nearby seeds give unrelated streams
        self.counter = 0

    def random(self, shape, dtype=np.float32):
        """Uniform values in [0, 1): the top 24 (float32) or 53 (float64) bits of a hash."""
        xp, n = self.xp, int(np.prod(shape, dtype=np.int64))
        index = xp.arange(self.counter, self.counter + n, dtype=np.uint64)
        self.counter += n
        bits = _splitmix64(index ^ np.uint64(self.key))
        if np.dtype(dtype) == np.float64:
            values = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        else:
            values = (bits >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
        return values.reshape(shape)

    def state(self) -> dict:
        return {"key": self.key, "counter": self.counter}

    def set_state(self, state: dict) -> None:
        self.key, self.counter = int(state["key"]), int(state["counter"])


# ----------------------------------------------------------------------------- devices

class Device:
    """What the library needs of one device; see the module docstring for the contract."""

    name = ""
    aliases: tuple = ()
    working_set_bytes = None

    @property
    def xp(self):
        raise NotImplementedError

    def probe(self) -> tuple[bool, str]:
        raise NotImplementedError

    def owns(self, array) -> bool:
        raise NotImplementedError

    def upload(self, array):
        raise NotImplementedError

    def synchronize(self) -> None:
        pass

    def scatter_add(self, positions, values, size: int):
        raise NotImplementedError


class CPU(Device):
    """NumPy arrays in host memory; random draws from the library's NumPy generator."""

    name, aliases = "cpu", ("cpu",)
    xp = np
    # measured on LeNet-5's conv1 blocks (training and inference): 0.35-0.5 MiB best;
    # at 0.7 MiB and up its products leave OpenBLAS's small-matrix kernel, 2x slower
    working_set_bytes = 1 << 19

    def probe(self):
        return True, "NumPy is always usable"

    def owns(self, array):
        return not _is_cupy(array)

    def upload(self, array):
        return to_host(array)

    def scatter_add(self, positions, values, size):
        # bincount is NumPy's fast scatter-add (np.add.at is an order of magnitude slower)
        return np.bincount(positions, weights=values, minlength=size)

    @property
    def rng(self):
        return _host_rng

    def rng_state(self):
        return {"seed": _seed, "bit_generator": _host_rng.bit_generator.state}

    def set_rng_state(self, state):
        global _seed
        _seed = state.get("seed")
        _host_rng.bit_generator.state = state["bit_generator"]


class CUDA(Device):
    """CuPy arrays on the current GPU; random draws from a :class:`CounterRNG` on the GPU."""

    name, aliases = "cuda", ("cuda", "gpu")

    def __init__(self):
        self._cupy = None
        self._status = None  # (usable, reason) once probed
        self._rng = None

    def probe(self):
        """Import CuPy and use the GPU once (allocate, run a kernel, read back).

        "CuPy imports" is not proof of a GPU: a missing driver or device only shows up when
        memory is allocated and a kernel runs.
        """
        if self._status is not None:
            return self._status
        try:
            import cupy
        except ImportError as exc:
            self._status = (False, f"CuPy is not installed ({exc}); install it with "
                                   f"{CUDA_INSTALL_HINT}")
            return self._status
        try:
            float((cupy.arange(4, dtype=cupy.float32) * 2).sum())
            name = gpu_properties(cupy)["name"]
        except Exception as exc:  # any driver or runtime failure means "no usable GPU"
            self._status = (False, f"CuPy {cupy.__version__} is installed but no GPU could be "
                                   f"used ({type(exc).__name__}: {exc})")
            return self._status
        self._cupy = cupy
        self._status = (True, f"GPU {name} usable through CuPy {cupy.__version__}")
        return self._status

    @property
    def xp(self):
        usable, reason = self.probe()
        if not usable:
            raise DeviceError(f"device 'cuda' is not available: {reason}")
        return self._cupy

    def owns(self, array):
        return _is_cupy(array)

    def upload(self, array):
        return self.xp.asarray(array)

    def synchronize(self):
        self.xp.cuda.Device().synchronize()

    def scatter_add(self, positions, values, size):
        # an atomic scatter on the GPU; cupy.bincount would read two values back first
        out = self.xp.zeros(size, dtype=values.dtype)
        self.xp.add.at(out, positions, values)
        return out

    @property
    def rng(self):
        if self._rng is None:
            seed = _seed if _seed is not None else int(_host_rng.integers(2**63))
            self._rng = CounterRNG(self.xp, seed)
        return self._rng

    def rng_state(self):
        return None if self._rng is None else self._rng.state()

    def set_rng_state(self, state):
        if state is None:
            self._rng = None
        else:
            self.rng.set_state(state)


def _is_cupy(array) -> bool:
    return type(array).__module__.startswith("cupy")


def cuda_versions() -> dict:
    """What ``tinygrad-cnn info`` shows of the GPU stack: CuPy, CUDA runtime and driver
    versions, GPU name and memory, as far as they can be read (never raises)."""
    info = {}
    try:
        import cupy
    except ImportError as exc:
        return {"cupy": f"not installed ({exc})"}
    info["cupy"] = cupy.__version__
    runtime = cupy.cuda.runtime
    for key, read in (("cuda runtime", runtime.runtimeGetVersion),
                      ("cuda driver", runtime.driverGetVersion)):
        try:
            version = int(read())
            info[key] = f"{version // 1000}.{version % 1000 // 10}"
        except Exception as exc:  # no driver: say so rather than fail
            info[key] = f"unknown ({type(exc).__name__}: {exc})"
    try:
        props = gpu_properties(cupy)
        info["gpu"] = f"{props['name']}, {props['memory'] / 2**30:.1f} GiB"
    except Exception as exc:
        info["gpu"] = f"none usable ({type(exc).__name__}: {exc})"
    return info


def gpu_properties(cupy) -> dict:
    """Name and memory of the current GPU, as ``{"name": str, "memory": bytes}``."""
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return {"name": name.decode() if isinstance(name, bytes) else str(name),
            "memory": int(props.get("totalGlobalMem", 0))}


DEVICES = {"cpu": CPU(), "cuda": CUDA()}
_ALIASES = {alias: device.name for device in DEVICES.values() for alias in device.aliases}


def parse_device(name) -> str:
    """The canonical device name (``"cpu"`` or ``"cuda"``) for a user-given name."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown device {name!r}; valid devices are 'cpu', 'cuda' "
                         f"(alias 'gpu')")
    return _ALIASES[key]


def get(device: str) -> Device:
    """The record of a canonical device name."""
    return DEVICES[device]


# ----------------------------------------------------------------------------- dispatch

def array_module(device: str):
    """The array module (``numpy`` or ``cupy``) that holds arrays of ``device``."""
    return DEVICES[device].xp


def device_of(array) -> str:
    """``"cuda"`` for CuPy arrays, ``"cpu"`` for everything else (NumPy, scalars, lists)."""
    return "cuda" if _is_cupy(array) else "cpu"


def xp_of(array):
    """The array module that owns ``array``: what every op calls its math through."""
    return DEVICES[device_of(array)].xp


def move(array, device: str):
    """``array`` as an array on ``device`` (itself when already there): with
    :func:`to_host`, the one place data crosses between host and device."""
    if device == "cpu":
        return to_host(array)
    record = DEVICES[device]
    return array if record.owns(array) else record.upload(array)


def to_host(array) -> np.ndarray:
    """A NumPy array holding ``array``'s values, wherever it lives (a GPU read waits for
    the GPU: call it only where a value is really needed). Checks queued on the device by
    :func:`check_later` travel in the same transfer and raise here if one failed."""
    if isinstance(array, np.ndarray):
        return array
    if not _is_cupy(array):
        return np.asarray(array)
    if not _deferred:
        return array.get()
    xp, messages, flags = xp_of(array), list(_deferred), list(_deferred.values())
    _deferred.clear()
    raw = xp.ascontiguousarray(array).reshape(-1).view(xp.uint8)
    both = xp.concatenate([raw, xp.stack(flags).astype(xp.uint8)]).get()  # one transfer
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
    if device_of(failed) == "cpu":
        if bool(failed):
            raise ValueError(message)
        return
    previous = _deferred.get(message)
    _deferred[message] = failed if previous is None else previous | failed


def synchronize(device: str) -> None:
    """Wait until ``device`` has finished its queued work (no-op on the CPU)."""
    DEVICES[device].synchronize()


def cuda_status() -> tuple[bool, str]:
    """Probe CuPy and the GPU once; return (usable, reason)."""
    return DEVICES["cuda"].probe()


def require_cuda():
    """The ``cupy`` module, or :class:`DeviceError` saying what is missing."""
    return DEVICES["cuda"].xp


# ----------------------------------------------------------------------------- the default

_SETTING = os.environ.get(ENV_VAR, "")  # read once: changing it later has no effect
_default = None


def _resolve_default() -> str:
    setting = _SETTING.strip().lower() or "cpu"
    if setting not in _SETTINGS:
        raise DeviceSettingError(f"{ENV_VAR}={_SETTING!r} is not a valid device; use one of "
                                 f"{', '.join(repr(s) for s in _SETTINGS)}")
    if setting == "auto":
        usable, reason = cuda_status()
        if usable:
            return "cuda"
        warnings.warn(f"{ENV_VAR}=auto: using the CPU because {reason}", stacklevel=4)
        return "cpu"
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

_seed = None
_host_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed every random draw the library makes: initialisation, dropout, shuffling."""
    global _seed, _host_rng
    _seed = int(seed)
    _host_rng = np.random.default_rng(_seed)
    DEVICES["cuda"]._rng = None  # re-created from the seed on first use


def host_rng() -> np.random.Generator:
    """The library's NumPy generator (weights are drawn here, so CPU and GPU runs agree)."""
    return _host_rng


def device_rng(device: str):
    """The generator that draws directly on ``device`` (dropout masks stay on the GPU)."""
    return DEVICES[device].rng


def get_state() -> dict:
    """Every generator's state, for checkpoints that must resume bit-identically."""
    state = DEVICES["cpu"].rng_state()
    state["cuda"] = DEVICES["cuda"].rng_state()
    return state


def set_state(state: dict) -> None:
    """Restore what :func:`get_state` returned (older states without ``cuda`` work too)."""
    DEVICES["cpu"].set_rng_state(state)
    DEVICES["cuda"].set_rng_state(state.get("cuda"))

