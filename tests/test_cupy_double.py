"""The CuPy test double (tests/cupy_double.py) is strict where CuPy is: each rule it promises
has a test here, so a GPU-path test that passes on the double cannot pass by leaning on NumPy.

What it does not model (so tests on it cannot catch): CuPy's exact rounding and summation
order, cuRAND's numbers, streams and asynchrony, the memory pool, custom kernels. Where
CuPy 13 and 14 differ it behaves as one of them (TINYGRAD_CNN_CUPY_DOUBLE_VERSION, 14 by
default); the tests here hold under either setting.
"""

import os
import subprocess
import sys
import warnings

import cupy_double
import cupy_double_versions
import numpy as np
import pytest

cp = cupy_double.module
TESTS = os.path.dirname(os.path.abspath(__file__))
IMPLICIT = "Implicit conversion to a NumPy array is not allowed"
NUMPY_OPERAND = "Unsupported type <class 'numpy.ndarray'>"


def dev(values, dtype=None):
    return cp.asarray(np.asarray(values, dtype=dtype))


# ----------------------------------------------------------------------------- the array type

def test_arrays_are_their_own_type_named_like_cupys():
    x = cp.arange(3)
    assert type(x) is cp.ndarray and not isinstance(x, np.ndarray)
    assert type(x).__module__ == "cupy" and type(x).__name__ == "ndarray"
    assert x.shape == (3,) and x.dtype == np.int64 and x.ndim == 1 and x.size == 3


@pytest.mark.parametrize("convert", [
    np.asarray, np.array, lambda x: np.array([x, x]), lambda x: np.asarray([x[0], 1.0]),
    lambda x: np.float64(1.0) * np.ones(3) + np.asarray(x), lambda x: cp.asarray([x[0], 1.0]),
    lambda x: cp.asnumpy([x]),
])
def test_implicit_conversion_to_numpy_is_refused(convert):
    with pytest.raises(TypeError, match=IMPLICIT):
        convert(cp.arange(3.0))


@pytest.mark.parametrize("op", [
    lambda x, h: x + h, lambda x, h: h + x, lambda x, h: x * h, lambda x, h: h - x,
    lambda x, h: x @ h, lambda x, h: x > h, lambda x, h: cp.add(x, h),
    lambda x, h: cp.maximum(h, x), lambda x, h: np.add(x, h), lambda x, h: np.exp(h, out=x),
    lambda x, h: cp.exp(x, out=h), lambda x, h: cp.where(x > 0, x, h),
])
def test_numpy_array_operands_are_refused_as_cupy_does(op):
    with pytest.raises(TypeError, match=NUMPY_OPERAND):
        op(cp.arange(3.0), np.ones(3))


def test_in_place_operators_refuse_numpy_arrays_and_keep_the_array():
    x = cp.arange(3.0)
    with pytest.raises(TypeError, match=NUMPY_OPERAND):
        x += np.ones(3)
    y = x
    y += 1
    assert y is x and x.get().tolist() == [1.0, 2.0, 3.0]


def test_lists_are_refused_by_ufuncs():
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        cp.power([1, 2], 2)
    with pytest.raises(TypeError):
        cp.arange(2) + [1, 2]


def test_python_and_numpy_scalars_are_fine_and_promote_as_the_cupy_version_does():
    x = cp.arange(3, dtype=np.float32)
    assert (x * 2.0).dtype == np.float32 and (2 ** x).get().tolist() == [1.0, 2.0, 4.0]
    assert (x * np.float32(2)).dtype == np.float32
    # NEP 50 on CuPy 14; CuPy 13 casts scalars by value (_kernel.pyx guess_routine)
    assert (np.float64(1) + x).dtype == (np.float64 if cupy_double.major >= 14 else np.float32)
    assert (x > np.array(1.0)).get().tolist() == [False, False, True]  # 0-d: CuPy's item()


# (operation, CuPy 13's dtype, CuPy 14's dtype), read from _kernel.pyx at v13.6.0 / v14.2.0
PROMOTIONS = [
    (lambda: np.float64(1) + cp.arange(3, dtype=np.float32), "float32", "float64"),
    (lambda: cp.arange(3, dtype=np.int8) + np.int64(1), "int8", "int64"),
    (lambda: cp.arange(3, dtype=np.uint8) * np.int64(3), "uint8", "int64"),
    (lambda: cp.arange(3, dtype=np.float32) + 1e300, "float64", "float32"),
    (lambda: cp.arange(3, dtype=np.float16) * np.float32(2), "float16", "float32"),
    (lambda: cp.arange(3, dtype=np.int32) * 1.5, "float64", "float64"),
    (lambda: cp.arange(3, dtype=np.float32) * 2.0, "float32", "float32"),
    (lambda: cp.zeros(3, dtype=np.bool_) + 1, "int64", "int64"),
    (lambda: cp.arange(3, dtype=np.int32) + cp.arange(3, dtype=np.int64), "int64", "int64"),
]


@pytest.mark.parametrize("version", [13, 14])
@pytest.mark.parametrize("case", range(len(PROMOTIONS)))
def test_scalar_promotion_follows_the_cupy_version(version, case):
    op, on_13, on_14 = PROMOTIONS[case]
    with cupy_double.behaving_as(version):
        assert str(op().dtype) == (on_13 if version == 13 else on_14)


def test_operand_that_opts_out_of_numpy_gets_the_operation():
    class OptsOut:
        __array_ufunc__ = None

        def __radd__(self, other):
            return "handled"

    assert cp.arange(2) + OptsOut() == "handled"


def test_numpy_functions_dispatch_to_the_double_or_fail():
    x = cp.arange(4.0)
    assert type(np.sum(x)) is cp.ndarray and np.sum(x).shape == ()
    assert type(np.concatenate([x, x])) is cp.ndarray
    assert type(np.exp(x)) is cp.ndarray
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        np.concatenate([x, np.ones(2)])  # as CuPy 14.2 says on a GPU
    with pytest.raises(TypeError, match="Only cupy arrays can be concatenated"):
        cp.concatenate([x, 1.0])
    with pytest.raises(TypeError, match="no implementation found for 'numpy.median'"):
        np.median(x)  # the double has no median, so NumPy refuses


# ----------------------------------------------------------------------------- names

def test_unknown_names_raise_and_say_whether_cupy_has_them():
    with pytest.raises(AttributeError, match="CuPy 13/14 has no such name"):
        _ = cp.definitely_not_a_cupy_function
    with pytest.raises(AttributeError, match="does not implement it yet"):
        _ = cp.fft  # CuPy has it; the double does not
    for helper in ("np", "sys", "_wrap", "counters", "install"):
        assert not hasattr(cp, helper)
    for missing in ("get_state", "set_state"):
        assert not hasattr(cp.random.RandomState(0), missing)
    with pytest.raises(AttributeError):
        _ = cp.random.get_state


def test_every_exposed_name_exists_in_cupy_13_and_14():
    for namespace in cupy_double._MODULES.values():
        public = {n for n in vars(namespace) if not n.startswith("_")}
        if namespace is cp:
            assert public <= cupy_double._CUPY_NAMES, public - cupy_double._CUPY_NAMES
        assert public  # nothing is empty by accident
    assert cp.__version__ == cupy_double.__version__ == {13: "13.6.0", 14: "14.2.0"}[
        cupy_double.major]


def test_the_version_switch_is_checked_and_restored():
    before = cupy_double.major
    with cupy_double.behaving_as(13):
        assert cp.__version__ == "13.6.0" and cupy_double.major == 13
        with cupy_double.behaving_as("14"):
            assert cp.__version__ == "14.2.0"
        assert cp.__version__ == "13.6.0"
    assert cupy_double.major == before
    with pytest.raises(ValueError, match="models CuPy 13 and 14; set "
                                         "TINYGRAD_CNN_CUPY_DOUBLE_VERSION"):
        cupy_double.set_version(12)
    run = run_with_double("import cupy", TINYGRAD_CNN_CUPY_DOUBLE_VERSION="15")
    assert run.returncode != 0
    assert "TINYGRAD_CNN_CUPY_DOUBLE_VERSION='15': the CuPy test double models" in run.stderr


def test_ndarray_has_only_cupys_attributes():
    x = cp.arange(3)
    for absent in ("ctypes", "__array_interface__", "itemset", "mT", "tofile", "newbyteorder",
                   "__index__", "__cuda_array_interface__"):
        assert not hasattr(x, absent), absent
    assert not hasattr(x.flags, "writeable")
    assert x.flags.c_contiguous and x.flags["OWNDATA"]
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        range(cp.asarray(3))
    with pytest.raises(TypeError, match="unhashable"):
        hash(x)


def test_refused_arguments_absent_from_cupy_13():
    with pytest.raises(TypeError):
        cp.asarray(np.ones(2), copy=False)
    with pytest.raises(TypeError, match="casting is not supported"):
        cp.arange(2).astype(np.float32, casting="unsafe")
    with pytest.raises(ValueError, match="Unsupported dtype object"):
        cp.asarray(np.array([None, 1]))


# ----------------------------------------------------------------------------- 0-d results

def test_reductions_and_element_indexing_return_0d_arrays():
    x = dev([[1.0, 5.0], [3.0, 2.0]])
    for value in (x.sum(), x.max(), x.min(), x.argmax(), x.mean(), cp.sum(x), cp.amax(x),
                  x.any(), cp.count_nonzero(x), cp.allclose(x, x), x[1, 0], x[0][1]):
        assert type(value) is cp.ndarray and value.shape == (), value
    assert x.sum().item() == 11.0 and type(x.sum().item()) is float


def test_element_indexing_returns_a_view():
    x = cp.arange(3.0)
    element = x[1]
    element[...] = 7
    assert x.get().tolist() == [0.0, 7.0, 2.0] and element.base is not None


# ----------------------------------------------------------------------------- indexing

def test_integer_array_indices_wrap_around():
    x = cp.arange(3) * 10
    assert x[[1, 3]].get().tolist() == [10, 0]
    assert x[dev([-4, 5])].get().tolist() == [20, 20]
    assert x.take([4]).get().tolist() == [10]
    assert cp.take_along_axis(x, dev([3]), 0).get().tolist() == [0]
    m = cp.arange(6).reshape(2, 3)
    assert m[:, [0, 4]].get().tolist() == [[0, 1], [3, 4]]


def test_assignment_through_wrapped_indices():  # CuPy's "Differences" page example
    x = cp.arange(3)
    x[[1, 3]] = 10
    assert x.get().tolist() == [10, 10, 2]


def test_out_of_range_basic_index_raises_cupys_error():
    x = cp.arange(3)
    for bad in (10, -4):
        with pytest.raises(IndexError, match=f"Index {bad} is out of bounds for axis 0 with "
                                             "size 3"):
            x[bad]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0]


def test_repeated_indices_in_assignment_do_not_keep_numpys_last_value():
    x = cp.zeros(3)
    x[dev([0, 1, 0, 2])] = dev([1.0, 2.0, 3.0, 4.0])
    assert x.get().tolist() == [1.0, 2.0, 4.0]  # NumPy: [3, 2, 4]; CuPy: unspecified


def test_basic_assignment_refuses_host_arrays_like_cupys_fill():
    x = cp.zeros(3)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        x[:] = np.ones(3)
    x[:] = np.float32(2)
    x[1:] = np.array(5.0)
    assert x.get().tolist() == [2.0, 5.0, 5.0]


def test_reductions_of_empty_arrays_fail_only_when_the_result_is_not_empty():
    # _reduction.pyx returns an empty result before it looks for an identity
    assert cp.zeros((0, 10)).max(axis=1, keepdims=True).shape == (0, 1)
    with pytest.raises(ValueError, match="zero-size array to reduction operation cupy_max"):
        cp.zeros((0, 10)).max(axis=0)
    with pytest.raises(ValueError, match="zero-size array to reduction operation cupy_max"):
        cp.zeros(0).max()


def test_empty_list_index_means_no_indices():
    assert cp.arange(3)[[]].shape == (0,)


# ----------------------------------------------------------------------------- CuPy's semantics

def test_bincount_of_an_empty_array_raises_as_cupy_13_to_14_1():
    with pytest.raises(ValueError, match="zero-size array to reduction operation cupy_max"):
        cp.bincount(cp.zeros(0, dtype=np.int64), minlength=3)
    with pytest.raises(ValueError, match="must be non-negative"):
        cp.bincount(dev([1, -1]))
    assert cp.bincount(dev([0, 2, 2]), minlength=4).get().tolist() == [1, 0, 2, 0]


@pytest.mark.parametrize("version", [13, 14])
def test_scatter_ops_refuse_the_dtypes_that_cupy_refuses(version):
    """``_scatter_op_single``: CuPy 13 has no int64 add.at/maximum.at; no version has a
    float subtract.at; a boolean mask takes another kernel, which accepts every dtype."""
    where = cp.asarray(np.array([0, 2, 0]))
    with cupy_double.behaving_as(version):
        counts = cp.zeros(3, dtype=np.int64)
        if version == 13:
            with pytest.raises(TypeError, match="cupy.add.at only supports int32, float16"):
                cp.add.at(counts, where, 1)
            with pytest.raises(TypeError, match="maximum.at only supports int32, float32"):
                cp.maximum.at(counts, where, 1)
        else:
            cp.add.at(counts, where, 1)
            assert counts.get().tolist() == [2, 0, 1]
        for dtype in (np.float32, np.float64, np.int64):
            with pytest.raises(TypeError, match="cupy.subtract.at only supports int32, "
                                                "uint32"):
                cp.subtract.at(cp.zeros(3, dtype=dtype), where, 1)
        with pytest.raises(TypeError, match="cupy.add.at only supports"):
            cp.add.at(cp.zeros(3, dtype=np.int16), where, 1)
        sums = cp.zeros(3, dtype=np.float32)
        cp.add.at(sums, where, cp.asarray(np.array([1.0, 2.0, 3.0], dtype=np.float32)))
        cp.subtract.at(counts, cp.arange(3) > 0, 1)  # a mask: any dtype
        cp.subtract.at(sums, slice(None), 1.0)  # basic indices: any dtype
    assert sums.get().tolist() == [3.0, -1.0, 1.0]


def test_sliding_window_view_uploads_its_window_shape_and_reads_it_back():
    x = cp.arange(24.0).reshape(1, 4, 6)
    with cupy_double.count() as counts:
        windows = cp.lib.stride_tricks.sliding_window_view(x, (3, 4), axis=(1, 2))
    assert windows.shape == (1, 2, 3, 3, 4)
    assert (counts.syncs, counts.uploads) == (2, 1), list(counts.events)
    assert windows[0, 1, 2].get().tolist() == x[0, 1:4, 2:6].get().tolist()
    with pytest.raises(NotImplementedError, match="Writeable views are not supported"):
        cp.lib.stride_tricks.sliding_window_view(x, 2, axis=0, writeable=True)
    with cupy_double.count() as counts:  # NumPy's function dispatches to CuPy's
        np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(1, 2))
    assert counts.syncs == 2


def test_empty_holds_garbage_as_recycled_pool_memory_does():
    assert np.isnan(cp.empty(3).get()).all()
    assert np.isnan(cp.empty_like(cp.zeros(2)).get()).all()
    assert (cp.empty(2, dtype=np.int32).get() != 0).all()


def test_astype_copy_false_and_saturating_float_to_int_casts():
    x = cp.arange(3.0)
    assert x.astype(np.float64, copy=False) is x
    assert x.astype(np.float32, copy=False) is not x
    values = dev([-1.5, np.inf, np.nan, 3e10, 2.7])
    assert values.astype(np.int32).get().tolist() == [-1, 2**31 - 1, 0, 2**31 - 1, 2]
    assert dev([-1.0]).astype(np.uint32).get().tolist() == [0]  # the "Differences" example


def test_views_are_writable_and_base_follows_cupy():
    x = cp.arange(6.0)
    assert x.base is None and x.reshape(2, 3).base is not None and x.copy().base is None
    wide = cp.broadcast_to(x[:3], (2, 3))
    wide[0, 0] = 9.0  # no read-only arrays on CuPy: this writes x[0]
    assert x.get()[0] == 9.0 and wide.base is not None
    strided = cp.lib.stride_tricks.as_strided(x, (2,), (16,))
    assert strided.base is None and strided.get().tolist() == [9.0, 2.0]
    with pytest.raises(ValueError, match="reaches bytes"):
        cp.lib.stride_tricks.as_strided(x, (7,), (8,))


def test_no_floating_point_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = dev([0.0, 1.0]) / 0
        np.log(dev([0.0]))
    assert np.isnan(out.get()[0]) and np.isinf(out.get()[1])


def test_empty_truth_value_warns_like_cupy():
    with pytest.warns(DeprecationWarning, match="truth value of an empty array"):
        assert not bool(cp.zeros(0))
    with pytest.raises(ValueError, match="more than one element"):
        bool(cp.zeros(2))


def test_random_state_draws_on_the_device_in_float32_or_float64_only():
    rs = cp.random.RandomState(7)
    draw = rs.random_sample((4,), dtype=np.float32)
    assert type(draw) is cp.ndarray and draw.dtype == np.float32
    assert rs.randn(3).shape == (3,)
    with pytest.raises(TypeError, match="only supports float32 and float64"):
        rs.random_sample((2,), dtype=np.float16)
    again = cp.random.RandomState(7).random_sample((4,), dtype=np.float32).get()
    assert np.array_equal(draw.get(), again)
    assert not np.allclose(again, np.random.default_rng(7).random(4, dtype=np.float32))


def test_cuda_namespace_is_enough_for_a_device_probe():
    runtime = cp.cuda.runtime
    props = runtime.getDeviceProperties(cp.cuda.Device().id)
    assert isinstance(props["name"], bytes) and props["totalGlobalMem"] > 0
    assert runtime.getDeviceCount() == 1 and cp.cuda.Device().id == 0
    assert runtime.runtimeGetVersion() >= 13000 and runtime.driverGetVersion() >= 13000
    with pytest.raises(runtime.CUDARuntimeError):
        runtime.getDeviceProperties(1)
    assert cp.get_array_module(cp.arange(1)) is cp and cp.get_array_module(np.ones(1)) is np


# ----------------------------------------------------------------------------- counters

SYNCING = {
    "get": lambda x: x.get(), "item": lambda x: x[0].item(), "float": lambda x: float(x[0]),
    "int": lambda x: int(x[0]), "bool": lambda x: bool(x[0]), "tolist": lambda x: x.tolist(),
    "repr": repr, "str": str, "format": lambda x: f"{x[0]:.1f}", "asnumpy": cp.asnumpy,
    "Device.synchronize": lambda x: cp.cuda.Device().synchronize(),
    "Stream.null.synchronize": lambda x: cp.cuda.Stream.null.synchronize(),
    "boolean mask": lambda x: x[x > 1], "nonzero": lambda x: x.nonzero(),
}


@pytest.mark.parametrize("name", SYNCING)
def test_each_host_read_counts_one_synchronisation(name):
    x = cp.arange(3.0)
    with cupy_double.count() as counts:
        SYNCING[name](x)
    assert (counts.syncs, counts.uploads) == (1, 0), list(counts.events)


def test_device_work_and_iteration_do_not_synchronise():
    x = cp.arange(6.0)
    with cupy_double.count() as counts:
        y = (x * 2 + 1).reshape(2, 3).sum(axis=1)
        parts = list(y)  # 0-d views, no transfer
        x[cp.arange(2)] = y
        cp.empty(0).get()  # nothing to copy: no synchronisation (core.pyx get)
    assert counts.syncs == 0 and counts.uploads == 0 and len(parts) == 2


def test_uploads_are_counted():
    x = cp.zeros(4)
    with cupy_double.count() as counts:
        cp.asarray(np.ones(2))
        cp.array([1.0, 2.0])
        x[np.array([0, 1])] = 1.0  # a host index array is uploaded
        x[dev([2, 3]) - 0] = np.array([5.0, 6.0])  # so is a host value array
        x.set(np.zeros(4))
    assert counts.uploads == 6 and counts.syncs == 0, list(counts.events)  # dev() uploads one
    with cupy_double.count() as counts:
        cp.asarray(x)
        cp.asarray([x[0], x[1]])  # device arrays stacked on the device
        x[0] = 3.0  # a scalar is a kernel argument
    assert counts.uploads == 0


def test_bincount_synchronises_twice():
    x = dev([0, 1, 1])
    with cupy_double.count() as counts:
        cp.bincount(x)
    assert counts.syncs == 2


def test_counts_nest_and_reset():
    x = cp.arange(2)
    cupy_double.counters.reset()
    with cupy_double.count() as outer:
        x.get()
        with cupy_double.count() as inner:
            x.get()
    assert (outer.syncs, inner.syncs, cupy_double.counters.syncs) == (2, 1, 2)
    assert "test_cupy_double.py" in outer.events[0][2]  # where it happened
    cupy_double.counters.reset()
    assert cupy_double.counters.syncs == 0 and not cupy_double.counters.events


# ----------------------------------------------------------------------------- installing

def run_with_double(code, **env):
    site = os.path.join(TESTS, "cupy_double_site")
    # the double's site first; then whatever the caller's path held (make gpu-check runs the
    # checkout uninstalled, through PYTHONPATH)
    path = [site, TESTS] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), **env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_import_cupy_gives_the_double_in_a_subprocess():
    run = run_with_double("import cupy, cupy.cuda.runtime, cupy.lib.stride_tricks as st; "
                          "print(cupy.__version__, cupy.cuda.runtime.getDeviceCount(), "
                          "type(cupy.arange(2)).__module__, st.as_strided.__name__)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [cupy_double.__version__, "1", "cupy", "as_strided"]


def test_the_library_probe_accepts_the_double():
    run = run_with_double("import tinygrad_cnn as tg; print(tg.DEFAULT_DEVICE, "
                          "tg.backend.cuda_status()[1])", TINYGRAD_CNN_DEVICE="cuda")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("cuda GPU CuPy test double")


def test_zero_d_host_values_are_fills_not_uploads():
    with cupy_double.count() as counts:
        cp.asarray(2.0)
        cp.asarray(np.float32(1))
    assert counts.uploads == 0


@pytest.mark.parametrize("version", [13, 14])
def test_fill_with_a_device_scalar_synchronises_on_cupy_14(version):
    x = cp.zeros(3)
    with cupy_double.behaving_as(version), cupy_double.count() as counts:
        x.fill(cp.asarray(2.0))  # CuPy 14's fill tests `value == 0` on the host
        x.fill(3.0)
    assert counts.syncs == (1 if version == 14 else 0) and x.get().tolist() == [3.0] * 3


# ----------------------------------------------------------------------------- against CuPy

def _real_cupy():
    """The real CuPy module when it is installed and a GPU answers, else None."""
    if sys.modules.get("cupy") is cp:
        return None
    try:
        import cupy
    except ImportError:
        return None
    try:
        cupy.arange(1).get()
    except Exception:  # installed, no usable GPU
        return None
    return cupy


class _OptsOut:
    __array_ufunc__ = None

    def __radd__(self, other):
        return "handled"


def _set_and_return(x, index, value):
    x[index] = value
    return x


def _scatter(c, op, dtype, index=(0, 2, 0)):
    x = c.zeros(3, dtype=dtype)
    getattr(c, op).at(x, c.asarray(np.array(index)), 1)
    return x


# Each probe runs on the double and on real CuPy; outcomes (values, dtypes, types, or the
# exception type and message) must agree. The double's deliberate departures are not here:
# repeated-index assignment, garbage in `empty`, bincount of an empty array (raises up to
# CuPy 14.1), asarray(copy=) (absent in CuPy 13), names the double does not implement.
PROBES = {
    "np.asarray": lambda c: np.asarray(c.arange(3)),
    "np.asarray nested": lambda c: c.asarray([c.arange(3)[0], 1.0]),
    "add numpy": lambda c: c.arange(3.0) + np.ones(3),
    "radd numpy": lambda c: np.ones(3) + c.arange(3.0),
    "ufunc list": lambda c: c.power([1, 2], 2),
    "ufunc out numpy": lambda c: c.exp(c.arange(3.0), out=np.ones(3)),
    "concatenate numpy": lambda c: np.concatenate([c.arange(2.0), np.ones(2)]),
    "np.sum": lambda c: np.sum(c.arange(4.0)),
    "sum": lambda c: c.arange(4.0).sum(),
    "argmax": lambda c: c.arange(4.0).argmax(),
    "allclose": lambda c: c.allclose(c.arange(2.0), c.arange(2.0)),
    "element": lambda c: c.arange(4.0)[1],
    "iterate": lambda c: list(c.arange(2)),
    "wrap getitem": lambda c: c.arange(3)[[1, 3, -4]],
    "wrap 2-d": lambda c: c.arange(6).reshape(2, 3)[:, [0, 4]],
    "wrap take": lambda c: c.arange(3).take([4]),
    "wrap take_along_axis": lambda c: c.take_along_axis(c.arange(3), c.asarray([3]), 0),
    "wrap setitem": lambda c: _set_and_return(c.arange(3), [1, 3], 10),
    "basic out of range": lambda c: c.arange(3)[10],
    "basic negative out of range": lambda c: c.arange(3)[-4],
    "fill host array": lambda c: _set_and_return(c.zeros(3), slice(None), np.ones(3)),
    "fill 0-d host": lambda c: _set_and_return(c.zeros(3), slice(1, None), np.array(5.0)),
    "host index": lambda c: c.arange(4)[np.array([0, 5])],
    "compare 0-d numpy": lambda c: c.arange(3.0) > np.array(1.0),
    "nep50 numpy scalar": lambda c: np.float64(1) + c.arange(3, dtype=np.float32),
    "python scalar": lambda c: c.arange(3, dtype=np.float32) * 2.0,
    "value-based int": lambda c: c.arange(3, dtype=np.int8) + np.int64(1),
    "value-based large float": lambda c: c.arange(3, dtype=np.float32) + 1e300,
    "add.at int64": lambda c: _scatter(c, "add", np.int64),
    "add.at float32": lambda c: _scatter(c, "add", np.float32),
    "add.at int16": lambda c: _scatter(c, "add", np.int16),
    "subtract.at float64": lambda c: _scatter(c, "subtract", np.float64),
    "subtract.at int32": lambda c: _scatter(c, "subtract", np.int32),
    "maximum.at int64": lambda c: _scatter(c, "maximum", np.int64),
    "sliding_window_view": lambda c: c.lib.stride_tricks.sliding_window_view(
        c.arange(6.0).reshape(2, 3), (2, 2)),
    "opts out": lambda c: c.arange(2) + _OptsOut(),
    "index()": lambda c: range(c.asarray(3)),
    "len 0-d": lambda c: len(c.asarray(1.0)),
    "hash": lambda c: hash(c.arange(2)),
    "flags.writeable": lambda c: hasattr(c.arange(2).flags, "writeable"),
    "RandomState.get_state": lambda c: hasattr(c.random.RandomState(0), "get_state"),
    "random float16": lambda c: c.random.RandomState(0).random_sample(3, dtype=np.float16),
    "astype copy=False": lambda c: (lambda x: x.astype(x.dtype, copy=False) is x)(c.arange(2)),
    "astype casting": lambda c: c.arange(2).astype(np.float32, casting="unsafe"),
    "float to uint": lambda c: c.asarray([-1.0, 3.7]).astype(np.uint32),
    "inf to int32": lambda c: c.asarray([np.inf, -np.inf, 2.5]).astype(np.int32),
    "object dtype": lambda c: c.asarray(np.array([None, 1])),
    "broadcast base": lambda c: c.broadcast_to(c.arange(3), (2, 3)).base is not None,
    "as_strided base": lambda c: c.lib.stride_tricks.as_strided(c.arange(4), (2,), (16,)).base,
    "numpy as_strided": lambda c: np.lib.stride_tricks.as_strided(c.arange(4)),
    "empty get": lambda c: c.empty(0).get().shape,
    "bincount": lambda c: c.bincount(c.asarray([0, 2, 2]), minlength=4),
    "bincount negative": lambda c: c.bincount(c.asarray([1, -1])),
    "device name": lambda c: type(c.cuda.runtime.getDeviceProperties(0)["name"]),
    "get_array_module": lambda c: c.get_array_module(np.ones(1)) is np,
}


def _outcome(fn, module):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn(module)
    except Exception as exc:
        return ("raises", type(exc).__name__, str(exc).split(" (")[0][:70])
    if type(value).__name__ == "ndarray" and type(value).__module__ == "cupy":
        return ("array", str(value.dtype), value.shape, value.get().tolist())
    if isinstance(value, list):
        return [_outcome(lambda m, v=v: v, module) for v in value]
    return ("value", value)


@pytest.mark.parametrize("name", PROBES)
def test_double_agrees_with_real_cupy(name):
    """Against the CuPy installed here, with the double behaving as that major version."""
    real = _real_cupy()
    if real is None:
        pytest.skip("needs real CuPy and a GPU (run without TINYGRAD_CNN_TEST_CUPY)")
    try:
        version = cupy_double_versions.check_major(real.__version__)
    except ValueError:
        pytest.skip(f"the double models CuPy 13 and 14, not CuPy {real.__version__}")
    with cupy_double.behaving_as(version):
        assert _outcome(PROBES[name], cp) == _outcome(PROBES[name], real)


def test_probes_run_on_the_double():
    """The probes themselves must work here, where CI runs them on the double alone."""
    outcomes = {name: _outcome(fn, cp) for name, fn in PROBES.items()}
    assert outcomes["wrap getitem"] == ("array", "int64", (3,), [1, 0, 2])
    assert outcomes["subtract.at float64"][:2] == ("raises", "TypeError")
    assert outcomes["np.asarray"][:2] == ("raises", "TypeError")
    assert outcomes["add numpy"] == ("raises", "TypeError", NUMPY_OPERAND)
