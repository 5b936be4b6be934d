"""The library on CuPy 13 and on CuPy 14, and GPU checkpoints on machines without CuPy.

The GPU tests run in the second pass of ``make test`` (through the CuPy double), once as each
CuPy major version where the two differ (``cupy_double.behaving_as``); the checkpoint tests
run in both passes.
"""

import warnings

import numpy as np
import pytest
from helpers import cupy_double_in_use

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, backend
from tinygrad_cnn.backend import generators
from tinygrad_cnn.nn import functional as F

cupy_double = cupy_double_in_use()
needs_double = pytest.mark.skipif(
    cupy_double is None or not backend.cuda_status()[0],
    reason="the CuPy 13/14 switch is the CuPy double's: run with TINYGRAD_CNN_TEST_CUPY=double "
           "TINYGRAD_CNN_DEVICE=cuda (make test does)")
NO_GPU_WARNING = r"random state: no usable GPU here, so dropout masks now come from the CPU"


@needs_double
@pytest.mark.parametrize("version", [13, 14])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32,
                                   np.int16, np.uint8, np.bool_])
def test_scatter_add_sums_every_dtype_on_cupy_13_and_14(version, dtype):
    """CuPy 13 has no int64 ``add.at``: the device sums such values as uint64 instead."""
    rng = np.random.default_rng(0)
    positions = rng.integers(0, 5, 40)
    values = (rng.integers(-50, 50, 40) if np.dtype(dtype).kind in "fi"
              else rng.integers(0, 3, 40)).astype(dtype)
    expected = np.zeros(5, dtype=dtype)
    np.add.at(expected, positions, values)
    cuda = backend.get("cuda")
    with cupy_double.behaving_as(version):
        sums = cuda.scatter_add(backend.move(positions, "cuda"), backend.move(values, "cuda"), 5)
    assert sums.dtype == dtype
    np.testing.assert_array_equal(backend.to_host(sums), expected)


@needs_double
@pytest.mark.parametrize("version", [13, 14])
def test_gradient_of_repeated_indices_on_cupy_13_and_14(version):
    x = Tensor(np.arange(4.0), requires_grad=True, device="cuda")
    with cupy_double.behaving_as(version):
        x[Tensor(np.array([0, 2, 0, 3]), device="cuda")].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- checkpoints

def _gpu_generator_state():
    """The generator state a GPU run with dropout saves: drawn on the GPU where one (or the
    double) is usable, else computed by the same generator on the host."""
    tg.manual_seed(7)
    if backend.cuda_status()[0]:
        F.dropout(Tensor(np.ones((4, 6)), device="cuda"), 0.5)  # advances the GPU generator
        return backend.get_state()
    rng = generators.CounterRNG(np, 7)
    rng.random((4, 6))
    return {**backend.get_state(), "cuda": rng.state()}


@pytest.fixture
def without_cupy(monkeypatch):
    """This process as a machine without CuPy would see it, for one test."""
    cuda = backend.get("cuda")
    monkeypatch.setattr(cuda, "_status", (False, "CuPy is not installed (simulated)"))
    monkeypatch.setattr(cuda, "_cupy", None)
    monkeypatch.setattr(cuda, "_rng", None)
    monkeypatch.setattr(cuda, "_saved_rng", None)
    return cuda


def test_a_gpu_checkpoint_with_dropout_resumes_on_a_machine_without_cupy(tmp_path,
                                                                          monkeypatch):
    state = _gpu_generator_state()
    assert state["cuda"]["counter"] == 24
    tg.save({"rng": state}, tmp_path / "gpu.npz")
    saved = tg.load(tmp_path / "gpu.npz")["rng"]
    gpu_draws = None
    if backend.cuda_status()[0]:  # what the GPU would draw next, for the return trip below
        gpu_draws = backend.device_rng("cuda").random((3, 5)).get()
    cuda = backend.get("cuda")
    with monkeypatch.context() as m:
        for name, value in (("_status", (False, "CuPy is not installed (simulated)")),
                            ("_cupy", None), ("_rng", None), ("_saved_rng", None)):
            m.setattr(cuda, name, value)
        with pytest.warns(UserWarning, match=NO_GPU_WARNING) as caught:
            backend.set_state(saved)  # refused before: "device 'cuda' is not available"
        assert len(caught) == 1 and "\n" not in str(caught[0].message)
        assert caught[0].filename == __file__  # points at the caller's line
        host_next = backend.host_rng().random()
        with pytest.warns(UserWarning, match=NO_GPU_WARNING):
            backend.set_state(backend.get_state())  # kept for the next checkpoint, as saved
        dropped = F.dropout(Tensor(np.ones((2, 8)), device="cpu"), 0.5)  # the CPU generator
        assert dropped.device == "cpu" and set(np.unique(dropped.numpy())) <= {0.0, 2.0}
        assert backend.get_state()["cuda"] == saved["cuda"]
        tg.save({"rng": backend.get_state()}, tmp_path / "cpu.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said above where no GPU is usable
        backend.set_state(saved)
    assert backend.host_rng().random() == host_next  # restoring drew nothing from the host
    if gpu_draws is not None:  # back on a GPU: the masks continue where the GPU run was
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            backend.set_state(tg.load(tmp_path / "cpu.npz")["rng"])
        np.testing.assert_array_equal(backend.device_rng("cuda").random((3, 5)).get(),
                                      gpu_draws)


@pytest.mark.parametrize("bad", [{"key": -1, "counter": 0}, {"key": 2**64, "counter": 0},
                                 {"key": 1, "counter": -3}, {"key": "1", "counter": 0},
                                 {"key": 1}, [1, 2], {"key": True, "counter": 0}])
def test_a_damaged_gpu_generator_state_is_refused_in_one_line(bad, without_cupy):
    with pytest.raises(ValueError, match=r"a device generator's state .* the checkpoint "
                                         r"holding it is damaged") as caught:
        backend.set_state({**backend.get_state(), "cuda": bad})
    assert "\n" not in str(caught.value)


def test_a_cpu_checkpoint_restores_silently(without_cupy):
    tg.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.set_state(backend.get_state())  # no GPU generator in it: nothing to say
    assert backend.get_state()["cuda"] is None
