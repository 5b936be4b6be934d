"""``tinygrad-cnn filters`` and ``conv_filters`` on odd state dicts: every weight is checked
before anything is drawn, a failure is one line naming the key and the file, and a huge
layer draws its first filters in about a second instead of running for minutes."""

import time

import numpy as np
import pytest

from tinygrad_cnn import save
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.viz import plots

pytest.importorskip("matplotlib")


def lenet_weights(**replace):
    state = {k: np.asarray(v) for k, v in LeNet5().state_dict().items()}
    state.update(replace)
    return state


@pytest.fixture
def filters(tmp_path, capsys):
    """Save ``state`` and run ``tinygrad-cnn filters`` on it: (status, stderr, file)."""
    from tinygrad_cnn.cli import main

    def run(state):
        path = tmp_path / "odd.npz"
        save(state, path)
        status = main(["filters", str(path), "-o", str(tmp_path / "f.png"), "--force"])
        return status, capsys.readouterr().err, path

    return run


@pytest.mark.parametrize("state, message", [
    ({5: np.zeros(3), "x": np.zeros(2)},  # mixed keys: sorting them raised TypeError
     "conv_filters: no 4-D 'conv1.weight' (out, in, kh, kw) in the state dict; it has 5, x"),
    (lenet_weights(**{"conv1.weight": np.zeros((0, 1, 5, 5), np.float32)}),
     "'conv1.weight' has shape (0, 1, 5, 5): no weights to draw"),
    (lenet_weights(**{"conv2.weight": np.zeros((16, 6, 0, 5), np.float32)}),
     "'conv2.weight' has shape (16, 6, 0, 5): no weights to draw"),
    (lenet_weights(**{"conv1.weight": np.zeros((1, 1, 3000, 3000), np.float32)}),
     "'conv1.weight' has 3000x3000 kernels, larger than the 32x32 a picture of filters shows"),
    (lenet_weights(**{"conv1.weight": np.full((6, 1, 5, 5), np.nan, np.float32)}),
     "'conv1.weight' holds 150 NaN or infinite weights"),
    (lenet_weights(**{"conv1.weight": np.array([[[["a"]]]])}),
     "'conv1.weight' is a <U1 array of shape (1, 1, 1, 1), not the real-valued"),
    (lenet_weights(**{"conv1.weight": np.zeros((6, 1, 5, 5), np.complex64)}),
     "'conv1.weight' is a complex64 array"),
    (lenet_weights(**{"conv1.weight": {"a": 1}}), "'conv1.weight' is a dict, not the"),
    (lenet_weights(**{"conv1.weight": np.array(5.0)}), "'conv1.weight' is a float64 array of "
                                                      "shape ()"),
    ({str(i): 0 for i in range(3000)}, "it has 0, 1, 10, 100, 1000, 1001, 1002, 1003, 1004, "
                                       "1005, 1006, 1007, ... (3,000 keys)"),
])
def test_odd_state_dicts_fail_in_one_line_naming_key_and_file(filters, state, message):
    status, err, path = filters(state)
    assert status == 1 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"tinygrad-cnn filters: error: {path}: ")
    assert message in err


def test_a_huge_layer_draws_its_first_filters_quickly(filters, tmp_path):
    """A 2000x2000 layer of 1x1 kernels drew four million frames for minutes."""
    rng = np.random.default_rng(0)
    state = {"model": lenet_weights(**{
        "conv1.weight": rng.standard_normal((2000, 2000, 1, 1)).astype(np.float32)}),
        "epoch": "x" * 10_000}
    start = time.perf_counter()
    status, err, _ = filters(state)
    assert status == 0, err
    assert time.perf_counter() - start < 20  # about 2 s; minutes before
    w, filters_in_layer, inputs_in_layer = plots.filter_weights(state["model"], "conv1")
    assert w.shape == (64, 32, 1, 1) and (filters_in_layer, inputs_in_layer) == (2000, 2000)
    np.testing.assert_array_equal(w, state["model"]["conv1.weight"][:64, :32])
    figure = plots.conv_filters(state["model"])
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[0].startswith("conv1: 2,000 filters of 2,000x1x1") and \
        titles[0].endswith("the first 64 of 2,000 filters, 32 of 2,000 inputs shown")
    assert titles[1] == ("conv2: 16 filters of 6x5x5 (columns: filters, rows: the input "
                         "channel each reads)")


def test_large_kernels_show_as_many_filters_as_fit(tmp_path):
    w = np.ones((100, 100, 31, 7), np.float32)  # 256 // 8 = 32 columns, 256 // 32 = 8 rows
    shown, _, _ = plots.filter_weights({"c.weight": w}, "c")
    assert shown.shape == (32, 8, 31, 7)
