"""Host arrays advised for 2 MiB pages (backend.hugepages) and the workspace that uses them:
alignment, no overlap, the advice really on the mapping, memory given back, views still
counted (the workspace's reuse rule depends on it), and the same numbers either way."""

import gc
import mmap
import sys
import weakref

import numpy as np
import pytest

from tinygrad_cnn import Tensor
from tinygrad_cnn import workspace as ws
from tinygrad_cnn.backend import hugepages
from tinygrad_cnn.nn import functional as F

needs_support = pytest.mark.skipif(not hugepages.supported(),
                                   reason="this platform cannot ask for large pages")


@needs_support
@pytest.mark.parametrize("shape, dtype", [((151, 6400), np.float32), ((3, 5, 7), np.float64),
                                          ((1 << 21,), np.uint8), ((100, 100), np.bool_)])
def test_arrays_have_the_shape_dtype_and_alignment_asked_for(shape, dtype):
    a = hugepages.empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % (hugepages.PAGE if a.nbytes >= hugepages.PAGE else 4096) == 0
    a[...] = 1
    assert a.all()


@needs_support
def test_arrays_cut_from_one_slab_never_overlap():
    arrays = [hugepages.empty((n, 1000), np.float32) for n in (10, 70, 1, 200, 33, 64)]
    for k, a in enumerate(arrays):
        a.fill(k)
    for k, a in enumerate(arrays):
        assert (a == k).all()
        assert not any(np.shares_memory(a, b) for b in arrays[k + 1:])


def _vm_flags(address: int) -> list:
    """The VmFlags of the mapping of this process holding ``address`` (/proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and ":" not in head:
                start, end = (int(part, 16) for part in head.split("-"))
                inside = start <= address < end
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


@needs_support
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_the_mapping_is_advised_for_large_pages():
    # "hg" is the kernel's mark of madvise(MADV_HUGEPAGE); whether it grants the pages
    # is its own decision, so that is what is checked
    large, small = hugepages.empty((4 << 20,), np.uint8), hugepages.empty((1000,), np.float32)
    assert "hg" in _vm_flags(large.ctypes.data)
    assert "hg" in _vm_flags(small.ctypes.data)
    plain = mmap.mmap(-1, 4 << 20)  # the same kind of mapping, not advised
    address = np.frombuffer(plain, np.uint8).ctypes.data
    assert "hg" not in _vm_flags(address)


@needs_support
def test_the_memory_goes_back_when_the_last_array_of_a_mapping_is_freed():
    a = hugepages.empty((3 << 20,), np.uint8)
    view = a[10:20]
    mapping = weakref.ref(a.base)
    del a
    gc.collect()
    assert mapping() is not None  # the view still needs it
    del view
    gc.collect()
    assert mapping() is None


def test_without_support_arrays_are_ordinary(monkeypatch):
    monkeypatch.setitem(hugepages._state, "supported", False)
    a = hugepages.empty((300, 300), np.float32)
    assert a.flags.owndata and a.shape == (300, 300)


@needs_support
def test_a_view_is_counted_so_a_large_workspace_buffer_is_not_handed_out_twice():
    shape = (4, 256, 256)  # 1 MiB: from large pages
    ws.clear()
    first = ws.empty(np, shape, np.float32)
    assert first.nbytes >= ws._LARGE_PAGES_FROM and isinstance(first.base, mmap.mmap)
    view = first.reshape(-1)[5:]
    assert view.base is first  # hung on the buffer itself, not on its mapping
    held = {first.ctypes.data}
    del first
    second = ws.empty(np, shape, np.float32)
    assert not np.shares_memory(view, second)
    held.add(second.ctypes.data)
    del view, second
    # both free again: handed out again (recycled, not mapped afresh), never the same twice
    third = ws.empty(np, shape, np.float32)
    fourth = ws.empty(np, shape, np.float32)
    assert {third.ctypes.data, fourth.ctypes.data} == held
    ws.clear()


def test_only_the_kept_workspace_buffers_take_large_pages():
    """Past the few buffers kept per shape, an array in flight is an ordinary one: a caller
    may hold it for good, and cut from a slab it would hold the whole slab."""
    ws.clear()
    shape = (300, 300)  # 352 KiB
    arrays = [ws.empty(np, shape, np.float32) for _ in range(ws._PER_SHAPE + 2)]
    kept, extra = arrays[:ws._PER_SHAPE], arrays[ws._PER_SHAPE:]
    if hugepages.supported():
        assert all(isinstance(a.base, mmap.mmap) for a in kept)
    assert all(a.flags.owndata for a in extra)
    ws.clear()


def _conv_pool_step(seed):
    rng = np.random.default_rng(seed)
    def host(*shape):  # the workspace serves the host only, whatever the default device
        return Tensor(rng.standard_normal(shape).astype(np.float32), device="cpu",
                      requires_grad=True)

    x, w, b = host(64, 6, 14, 14), host(16, 6, 5, 5), host(16)
    out = F.max_pool2d(F.relu(F.conv2d(x, w, b)), 2)
    (out * out).sum().backward()
    return [out.numpy().copy()] + [t.grad.numpy().copy() for t in (x, w, b)]


def test_large_pages_change_no_result(monkeypatch):
    """LeNet-5's conv2 at batch 64, whose buffers reach the large-page size: the same bits
    from plain arrays and from advised ones (an alignment may pick other kernels)."""
    ws.clear()
    with_pages = _conv_pool_step(0)
    if hugepages.supported():
        assert any(isinstance(buf.base, mmap.mmap) for buf in ws.held_buffers())
    ws.clear()
    monkeypatch.setitem(hugepages._state, "supported", False)
    plain = _conv_pool_step(0)
    ws.clear()
    for a, b in zip(with_pages, plain):
        np.testing.assert_array_equal(a, b)
