"""nn.functional apart from convolution and pooling: activations, linear, softmax,
log-softmax, the losses and dropout. Forward against NumPy, gradients against float64
finite differences, both against PyTorch when installed; stability, statistics, errors."""

import numpy as np
import pytest
from helpers import OpCase, check_op, check_op_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import axes, broadcastable_pairs, normal, seeds, shapes

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F

rng = np.random.default_rng(11)


def randn(*shape):
    return rng.standard_normal(shape)


def away_from_zero(*shape):
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def labels(n, classes):
    return rng.integers(0, classes, size=n)


# ----------------------------------------------------------------------------- references

def log_softmax_ref(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_ref(x, axis=-1):
    return np.exp(log_softmax_ref(x, axis))


def _reduce(losses, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](losses)


def nll_ref(logp, target, reduction="mean"):
    return _reduce(-logp[np.arange(len(target)), target], reduction)


def cross_entropy_ref(logits, target, reduction="mean"):
    return nll_ref(log_softmax_ref(logits, 1), target, reduction)


def mse_ref(x, y, reduction="mean"):
    return _reduce((x - y) ** 2, reduction)


def linear_ref(x, w, b=None):
    return x @ w.T if b is None else x @ w.T + b


def _tf():
    import torch.nn.functional as TF
    return TF


CASES = [
    OpCase("relu", F.relu, lambda x: np.maximum(x, 0), (away_from_zero(3, 4),),
           torch_op=lambda x: _tf().relu(x)),
    OpCase("leaky_relu", F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
           (away_from_zero(3, 4),), torch_op=lambda x: _tf().leaky_relu(x)),
    OpCase("leaky_relu_slope", F.leaky_relu, lambda x, negative_slope: np.where(
        x > 0, x, negative_slope * x), (away_from_zero(2, 5),), kwargs=dict(negative_slope=0.2),
        torch_op=lambda x, negative_slope: _tf().leaky_relu(x, negative_slope)),
    OpCase("sigmoid", F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (randn(3, 4) * 4,),
           torch_op=lambda x: _tf().sigmoid(x)),
    OpCase("tanh", F.tanh, np.tanh, (randn(2, 5),), torch_op=lambda x: _tf().tanh(x)),
    OpCase("linear", F.linear, linear_ref, (randn(4, 5), randn(3, 5), randn(3)),
           torch_op=lambda x, w, b: _tf().linear(x, w, b)),
    OpCase("linear_no_bias", F.linear, linear_ref, (randn(4, 5), randn(3, 5)),
           torch_op=lambda x, w: _tf().linear(x, w)),
    OpCase("linear_3d_input", F.linear, linear_ref, (randn(2, 3, 5), randn(4, 5), randn(4)),
           torch_op=lambda x, w, b: _tf().linear(x, w, b)),
    OpCase("linear_1d_input", F.linear, linear_ref, (randn(5), randn(4, 5), randn(4)),
           torch_op=lambda x, w, b: _tf().linear(x, w, b)),
    OpCase("softmax", F.softmax, softmax_ref, (randn(3, 5),),
           torch_op=lambda x, axis=-1: _tf().softmax(x, dim=axis)),
    OpCase("softmax_axis0", F.softmax, softmax_ref, (randn(4, 3, 2),), kwargs=dict(axis=0),
           torch_op=lambda x, axis: _tf().softmax(x, dim=axis)),
    OpCase("log_softmax", F.log_softmax, log_softmax_ref, (randn(3, 5) * 3,),
           torch_op=lambda x, axis=-1: _tf().log_softmax(x, dim=axis)),
    OpCase("log_softmax_axis1", F.log_softmax, log_softmax_ref, (randn(2, 4, 3),),
           kwargs=dict(axis=1), torch_op=lambda x, axis: _tf().log_softmax(x, dim=axis)),
    *[OpCase(f"cross_entropy_{r}", F.cross_entropy, cross_entropy_ref,
             (randn(5, 4) * 2, labels(5, 4)), kwargs=dict(reduction=r),
             torch_op=lambda x, t, reduction: _tf().cross_entropy(x, t, reduction=reduction))
      for r in ("mean", "sum", "none")],
    *[OpCase(f"nll_loss_{r}", F.nll_loss, nll_ref, (randn(6, 3), labels(6, 3)),
             kwargs=dict(reduction=r),
             torch_op=lambda x, t, reduction: _tf().nll_loss(x, t, reduction=reduction))
      for r in ("mean", "sum", "none")],
    *[OpCase(f"mse_loss_{r}", F.mse_loss, mse_ref, (randn(3, 4), randn(3, 4)),
             kwargs=dict(reduction=r),
             torch_op=lambda x, y, reduction: _tf().mse_loss(x, y, reduction=reduction))
      for r in ("mean", "sum", "none")],
    OpCase("nll_of_log_softmax", lambda x, t: F.nll_loss(F.log_softmax(x, axis=1), t),
           cross_entropy_ref, (randn(4, 6), labels(4, 6)),
           torch_op=lambda x, t: _tf().nll_loss(_tf().log_softmax(x, dim=1), t)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check_op(case)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op_torch(case):
    pytest.importorskip("torch")
    check_op_torch(case)


@settings(deadline=None)
@given(shapes(1, 3, 1, 4), st.data(), seeds)
def test_softmax_drawn(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    for op, ref in ((F.softmax, softmax_ref), (F.log_softmax, log_softmax_ref)):
        check_op(OpCase(op.__name__, op, ref, (normal(shape, seed),), kwargs=dict(axis=axis)))


@settings(deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), seeds)
def test_linear_and_cross_entropy_drawn(n, fan_in, classes, seed):
    target = np.random.default_rng(seed).integers(0, classes, n)
    check_op(OpCase("linear", F.linear, linear_ref,
                    (normal((n, fan_in), seed), normal((classes, fan_in), seed + 1),
                     normal((classes,), seed + 2))))
    check_op(OpCase("cross_entropy", F.cross_entropy, cross_entropy_ref,
                    (normal((n, classes), seed) * 3, target)))


@settings(deadline=None)
@given(broadcastable_pairs(), st.data())
def test_shared_strategies_draw_valid_cases(pair, data):
    full = np.broadcast_shapes(*pair)  # raises if the pair does not broadcast
    axis = data.draw(axes(len(full)))
    if axis is not None:
        np.zeros(full).sum(axis=axis)  # raises on a bad or repeated axis


# ----------------------------------------------------------------------------- stability

BIG = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_stable_for_huge_logits(dtype):
    target = np.array([0, 2, 1])
    logits = Tensor(BIG, dtype=dtype, requires_grad=True)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    assert loss.dtype == dtype and logits.grad.dtype == dtype
    assert np.isfinite(loss.item()) and np.isfinite(logits.grad.numpy()).all()
    # per row: 0, log 2, log 3
    np.testing.assert_allclose(loss.item(), (np.log(2) + np.log(3)) / 3, rtol=1e-6)
    expected = (np.array([[1, 0, 0], [0, .5, .5], [1 / 3] * 3]) - np.eye(3)[target]) / 3
    np.testing.assert_allclose(logits.grad.numpy(), expected, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_huge_logits_match_torch(dtype):
    torch = pytest.importorskip("torch")
    target = np.array([0, 2, 1])
    ours = Tensor(BIG, dtype=dtype, requires_grad=True)
    theirs = torch.tensor(BIG, dtype=getattr(torch, dtype), requires_grad=True)
    loss = F.cross_entropy(ours, target)
    ref = torch.nn.functional.cross_entropy(theirs, torch.tensor(target))
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-7)


def test_log_softmax_and_softmax_stable_for_huge_inputs():
    x = Tensor(BIG, requires_grad=True)
    out = F.log_softmax(x)
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_allclose(out.numpy()[0], [0, -1e4, -2e4])
    p = F.softmax(x)
    np.testing.assert_allclose(p.numpy().sum(axis=1), 1, rtol=1e-6)
    (out.sum() + p.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_cross_entropy_targets_as_tensor_array_or_list():
    logits = randn(3, 4)
    values = [F.cross_entropy(Tensor(logits), t).item()
              for t in (Tensor(np.array([1, 0, 3])), np.array([1, 0, 3], dtype=np.int32),
                        [1, 0, 3])]
    np.testing.assert_allclose(values, cross_entropy_ref(logits, np.array([1, 0, 3])),
                               rtol=1e-5)


def test_losses_keep_float32():
    x = Tensor(randn(4, 3).astype(np.float32), requires_grad=True)
    t = labels(4, 3)
    for loss in (F.cross_entropy(x, t), F.nll_loss(F.log_softmax(x), t),
                 F.mse_loss(x, np.zeros((4, 3)))):
        assert loss.dtype == np.float32 and loss.shape == ()
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------------- dropout

def test_dropout_statistics():
    tg.manual_seed(0)
    x = Tensor(np.ones(200_000, dtype=np.float32), requires_grad=True)
    out = F.dropout(x, p=0.3)
    values = out.numpy()
    assert out.dtype == np.float32
    assert abs((values == 0).mean() - 0.3) < 0.005
    np.testing.assert_allclose(values[values != 0], 1 / 0.7, rtol=1e-6)
    assert abs(values.mean() - 1) < 0.01
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # the gradient is the scaled mask


def test_dropout_is_repeatable_under_manual_seed():
    x = Tensor(np.ones((8, 16)))
    tg.manual_seed(123)
    first = F.dropout(x, 0.5).numpy()
    second = F.dropout(x, 0.5).numpy()
    tg.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), first)
    assert not np.array_equal(first, second)


def test_dropout_identity_and_extremes():
    x = Tensor(randn(3, 4), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    out = F.dropout(x, 1.0)
    np.testing.assert_array_equal(out.numpy(), 0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_dropout_gradcheck_with_fixed_mask():
    x = randn(4, 5)

    def op(t):
        tg.manual_seed(5)  # the same mask on every evaluation
        return F.dropout(t, 0.4)

    tg.manual_seed(5)
    mask = F.dropout(Tensor(np.ones((4, 5))), 0.4).numpy()
    check_op(OpCase("dropout", op, lambda a: a * mask, (x,)))


# ----------------------------------------------------------------------------- errors

def T(*shape, dtype=np.float32):
    return Tensor(np.zeros(shape), dtype=dtype)


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.linear(T(2, 7), T(120, 400)), ValueError,
     r"^linear: input has 7 features but weight expects 400 \(weight shape \(120, 400\)\)$"),
    (lambda: F.linear(T(2, 400), T(120, 400), T(84)), ValueError,
     r"linear: bias has shape \(84,\) but weight has 120 outputs"),
    (lambda: F.linear(T(2, 4), T(4)), ValueError, r"linear: expected a 2-D weight"),
    (lambda: F.linear(T(2, 4), T(3, 4, dtype=np.float64)), TypeError,
     r"linear: all operands need one dtype"),
    (lambda: F.cross_entropy(T(4, 10), np.array([0.0, 1.0, 2.0, 3.0])), TypeError,
     r"cross_entropy: target must hold integer class indices, got float"),
    (lambda: F.cross_entropy(T(4, 10), np.array([0, 1, 10, 3])), ValueError,
     r"cross_entropy: target value 10 is out of range for 10 classes \(valid: 0 to 9\)"),
    (lambda: F.cross_entropy(T(4, 10), np.array([0, -1, 2, 3])), ValueError,
     r"cross_entropy: target value -1 is out of range for 10 classes"),
    (lambda: F.cross_entropy(T(4, 10), np.array([0, 1, 2, 3, 4])), ValueError,
     r"cross_entropy: target has shape \(5,\) but logits have batch size 4 "
     r"\(logits shape \(4, 10\)\)"),
    (lambda: F.cross_entropy(T(4, 10, 2), np.zeros(4, dtype=int)), ValueError,
     r"cross_entropy: expected logits of shape \(N, C\), got \(4, 10, 2\)"),
    (lambda: F.cross_entropy(T(4, 10), np.zeros(4, dtype=int), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: F.nll_loss(T(3, 5), np.array([5, 0, 0])), ValueError,
     r"nll_loss: target value 5 is out of range for 5 classes"),
    (lambda: F.nll_loss(T(3, 5), np.array([True, False, True])), TypeError,
     r"nll_loss: target must hold integer class indices, got bool"),
    (lambda: F.mse_loss(T(2, 3), T(3, 2)), ValueError,
     r"mse_loss: input shape \(2, 3\) and target shape \(3, 2\) differ"),
    (lambda: F.mse_loss(T(2, 3), T(2, 3), reduction=None), ValueError,
     r"mse_loss: reduction must be"),
    (lambda: F.softmax(T(2, 3), axis=2), ValueError,
     r"softmax: axis 2 is out of range for a tensor of shape \(2, 3\)"),
    (lambda: F.log_softmax(T(2, 3, dtype=np.int64)), TypeError,
     r"log_softmax: input must be floating point"),
    (lambda: F.dropout(T(2, 3), p=1.5), ValueError,
     r"dropout: p must be a probability in \[0, 1\], got 1.5"),
    (lambda: F.relu(np.zeros(3)), TypeError, r"relu: input must be a Tensor, got ndarray"),
    (lambda: F.leaky_relu(T(2), negative_slope="0.1"), ValueError,
     r"leaky_relu: negative_slope must be a number, got '0.1'"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_leaky_relu_gradient_at_zero_is_the_slope_as_in_pytorch():
    x = Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    F.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 0.1, 1.0])
