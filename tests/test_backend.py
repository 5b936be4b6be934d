"""The device switch, read once at import from TINYGRAD_CNN_DEVICE (tested in subprocesses)."""

import os
import subprocess
import sys

import pytest

from tinygrad_cnn import backend


def import_with(value):
    env = dict(os.environ)
    env.pop("TINYGRAD_CNN_DEVICE", None)
    if value is not None:
        env["TINYGRAD_CNN_DEVICE"] = value
    code = "import tinygrad_cnn as tg; print('device=' + tg.DEFAULT_DEVICE)"
    return subprocess.run([sys.executable, "-W", "default", "-c", code], env=env,
                          capture_output=True, text=True, timeout=120)


def cupy_usable():
    return backend.cuda_status()[0]


@pytest.mark.parametrize("value", [None, "", "cpu", "CPU", " cpu "])
def test_cpu_settings(value):
    result = import_with(value)
    assert result.returncode == 0, result.stderr
    assert "device=cpu" in result.stdout


@pytest.mark.parametrize("value", ["banana", "0", "1", "cuda:0"])
def test_invalid_values_list_the_valid_ones(value):
    result = import_with(value)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert f"TINYGRAD_CNN_DEVICE={value!r} is not a valid device" in last
    for valid in ("'cpu'", "'cuda'", "'gpu'", "'auto'"):
        assert valid in last


@pytest.mark.parametrize("value", ["cuda", "gpu"])
def test_cuda_without_a_gpu_fails_at_once_with_install_hint(value):
    if cupy_usable():
        pytest.skip("a GPU is usable here; this test covers machines without one")
    result = import_with(value)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "DeviceError" in last and "device 'cuda' is not available" in last
    assert "CuPy" in last
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert 'pip install "tinygrad-cnn[cuda]"' in last


def test_auto_falls_back_to_cpu_with_one_warning():
    if cupy_usable():
        pytest.skip("a GPU is usable here; auto picks it")
    result = import_with("auto")
    assert result.returncode == 0, result.stderr
    assert "device=cpu" in result.stdout
    assert result.stderr.count("UserWarning") == 1
    assert "using the CPU because" in result.stderr


def test_parse_device():
    assert backend.parse_device("GPU") == "cuda"
    assert backend.parse_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="valid devices are 'cpu', 'cuda'"):
        backend.parse_device("banana")


def test_cpu_array_module_and_device_of():
    import numpy as np

    assert backend.array_module("cpu") is np
    assert backend.device_of(np.zeros(2)) == "cpu"
    assert backend.move(np.zeros(2), "cpu").shape == (2,)


def test_requesting_cuda_arrays_without_gpu_names_what_is_missing():
    if cupy_usable():
        pytest.skip("a GPU is usable here")
    with pytest.raises(backend.DeviceError, match="device 'cuda' is not available"):
        backend.array_module("cuda")
