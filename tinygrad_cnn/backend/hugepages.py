"""Host arrays in memory that Linux may back with 2 MiB pages instead of 4 KiB ones.

Why: a LeNet-5 training step walks through 12 MB (batch 64) to 42 MB (batch 256) of
recycled buffers (:mod:`tinygrad_cnn.workspace`): im2col matrices, activations, their
gradients. In 4 KiB pages that is 3,000-10,000 pages a step, more than the processor's TLB
holds, so the copies, the matrix products and the elementwise passes keep missing it, and
in a virtual machine every miss walks two page tables (the guest's and the host's). Linux
backs memory with 2 MiB pages where a program asks (``madvise(MADV_HUGEPAGE)``; "madvise"
is the usual setting of transparent huge pages), but only whole 2 MiB-aligned ranges of
it. NumPy asks for arrays of 4 MiB and more, yet ``malloc`` aligns them to 4 KiB, so their
ends stay in small pages, and the many smaller arrays get none. Measured on the 2-core VM
(LeNet-5 training steps, a fresh process per variant, alternating, medians of 5-6
processes): 16-20% more images/s on one BLAS thread at batch 64 and 256, 13-28% on two,
and on one thread the spread between processes narrowed.

So the workspace's large buffers come from here: mappings aligned to 2 MiB and advised.
A buffer of :data:`PAGE` or more gets a mapping of its own; smaller ones are cut one after
another from a shared 2 MiB slab (each starting on its own 4 KiB page), so that they share
large pages instead of each holding one. Every array keeps its mapping alive, so a slab's
memory goes back to the system when the last array cut from it is freed. Where the
platform has no ``MADV_HUGEPAGE`` (macOS, Windows) or the kernel refuses it, arrays are
ordinary ones from ``numpy.empty``. Whether the kernel grants large pages is its own
decision (``/sys/kernel/mm/transparent_hugepage``); asking never changes a result.
"""

from __future__ import annotations

import math
import mmap
import threading

import numpy as np

__all__ = ["PAGE", "empty", "supported"]

#: The size and alignment of a large page (x86-64, and arm64 with 4 KiB base pages).
PAGE = 1 << 21
_START = 1 << 12  # where each array cut from a slab starts: a page of its own

_state = {"supported": None, "slab": None, "used": 0}
_lock = threading.Lock()


def _mapping(nbytes: int):
    """``nbytes`` (a multiple of :data:`PAGE`) of fresh memory advised for large pages, as
    a memoryview starting on a :data:`PAGE` boundary; None where the advice is refused."""
    # a page more than asked for, so that an aligned start lies inside the mapping
    region = mmap.mmap(-1, nbytes + PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        region.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # a kernel built without transparent huge pages
        region.close()
        return None
    whole = memoryview(region)  # it, and every slice of it, holds the mapping open
    start = (-np.frombuffer(whole, np.uint8).ctypes.data) % PAGE
    return whole[start:start + nbytes]


def supported() -> bool:
    """Whether this platform lets a program ask for large pages (tried once)."""
    if _state["supported"] is None:
        ok = hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS")
        if ok:
            try:
                ok = _mapping(PAGE) is not None
            except (OSError, ValueError):
                ok = False
        _state["supported"] = ok
    return _state["supported"]


def empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` in memory advised for
    large pages (see the module's docstring); from ``numpy.empty`` where that cannot be."""
    shape = tuple(shape)
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * math.prod(shape)
    if nbytes == 0 or not supported():
        return np.empty(shape, dtype)
    if nbytes >= PAGE:
        raw = _mapping(-(-nbytes // PAGE) * PAGE)
    else:
        size = -(-nbytes // _START) * _START
        with _lock:
            if _state["slab"] is None or _state["used"] + size > PAGE:
                _state["slab"], _state["used"] = _mapping(PAGE), 0
            slab, start = _state["slab"], _state["used"]
            _state["used"] += size
        raw = None if slab is None else slab[start:start + size]
    if raw is None:
        return np.empty(shape, dtype)
    # An array made on the buffer itself, not a view of another array: NumPy hangs every
    # later view of it on *it* (a view of a view is hung on the first array that owns its
    # memory or, as here, has a non-array base), so its reference count still tells the
    # workspace whether some view of it is alive.
    return np.ndarray(shape, dtype, buffer=raw[:nbytes])
