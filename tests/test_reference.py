"""Each fused op against its twin in ``nn.reference`` (Tensor primitives only): the same
values and the same gradients for a random upstream gradient, in float64, on drawn
geometry. The reference ops are a second oracle beside NumPy loops and PyTorch, and what
the docs point to when they explain what a fast op computes."""

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import conv_geometry, distinct, normal, pool_geometry, seeds

from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F
from tinygrad_cnn.nn import reference as R
from tinygrad_cnn.testing import gradcheck


def same_values_and_gradients(fast, slow, arrays, seed=0, rtol=1e-9, atol=1e-10):
    """Run both on float64 copies of ``arrays`` (floats require grad) and compare the
    outputs and every input gradient for one random upstream gradient."""
    results = []
    for fn in (fast, slow):
        inputs = [Tensor(a, dtype=np.float64, requires_grad=True) if a.dtype.kind == "f"
                  else Tensor(a) for a in arrays]
        out = fn(*inputs)
        upstream = np.random.default_rng(seed).standard_normal(out.shape)
        (out * Tensor(upstream, dtype=np.float64)).sum().backward()
        results.append((out.numpy(), [t.grad.numpy() for t in inputs if t.requires_grad]))
    (out_fast, grads_fast), (out_slow, grads_slow) = results
    np.testing.assert_allclose(out_fast, out_slow, rtol=rtol, atol=atol)
    for k, (a, b) in enumerate(zip(grads_fast, grads_slow, strict=True)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"gradient {k}")


@settings(deadline=None)
@given(conv_geometry(), seeds)
def test_conv2d_equals_its_reference(geo, seed):
    kw = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    x, w = normal(geo["x_shape"], seed), normal(geo["w_shape"], seed + 1)
    b = normal(geo["w_shape"][:1], seed + 2)
    same_values_and_gradients(lambda *t: F.conv2d(*t, **kw), lambda *t: R.conv2d(*t, **kw),
                              (x, w, b), seed)
    same_values_and_gradients(lambda *t: F.conv2d(*t, **kw), lambda *t: R.conv2d(*t, **kw),
                              (x, w), seed)


@settings(deadline=None)
@given(pool_geometry(), seeds)
def test_pools_equal_their_references(geo, seed):
    kw = {k: geo[k] for k in ("kernel_size", "stride", "padding")}
    x = distinct(geo["x_shape"], seed)  # no ties: one maximum per window
    same_values_and_gradients(lambda t: F.max_pool2d(t, **kw), lambda t: R.max_pool2d(t, **kw),
                              (x,), seed)
    same_values_and_gradients(lambda t: F.avg_pool2d(t, **kw), lambda t: R.avg_pool2d(t, **kw),
                              (x,), seed)


def test_max_pool_reference_keeps_the_first_maximum_rule():
    x = np.zeros((1, 1, 4, 4))  # every window is one big tie
    same_values_and_gradients(lambda t: F.max_pool2d(t, 2), lambda t: R.max_pool2d(t, 2), (x,))
    same_values_and_gradients(lambda t: F.max_pool2d(t, 3, 1, 1),
                              lambda t: R.max_pool2d(t, 3, 1, 1), (x,))


@pytest.mark.parametrize("x_shape", [(5, 7), (2, 3, 7)])
def test_linear_equals_its_reference(x_shape):
    x, w, b = normal(x_shape, 1), normal((4, 7), 2), normal((4,), 3)
    same_values_and_gradients(F.linear, R.linear, (x, w, b))
    same_values_and_gradients(F.linear, R.linear, (x, w))


def test_leaky_relu_equals_its_reference():
    x = normal((4, 6), 8)
    same_values_and_gradients(lambda t: F.leaky_relu(t, 0.2),
                              lambda t: R.leaky_relu(t, 0.2), (x,))


def test_softmax_family_and_losses_equal_their_references():
    logits, target = normal((6, 5), 4) * 3, np.array([0, 4, 2, 2, 1, 3])
    same_values_and_gradients(lambda t: F.log_softmax(t, axis=1),
                              lambda t: R.log_softmax(t, axis=1), (logits,))
    same_values_and_gradients(lambda t: F.softmax(t, axis=0), lambda t: R.softmax(t, axis=0),
                              (logits,))
    same_values_and_gradients(F.cross_entropy, R.cross_entropy, (logits, target))
    same_values_and_gradients(F.mse_loss, R.mse_loss, (logits, normal((6, 5), 5)))


def test_reference_conv_gradient_against_finite_differences():
    x = Tensor(normal((1, 2, 5, 5), 0), dtype=np.float64, requires_grad=True)
    w = Tensor(normal((3, 2, 3, 3), 1), dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda a, b: R.conv2d(a, b, stride=2, padding=1), x, w)


def test_both_losses_stay_finite_at_huge_logits():
    logits = np.array([[1e4, 0.0], [0.0, -1e4]])  # each row: log(1 + e^-1e4) + 1e4
    for fn in (F.cross_entropy, R.cross_entropy):
        assert fn(Tensor(logits, dtype=np.float32), np.array([1, 1])).item() == 1e4
