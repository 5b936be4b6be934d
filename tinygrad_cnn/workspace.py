"""Recycled host arrays for the large temporaries of convolution and pooling.

A training step allocates the same few multi-megabyte arrays (im2col matrices, padded
copies, their gradients) again and again. Fresh allocations of that size come from the
operating system page by page, and those page faults cost about as much as the arithmetic
(measured: 2,500 faults and ~7 ms of a ~16 ms LeNet-5 step). So the ops take such arrays
from here instead: a buffer is handed out again only once nothing refers to it any more,
which its reference count tells exactly (a view keeps its base alive, so a buffer with
live views is never reused). What is held stays bounded (a few buffers per shape, the
most recently used shapes, 1 GiB in all; ``clear()`` lets it all go). Buffers of 256 KiB
and more lie in memory advised for 2 MiB pages (:mod:`tinygrad_cnn.backend.hugepages`:
fewer TLB misses, 13-28% faster LeNet-5 steps on the 2-core VM). CuPy has its own memory
pool, so GPU arrays are not cached.

It also says in what order an activation's axes lie in memory (:func:`batch_last`,
:func:`empty_like`), since that is decided where the array is allocated.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import OrderedDict

import numpy as np

from .backend import hugepages

_PER_SHAPE = 3       # buffers kept per (shape, dtype); more in flight are plain allocations
_MAX_SHAPES = 48     # least recently used shapes are forgotten beyond this
_MAX_BYTES = 1 << 30  # and beyond this many bytes held in all
_MIN_BYTES = 1 << 16  # smaller arrays are cheap to allocate: not worth a lookup
# from this size on, buffers lie in memory advised for 2 MiB pages (backend.hugepages):
# measured on LeNet-5 steps, 256 KiB beat 64 KiB, 1 MiB and 2 MiB at batch 64 and 256
_LARGE_PAGES_FROM = 1 << 18

_cache: OrderedDict = OrderedDict()
_held = 0  # bytes of the cached buffers
_lock = threading.Lock()  # dropping references only frees buffers, so this is enough


def _first_free(buffers):
    for buf in buffers:
        if sys.getrefcount(buf) <= _FREE_REFS:
            return buf
    return None


def _refs_in_loop(buffers):
    """What ``sys.getrefcount`` shows, in the same loop as ``_first_free``, for a buffer
    that only the list refers to (measured, since interpreters count differently)."""
    for buf in buffers:
        return sys.getrefcount(buf)


_FREE_REFS = _refs_in_loop([np.empty(1)])


def empty(xp, shape, dtype):
    """An uninitialised array, recycled when one of this shape and dtype is free."""
    shape = tuple(shape)
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * math.prod(shape)
    if xp is not np or nbytes < _MIN_BYTES:
        return xp.empty(shape, dtype=dtype)
    key = (shape, dtype.str)
    global _held
    with _lock:
        buffers = _cache.get(key)
        if buffers is None:
            buffers = _cache[key] = []
        else:
            _cache.move_to_end(key)
        buf = _first_free(buffers)
        if buf is None:
            kept = len(buffers) < _PER_SHAPE
            # large pages for the buffers kept, which every step reuses; one more in flight
            # is a plain array: a caller may keep it for good, and an array cut from a slab
            # keeps the whole slab alive
            large = kept and nbytes >= _LARGE_PAGES_FROM
            buf = hugepages.empty(shape, dtype) if large else np.empty(shape, dtype=dtype)
            if kept:
                buffers.append(buf)
                _held += buf.nbytes
            while len(_cache) > 1 and (len(_cache) > _MAX_SHAPES or _held > _MAX_BYTES):
                _, dropped = _cache.popitem(last=False)
                _held -= sum(b.nbytes for b in dropped)
    return buf


def held_buffers() -> list:
    """The recycled buffers held now, largest first (for diagnostics: where they start in
    memory, ``examples/benchmark_modes.py``)."""
    with _lock:
        return sorted((b for buffers in _cache.values() for b in buffers),
                      key=lambda b: -b.nbytes)


def memory_order(array) -> list:
    """The axes of ``array`` from the outermost in memory (largest stride) to the innermost;
    ties (size-1 axes) keep their logical order."""
    return sorted(range(array.ndim), key=lambda axis: -array.strides[axis])


def empty_like(xp, like, shape=None, dtype=None):
    """Like :func:`empty`, with the memory axes in the order of ``like``'s (largest stride
    first) and ``like``'s shape and dtype unless given. A batch-last array (see
    :func:`batch_last`) so gets a batch-last companion, and an elementwise pass over both
    runs in memory order instead of jumping across it."""
    shape = like.shape if shape is None else tuple(shape)
    dtype = like.dtype if dtype is None else dtype
    if like.flags.c_contiguous:  # the common case, and every tiny array: no sorting
        return empty(xp, shape, dtype)
    order = memory_order(like)
    buf = empty(xp, [shape[axis] for axis in order], dtype)
    return buf.transpose([order.index(axis) for axis in range(like.ndim)])


def batch_last(xp, shape, dtype):
    """Like :func:`empty` for a ``(N, ...)`` shape, with the batch axis last in memory.

    Convolution, pooling and ReLU hand their outputs on in this layout: a convolution's
    matrix product yields ``(M, OH, OW, N)`` directly, every kernel offset of the next
    im2col is then one contiguous run of ``OW * N`` values, and a pooling window's
    neighbours are whole runs of ``N`` values. The arrays still have the logical shape
    ``(N, C, H, W)``; only their strides differ, as with PyTorch's ``channels_last``.
    """
    shape = tuple(shape)
    buf = empty(xp, shape[1:] + shape[:1], dtype)
    return buf.transpose((len(shape) - 1,) + tuple(range(len(shape) - 1)))


def zeros(xp, shape, dtype):
    """Like :func:`empty`, filled with zeros."""
    buf = empty(xp, shape, dtype)
    buf.fill(0)
    return buf


_zero_operands: OrderedDict = OrderedDict()


def zero_operand(xp, like):
    """The fastest zero to compare ``like`` with elementwise (``maximum(x, zero)``).

    On the host a read-only array of zeros laid out as ``like``: NumPy's ``maximum`` of
    two arrays runs its SIMD loop, while against a scalar it took three times longer
    (41 against 117-150 us for a 64x6x28x28 float32 ReLU, NumPy 2.4). One is kept per
    shape, dtype and layout, the least recently used dropped past :data:`_MAX_SHAPES`. On
    a GPU the scalar ``0``, which costs no memory read.
    """
    if xp is not np or like.size * like.dtype.itemsize < _MIN_BYTES:
        return 0
    key = (like.shape, like.dtype.str, like.strides)
    with _lock:
        zero = _zero_operands.get(key)
        if zero is None:
            zero = np.zeros_like(like, order="K")  # keeps like's memory order
            zero.flags.writeable = False
            _zero_operands[key] = zero
            while len(_zero_operands) > _MAX_SHAPES:
                _zero_operands.popitem(last=False)
        else:
            _zero_operands.move_to_end(key)
    return zero


def clear() -> None:
    """Forget every cached buffer (their memory is freed once no array uses it)."""
    global _held
    with _lock:
        _cache.clear()
        _zero_operands.clear()
        _held = 0
