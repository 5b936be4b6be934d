"""tinygrad_cnn.inspect: conv_matrix against conv1d/conv2d, receptive fields against the
formula, activations through hooks that are always removed."""

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, nn
from tinygrad_cnn import inspect as ti
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F

# ----------------------------------------------------------------------------- conv_matrix

CONV2D_CASES = [  # (out, in, KH, KW), (C, H, W), stride, padding
    ((1, 1, 3, 3), (1, 6, 7), 1, 0),
    ((1, 1, 3, 3), (1, 5, 5), 1, 1),
    ((4, 3, 3, 2), (3, 7, 6), (2, 1), (1, 0)),
    ((2, 2, 5, 5), (2, 9, 9), 2, 2),
    ((3, 1, 1, 1), (1, 4, 3), 1, 0),
]


@pytest.mark.parametrize("wshape, xshape, stride, padding", CONV2D_CASES)
def test_conv_matrix_times_x_is_conv2d(wshape, xshape, stride, padding):
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal(wshape), rng.standard_normal((2,) + xshape)
    matrix = ti.conv_matrix(Tensor(w, dtype=np.float64), xshape, stride, padding)
    out = F.conv2d(Tensor(x, dtype=np.float64), Tensor(w, dtype=np.float64),
                   stride=stride, padding=padding).numpy()
    assert matrix.shape == (out[0].size, x[0].size) and matrix.dtype == np.float64
    for n in range(2):
        np.testing.assert_allclose(matrix @ x[n].reshape(-1), out[n].reshape(-1),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k, length, stride, padding", [(2, 9, 1, 0), (3, 8, 2, 1),
                                                        (5, 5, 1, 2)])
def test_conv_matrix_times_x_is_conv1d(k, length, stride, padding):
    rng = np.random.default_rng(1)
    w, x = rng.standard_normal((3, 2, k)), rng.standard_normal((2, length))
    out = F.conv1d(Tensor(x[None], dtype=np.float64), Tensor(w, dtype=np.float64),
                   stride=stride, padding=padding).numpy()[0]
    matrix = ti.conv_matrix(w, (2, length), stride=stride, padding=padding)
    np.testing.assert_allclose(matrix @ x.reshape(-1), out.reshape(-1), rtol=1e-12)


def test_single_channel_kernels_and_the_lecture_formula():
    w = np.array([0.5, -2.0, 3.0])
    D = 7
    # cross-correlation: M[t, tau] = w[tau - t] (valid, stride 1)
    matrix = ti.conv_matrix(w, (D,))
    expected = np.zeros((D - 2, D))
    for t in range(D - 2):
        expected[t, t:t + 3] = w
    np.testing.assert_array_equal(matrix, expected)
    # the true convolution W[t, tau] = w[t - tau] is the flipped kernel's matrix
    x = np.random.default_rng(2).standard_normal(D)
    np.testing.assert_allclose(ti.conv_matrix(w[::-1], (D,)) @ x,
                               np.convolve(x, w, mode="valid"), rtol=1e-12)
    # same-size with padding: a band of width k around the diagonal
    banded = ti.conv_matrix(w[::-1], (D,), padding=1)
    rows, cols = np.nonzero(banded)
    assert banded.shape == (D, D) and np.all(np.abs(rows - cols) <= 1)
    assert np.count_nonzero(banded) == 3 * D - 2
    np.testing.assert_allclose(banded @ x, np.convolve(x, w, mode="same"), rtol=1e-12)
    # a 2-D single-channel kernel, integer weights become float64
    square = ti.conv_matrix(np.array([[1, 2], [3, 4]]), (3, 3))
    assert square.dtype == np.float64 and square.shape == (4, 9)
    np.testing.assert_array_equal(square[0], [1, 2, 0, 3, 4, 0, 0, 0, 0])


def test_conv_matrix_errors_name_the_problem():
    with pytest.raises(ValueError, match="input has 2 channels but weight expects 1"):
        ti.conv_matrix(np.ones((1, 1, 3, 3)), (2, 5, 5))
    with pytest.raises(ValueError, match=r"needs input_shape \(L,\) or \(C, L\)"):
        ti.conv_matrix(np.ones(3), (1, 5, 5))
    with pytest.raises(ValueError, match="larger than the padded input"):
        ti.conv_matrix(np.ones((5, 5)), (3, 3))
    with pytest.raises(ValueError, match="weight must be"):
        ti.conv_matrix(np.ones((1, 1, 1, 3, 3)), (3, 3))
    with pytest.raises(ValueError, match="stride must be"):
        ti.conv_matrix(np.ones(2), (5,), stride=0)
    with pytest.raises(ValueError, match="input_shape must be"):
        ti.conv_matrix(np.ones(2), 5)
    with pytest.raises(TypeError, match="weight must hold numbers"):
        ti.conv_matrix(np.array(["a", "b"]), (5,))


# ----------------------------------------------------------------------------- receptive field

def formula_fields(model, names):
    """r_l = r_(l-1) + (k_l - 1) * j_(l-1), j_l = j_(l-1) * s_l, walking the layers in order."""
    r, jump, out = 1, 1, {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = module.kernel_size if isinstance(module.kernel_size, int) \
                else module.kernel_size[0]
            s = module.stride if isinstance(module.stride, int) else module.stride[0]
            r, jump = r + (k - 1) * jump, jump * s
        if name in names:
            out[name] = (r, r)
    return out


def test_lenet_receptive_fields_measured_by_autograd_match_the_formula():
    model = LeNet5()
    names = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2")
    measured = {name: ti.receptive_field(model, name, (1, 28, 28)) for name in names}
    assert measured == formula_fields(model, names)
    assert [measured[n][0] for n in ("conv1", "pool1", "conv2", "pool2")] == [5, 6, 14, 16]
    # everything after the flatten sees the whole image
    assert ti.receptive_field(model, "fc1", (1, 1, 28, 28)) == (28, 28)


def test_receptive_field_with_stride_padding_and_overlapping_pools():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(),
                          nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(2, 1, (5, 3)))
    fields = {name: ti.receptive_field(model, name, (1, 40, 40)) for name in "0123"}
    # 3; pool 3 on a grid of step 2: 3 + 2 * 2 = 7; kernel 5x3 on step 2: 7 + 8 / 7 + 4
    assert fields == {"0": (3, 3), "1": (3, 3), "2": (7, 7), "3": (15, 11)}


def test_the_field_is_not_hidden_by_relu_or_max_pooling():
    # a dead ReLU (negative bias) and max pooling would show nothing or one winner per window
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2))
    model[0].bias.data[...] = -100.0
    x = Tensor(np.random.default_rng(0).random((1, 1, 12, 12)))
    assert not ti.input_gradient(model, "2", x).any()          # gated for this input
    mask = ti.receptive_field_mask(model, "2", (1, 12, 12))
    assert ti.receptive_field(model, "2", (1, 12, 12)) == (4, 4)
    assert mask.sum() == 16                                     # a full 4x4 square
    # a unit given explicitly; and the corner unit of a padded layer is clipped by the border
    assert np.argwhere(ti.receptive_field_mask(model, "2", (1, 12, 12), unit=(0, 0))).max() == 3
    padded = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2))
    assert ti.receptive_field(padded, "0", (1, 9, 9), unit=(0, 0)) == (3, 3)


def test_measurements_leave_the_model_as_they_found_it():
    model = LeNet5()
    model.train()
    model.fc3.weight.requires_grad_(False)
    x = Tensor(np.random.default_rng(0).random((1, 1, 28, 28)))
    F.cross_entropy(model(x), np.array([3])).backward()
    grads = {name: None if p.grad is None else p.grad.numpy().copy()
             for name, p in model.named_parameters()}
    ti.receptive_field(model, "conv2", (1, 28, 28))
    ti.input_gradient(model, "pool2", x)
    with pytest.raises(ValueError):
        ti.receptive_field(model, "conv2", (1, 27, 28))
    assert all(m.training for m in model.modules())
    assert not model.fc3.weight.requires_grad and model.conv1.weight.requires_grad
    assert all(not m._forward_hooks for m in model.modules())
    for name, p in model.named_parameters():
        if grads[name] is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad.numpy(), grads[name])


def test_input_gradient_is_the_plain_gradient_and_lies_inside_the_field():
    tg.manual_seed(0)
    model = LeNet5()
    x = np.random.default_rng(3).random((1, 1, 28, 28)).astype(np.float32)
    grad = ti.input_gradient(model, "pool2", x, unit=(1, 3))
    # the same gradient by hand
    t = Tensor(x, requires_grad=True)
    h = model.pool2(model.relu2(model.conv2(model.pool1(model.relu1(model.conv1(t))))))
    h[:, :, 1, 3].sum().backward()
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-6)
    mask = ti.receptive_field_mask(model, "pool2", (1, 28, 28), unit=(1, 3))
    assert (grad[0, 0] != 0).any() and not (grad[0, 0][~mask] != 0).any()


def test_receptive_field_errors_list_the_valid_layers():
    model = LeNet5()
    with pytest.raises(ValueError, match="no layer named 'conv3'; valid names: 'conv1', "
                                         "'relu1', 'pool1'"):
        ti.receptive_field(model, "conv3", (1, 28, 28))
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        ti.receptive_field(model, "conv1", (28, 28))
    with pytest.raises(ValueError, match="rejected an input of shape"):
        ti.receptive_field(model, "conv1", (3, 28, 28))
    with pytest.raises(ValueError, match="unit must be a position inside"):
        ti.receptive_field(model, "pool2", (1, 28, 28), unit=(5, 0))
    with pytest.raises(ValueError, match="unit must be a feature index"):
        ti.receptive_field(model, "fc3", (1, 28, 28), unit=10)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        ti.receptive_field(lambda x: x, "conv1", (1, 28, 28))
    with pytest.raises(RuntimeError, match="outside no_grad"):
        with tg.no_grad():
            ti.receptive_field(model, "conv1", (1, 28, 28))
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.ReLU(), nn.ReLU()

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ValueError, match="layer 'spare' did not run"):
        ti.receptive_field(Unused(), "spare", (1, 4, 4))


# ----------------------------------------------------------------------------- activations

def test_activations_of_every_submodule_in_call_order():
    model = LeNet5().eval()
    x = Tensor(np.random.default_rng(0).random((3, 1, 28, 28)))
    acts = ti.activations(model, x)
    assert list(acts) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten",
                          "fc1", "relu3", "fc2", "relu4", "fc3"]
    np.testing.assert_allclose(acts["fc3"].numpy(), model(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(acts["pool1"].numpy(),
                               F.max_pool2d(F.relu(model.conv1(x)), 2).numpy(), rtol=1e-6)
    assert acts["conv2"].shape == (3, 16, 10, 10) and acts["conv2"].grad_fn is None
    assert all(not m._forward_hooks for m in model.modules())


def test_activations_nested_repeated_and_with_grad():
    block = nn.Linear(2, 2)
    model = nn.Sequential(nn.Sequential(block, nn.ReLU()), block)
    x = Tensor([[1.0, -1.0]], requires_grad=True)
    acts = ti.activations(model, x, grad=True)
    assert list(acts) == ["0.0", "0.1", "0", "0.0#2"]
    acts["0.1"].sum().backward()
    assert x.grad is not None


def test_activations_removes_its_hooks_when_the_forward_raises():
    model = LeNet5()
    with pytest.raises(ValueError, match="LeNet5 expects images"):
        ti.activations(model, Tensor(np.zeros((1, 1, 27, 27))))
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        ti.activations("model", Tensor([1.0]))


def test_one_channel_of_a_unit():
    model = LeNet5()
    assert ti.receptive_field(model, "conv2", (1, 28, 28), channel=3) == (14, 14)
    x = np.random.default_rng(4).random((2, 1, 28, 28)).astype(np.float32)
    every = ti.input_gradient(model, "conv2", x, unit=(4, 6))
    parts = sum(ti.input_gradient(model, "conv2", x, unit=(4, 6), channel=c)
                for c in range(16))
    np.testing.assert_allclose(every, parts, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"channel must be in \[0, 16\)"):
        ti.input_gradient(model, "conv2", x, channel=16)
    with pytest.raises(ValueError, match="channel applies to maps"):
        ti.receptive_field(model, "fc1", (1, 28, 28), channel=0)
