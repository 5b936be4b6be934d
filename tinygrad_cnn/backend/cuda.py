"""A GPU through CuPy: the one accelerator, and what ``tinygrad-cnn info`` shows of it."""

from __future__ import annotations

import warnings

from . import generators
from .device import Device, DeviceError

# what cupy.add.at sums natively in every supported CuPy (_scatter_op_single in
# cupy/_core/_routines_indexing.pyx, v13.6.0): float16/32/64, int32, uint32, uint64
_ADD_AT_DTYPES = "efdiILQ"

INSTALL_HINT = ('pip install "tinygrad-cnn[cuda]" (CUDA 12; "tinygrad-cnn[cuda13]" for '
                'CUDA 13)')


class CUDA(Device):
    """CuPy arrays on the current GPU; random draws from a :class:`CounterRNG` on the GPU."""

    name, aliases = "cuda", ("cuda", "gpu")
    accelerator = True

    def __init__(self):
        self._cupy = None
        self._status = None  # (usable, reason) once probed
        self._rng = None
        self._saved_rng = None  # a restored generator state, until the first draw

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
                                   f"{INSTALL_HINT}")
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
            raise DeviceError(f"device '{self.name}' is not available: {reason}")
        return self._cupy

    def owns(self, array):
        return type(array).__module__.startswith("cupy")

    def upload(self, array):
        return self.xp.asarray(array)

    def download(self, array):
        return array.get()

    def synchronize(self):
        self.xp.cuda.Device().synchronize()

    def free_memory_bytes(self):
        return int(self.xp.cuda.Device().mem_info[0])

    def scatter_add(self, positions, values, size):
        # an atomic scatter on the GPU; cupy.bincount would read two values back first.
        # cupy.add.at has atomics for float16/32/64, int32, uint32 and uint64 only (CuPy 13
        # and 14.0 refuse int64): other integers and bool are summed as uint64, whose
        # wrap-around gives the same bits as two's complement sums in int64
        xp = self.xp
        dtype = values.dtype
        through = dtype if dtype.char in _ADD_AT_DTYPES else xp.dtype(xp.uint64)
        out = xp.zeros(size, dtype=through)
        xp.add.at(out, positions, values.astype(through, copy=False))
        return out.astype(dtype, copy=False)

    @property
    def rng(self):
        if self._rng is None:
            if self._saved_rng is not None:
                self._rng = generators.CounterRNG.from_state(self.xp, self._saved_rng)
            else:
                self._rng = generators.CounterRNG(self.xp, generators.device_seed())
            self._saved_rng = None
        return self._rng

    def rng_state(self):
        if self._rng is not None:
            return self._rng.state()
        return None if self._saved_rng is None else dict(self._saved_rng)

    def set_rng_state(self, state):
        """Restore a state, or forget the generator (None: re-created from the library's
        seed on first use). The state is two integers, kept without touching CuPy until
        the first draw, so a GPU checkpoint also resumes where CuPy is missing."""
        self._rng = None
        self._saved_rng = None if state is None else generators.check_counter_state(state)
        if state is not None and not self.probe()[0]:
            warnings.warn("random state: no usable GPU here, so dropout masks now come from "
                          "the CPU generator and differ from those of the run that saved this "
                          "state (its GPU generator state is kept in later checkpoints)",
                          stacklevel=3)

    def versions(self):
        """CuPy, CUDA runtime and driver versions, GPU name and memory, as far as they can
        be read (never raises)."""
        try:
            import cupy
        except ImportError as exc:
            return {"CuPy": f"not installed ({exc})"}
        info = {"CuPy": cupy.__version__}
        runtime = cupy.cuda.runtime
        for key, read in (("CUDA runtime", runtime.runtimeGetVersion),
                          ("CUDA driver", runtime.driverGetVersion)):
            try:
                version = int(read())
                info[key] = f"{version // 1000}.{version % 1000 // 10}"
            except Exception as exc:  # no driver: say so rather than fail
                info[key] = f"unknown ({type(exc).__name__}: {exc})"
        try:
            props = gpu_properties(cupy)
            info["GPU"] = f"{props['name']}, {props['memory'] / 2**30:.1f} GiB"
        except Exception as exc:
            info["GPU"] = f"none usable ({type(exc).__name__}: {exc})"
        return info


def gpu_properties(cupy) -> dict:
    """Name and memory of the current GPU, as ``{"name": str, "memory": bytes}``."""
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return {"name": name.decode() if isinstance(name, bytes) else str(name),
            "memory": int(props.get("totalGlobalMem", 0))}
