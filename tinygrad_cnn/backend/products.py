"""Matrix products on the host, cut into chunks of columns where that is measured faster.

Why: OpenBLAS multiplies small matrices (``M*N*K`` up to 100**3 on its AVX-512 builds,
``kernel/x86_64/sgemm_small_kernel_permit_skylakex.c``) with kernels that read the operands
where they lie, while a larger product first copies ("packs") them into its blocked layout.
A convolution's products are long and thin (LeNet-5's conv2 at batch 256: 16 filters by
151 rows by 25,600 columns), so the packing costs about as much as the arithmetic: on one
thread the same product in chunks of 384 columns took 2.3-2.5 ms against 2.9 ms, and the
input gradient's ``30 x 80 x 10,752`` product 0.56 against 0.72 ms; a whole LeNet-5
training step at batch 256 ran 5-6% faster. On two threads the whole product won (1.4
against 1.6-2.0 ms), since the small kernels run on one.

Whether it pays depends on the BLAS, its build and the thread count, so no rule decides:
the first product of each shape, dtype and thread count is timed both ways, and the chunks
are kept only when they are faster *and* give the same bits. Each element is the same dot
product either way, and with OpenBLAS the bits agree; a BLAS whose kernels round otherwise
keeps the whole product, so a training run stays bit for bit the same whichever thread
count the tuner (:mod:`.threads`) chose for a batch. Arrays on a GPU go to their own
``matmul`` untouched.
"""

from __future__ import annotations

import time

import numpy as np

from . import threads

__all__ = ["ALIGN", "SMALL_PRODUCT", "chunk_columns", "decide", "decisions", "matmul"]

#: The largest ``M*N*K`` OpenBLAS hands to its small-matrix kernels.
SMALL_PRODUCT = 100 ** 3
#: Chunks start at multiples of this many columns: OpenBLAS's kernels take columns in panels
#: of 16 (AVX-512 single precision), and 64 covers panels of 8, 16, 32 and 64.
ALIGN = 64
_TRIES = 3           # timed products each way when deciding (after one untimed each)
_PREFER_WHOLE = 0.05  # chunks must be this much faster: a tie is not worth the calls

_MAX_DECISIONS = 256  # oldest forgotten beyond this (a server fed ever new shapes)
_decisions: dict = {}  # (shapes, dtype, threads, strides) -> columns per chunk, 0 = whole


def chunk_columns(rows: int, inner: int, columns: int) -> int:
    """Columns per chunk that keep each product of ``(rows, inner) @ (inner, columns)``
    within :data:`SMALL_PRODUCT`: a multiple of :data:`ALIGN`, so that every column lies
    where the whole product's kernels would put it (chunks of 408 or 413 columns changed
    the last bits of some, chunks of 384 or 400 never did); 0 where cutting is pointless
    (the product is small already, or a chunk would hold fewer than ``ALIGN`` columns)."""
    most = SMALL_PRODUCT // max(1, rows * inner) // ALIGN * ALIGN
    if most < ALIGN or columns <= most:
        return 0
    return most


def _chunked(a, b, out, step: int, product=np.matmul):
    for start in range(0, b.shape[-1], step):
        part = slice(start, start + step)
        product(a, b[..., part], out=out[..., part])
    return out


def decide(a, b, out, clock=time.perf_counter, product=np.matmul) -> int:
    """Compute ``a @ b`` into ``out`` both ways, timing each; return the chunk width to
    keep for this shape (0: the whole product). ``clock`` and ``product`` are injectable
    for tests."""
    step = chunk_columns(a.shape[-2], a.shape[-1], b.shape[-1])
    if not step:
        product(a, b, out=out)
        return 0
    whole = np.empty(out.shape, out.dtype)
    product(a, b, out=whole)  # untimed: the first call may fault in pages or wake threads
    _chunked(a, b, out, step, product)
    times = {"whole": [], "chunks": []}
    for _ in range(_TRIES):  # alternating, so that a slow moment hits both
        start = clock()
        product(a, b, out=whole)
        middle = clock()
        _chunked(a, b, out, step, product)
        times["whole"].append(middle - start)
        times["chunks"].append(clock() - middle)
    same = np.array_equal(whole, out, equal_nan=True)
    faster = min(times["chunks"]) < min(times["whole"]) * (1 - _PREFER_WHOLE)
    return step if same and faster else 0


def matmul(xp, a, b, out):
    """``out[...] = a @ b`` for ``a (..., m, k)``, ``b (..., k, n)``, ``out (..., m, n)``
    (``out`` may be a view with strided rows); returns ``out``. On the host the product is
    cut into chunks of columns when :func:`decide` found that faster for this shape, dtype
    and BLAS thread count."""
    if xp is not np:
        return xp.matmul(a, b, out=out)
    # the strides too: another layout of the same shapes may take other BLAS kernels
    key = (a.shape, b.shape, a.dtype.char, threads.current_blas_threads(), a.strides,
           b.strides)
    step = _decisions.get(key)
    if step is None:
        _decisions[key] = decide(a, b, out)
        while len(_decisions) > _MAX_DECISIONS:
            _decisions.pop(next(iter(_decisions)))
        return out
    if step:
        return _chunked(a, b, out, step)
    return np.matmul(a, b, out=out)


def decisions() -> dict:
    """What was decided so far, ``{(a.shape, b.shape, dtype, threads, a.strides,
    b.strides): columns per chunk (0: whole)}``: for reports and tests."""
    return dict(_decisions)
