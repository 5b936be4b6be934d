"""Each fused op against its twin in ``nn.reference`` (Tensor primitives only), on every path
the fast op can take: the same values and the same gradients for a random upstream
gradient, in float64, on drawn geometry.

A fused op chooses its path by which inputs need a gradient and by the device's
working-set budget: the convolution runs on the whole im2col matrix when its input needs a
gradient and in blocks (of output rows, of columns of one row, of samples) when it needs
none (inference, a first layer), rebuilding the blocks for the weight gradient; the
losses have three reductions. Each :class:`Path` below names one such way, and
:func:`same_values_and_gradients` runs the fast op down each of them against one run of
the twin. The reference ops are a second oracle beside NumPy loops and PyTorch, and what
the docs point to when they explain what a fast op computes."""

import contextlib
import importlib
import pkgutil
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import conv_geometry, distinct, normal, pool_geometry, seeds

import tinygrad_cnn.nn
from tinygrad_cnn import Tensor, backend
from tinygrad_cnn.autograd import Function
from tinygrad_cnn.nn import functional as F
from tinygrad_cnn.nn import reference as R
from tinygrad_cnn.testing import gradcheck

KEEP = "the device's own"  # a budget that leaves the device's working-set budget alone


class Path(NamedTuple):
    """One way through a fast op: which inputs need a gradient (one flag per argument,
    False for integer ones) and the working-set budget in bytes while it runs (None: no
    budget, the whole output in one block, as on a GPU)."""

    name: str
    needs_grad: tuple
    budget: object = KEEP


@contextlib.contextmanager
def working_set(budget):
    """The default device's working-set budget set to ``budget`` inside the block."""
    if budget is KEEP:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        device = backend.get(backend.default_device())
        patch.setattr(type(device), "working_set_bytes", budget)
        yield


def _run(fn, arrays, needs_grad, seed):
    """``fn`` on float64 Tensors of ``arrays``; its output and, when something needs one,
    the gradient of each input that needs one for a random upstream gradient."""
    inputs = [Tensor(a, dtype=np.float64, requires_grad=need) if a.dtype.kind == "f"
              else Tensor(a) for a, need in zip(arrays, needs_grad, strict=True)]
    out = fn(*inputs)
    grads = {}
    if out.requires_grad:
        upstream = np.random.default_rng(seed).standard_normal(out.shape)
        (out * Tensor(upstream, dtype=np.float64)).sum().backward()
        grads = {k: t.grad.numpy() for k, t in enumerate(inputs) if t.requires_grad}
    return out.numpy(), grads


def same_values_and_gradients(fast, slow, arrays, seed=0, paths=None, rtol=1e-9, atol=1e-10):
    """Run ``slow`` once on float64 copies of ``arrays`` (floats require grad), then ``fast``
    down each of ``paths`` (default: every float input needs a gradient), and compare the
    outputs and the gradients of the inputs that need one, for one random upstream
    gradient."""
    arrays = [np.asarray(a) for a in arrays]
    floats = tuple(a.dtype.kind == "f" for a in arrays)
    out_slow, grads_slow = _run(slow, arrays, floats, seed)
    for path in paths or [Path("every input needs a gradient", floats)]:
        with working_set(path.budget):
            out_fast, grads_fast = _run(fast, arrays, path.needs_grad, seed)
        where = f"path {path.name!r}"
        np.testing.assert_allclose(out_fast, out_slow, rtol=rtol, atol=atol,
                                   err_msg=f"{where}: values")
        assert sorted(grads_fast) == [k for k, need in enumerate(path.needs_grad) if need], where
        for k, grad in grads_fast.items():
            np.testing.assert_allclose(grad, grads_slow[k], rtol=rtol, atol=atol,
                                       err_msg=f"{where}: gradient of input {k}")


def trimmed(paths, count):
    """``paths`` for an op called with its first ``count`` arguments only (no bias)."""
    return [p._replace(needs_grad=p.needs_grad[:count]) for p in paths]


# ----------------------------------------------------------------------------- every op

# each fused op and the twins that check it (conv1d and avg_pool2d run on Conv2dOp too)
TWINS = {
    "Conv2dOp": ["conv2d", "conv1d", "avg_pool2d"], "MaxPool2dOp": ["max_pool2d"],
    "LinearOp": ["linear"], "LeakyReLUOp": ["leaky_relu"], "SoftmaxOp": ["softmax"],
    "LogSoftmaxOp": ["log_softmax"], "CrossEntropyOp": ["cross_entropy"],
    "NLLLossOp": ["nll_loss"], "MSELossOp": ["mse_loss"],
}


def test_every_fused_op_has_a_twin():
    """A new ``...Op`` in ``nn`` fails here until it has a twin and a line in TWINS."""
    found = set()
    for info in pkgutil.walk_packages(tinygrad_cnn.nn.__path__, "tinygrad_cnn.nn."):
        module = importlib.import_module(info.name)
        found |= {name for name, obj in vars(module).items()
                  if isinstance(obj, type) and issubclass(obj, Function)
                  and obj.__module__ == module.__name__}
    assert found == set(TWINS)
    for names in TWINS.values():
        for name in names:
            assert callable(getattr(R, name)) and callable(getattr(F, name)), name


# ----------------------------------------------------------------------------- convolution

def conv_paths(x_shape, w_shape, stride, padding, dilation, groups):
    """Every path of ``Conv2dOp`` for this geometry, as (x, w, b) flags: the whole im2col
    matrix (the input gradient in one block or a row at a time, weights frozen or not) and
    the blocked one in blocks of every size, with or without weight gradients."""
    from tinygrad_cnn.nn.conv import conv_geometry as geometry

    geo = geometry(x_shape, w_shape, stride, padding, dilation, groups)
    position = geo.C * geo.KH * geo.KW * 8  # bytes of one output position of one sample
    budgets = {"one_block": None, "blocks_of_two_rows": position * 2 * geo.OW * geo.N,
               "blocks_of_two_columns": position * 2 * geo.N, "blocks_of_one_sample": 1}
    return [
        Path("whole", (True, True, True)),
        Path("whole, input gradient a row at a time", (True, True, True), 1),
        Path("whole, frozen weight", (True, False, True)),
        *[Path(f"blocked, {name}", (False, True, True), b) for name, b in budgets.items()],
        Path("blocked, frozen weight", (False, False, True), budgets["blocks_of_two_rows"]),
        Path("inference", (False, False, False), budgets["blocks_of_two_columns"]),
    ]


@settings(deadline=None)
@given(conv_geometry(), seeds)
def test_conv2d_equals_its_reference(geo, seed):
    kw = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    x, w = normal(geo["x_shape"], seed), normal(geo["w_shape"], seed + 1)
    b = normal(geo["w_shape"][:1], seed + 2)
    paths = conv_paths(geo["x_shape"], geo["w_shape"], **kw)
    same_values_and_gradients(lambda *t: F.conv2d(*t, **kw), lambda *t: R.conv2d(*t, **kw),
                              (x, w, b), seed, paths)
    same_values_and_gradients(lambda *t: F.conv2d(*t, **kw), lambda *t: R.conv2d(*t, **kw),
                              (x, w), seed, trimmed(paths, 2))


@pytest.mark.parametrize("bias", [True, False])
def test_conv1d_equals_its_reference(bias):
    x, w, b = normal((3, 2, 9), 0), normal((4, 2, 3), 1), normal((4,), 2)
    kw = dict(stride=2, padding=1)
    paths = conv_paths((3, 2, 1, 9), (4, 2, 1, 3), (1, 2), (0, 1), (1, 1), 1)
    arrays, paths = ((x, w, b), paths) if bias else ((x, w), trimmed(paths, 2))
    same_values_and_gradients(lambda *t: F.conv1d(*t, **kw), lambda *t: R.conv1d(*t, **kw),
                              arrays, 0, paths)


@settings(deadline=None)
@given(conv_geometry(groups=False), seeds)
def test_patches_are_the_fast_im2col_matrix(geo, seed):
    """The twin's im2col has the fast op's axes, ``(C, KH, KW, OH, OW, N)``: the very
    matrix the fast op multiplies, element for element."""
    from tinygrad_cnn.nn.conv import conv_geometry as geometry
    from tinygrad_cnn.nn.conv.im2col import im2col_view, padded_source

    x = Tensor(normal(geo["x_shape"], seed), dtype=np.float64)
    g = geometry(x.shape, geo["w_shape"], geo["stride"], geo["padding"], geo["dilation"], 1)
    xp = backend.array_module(x.device)
    fast = im2col_view(xp, padded_source(xp, x.data, g), g)
    slow = R.patches(x, geo["w_shape"][2:], geo["stride"], geo["padding"], geo["dilation"])
    np.testing.assert_array_equal(backend.to_host(fast), slow.numpy())


def test_reference_conv_gradient_against_finite_differences():
    x = Tensor(normal((1, 2, 5, 5), 0), dtype=np.float64, requires_grad=True)
    w = Tensor(normal((3, 2, 3, 3), 1), dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda a, b: R.conv2d(a, b, stride=2, padding=1), x, w)


# ----------------------------------------------------------------------------- pooling

# average pooling is a convolution of each channel with a constant kernel: its input
# needing no gradient sends it down the blocked path
AVG_POOL_PATHS = [Path("whole", (True,)), Path("whole, input gradient a row at a time", (True,), 1),
                  Path("inference, one block", (False,), None),
                  Path("inference, blocks of one sample", (False,), 1)]
MAX_POOL_PATHS = [Path("training", (True,)), Path("inference", (False,))]


@settings(deadline=None)
@given(pool_geometry(), seeds)
def test_pools_equal_their_references(geo, seed):
    kw = {k: geo[k] for k in ("kernel_size", "stride", "padding")}
    x = distinct(geo["x_shape"], seed)  # no ties: one maximum per window
    same_values_and_gradients(lambda t: F.max_pool2d(t, **kw), lambda t: R.max_pool2d(t, **kw),
                              (x,), seed, MAX_POOL_PATHS)
    same_values_and_gradients(lambda t: F.avg_pool2d(t, **kw), lambda t: R.avg_pool2d(t, **kw),
                              (x,), seed, AVG_POOL_PATHS)


def test_max_pool_reference_keeps_the_first_maximum_rule():
    x = np.zeros((1, 1, 4, 4))  # every window is one big tie
    same_values_and_gradients(lambda t: F.max_pool2d(t, 2), lambda t: R.max_pool2d(t, 2), (x,))
    same_values_and_gradients(lambda t: F.max_pool2d(t, 3, 1, 1),
                              lambda t: R.max_pool2d(t, 3, 1, 1), (x,))


# ----------------------------------------------------------------------------- dense layers

LINEAR_PATHS = [Path("training", (True, True, True)), Path("first layer", (False, True, True)),
                Path("frozen layer", (True, False, False)),
                Path("inference", (False, False, False))]


@pytest.mark.parametrize("x_shape", [(5, 7), (2, 3, 7)])
def test_linear_equals_its_reference(x_shape):
    x, w, b = normal(x_shape, 1), normal((4, 7), 2), normal((4,), 3)
    same_values_and_gradients(F.linear, R.linear, (x, w, b), 0, LINEAR_PATHS)
    same_values_and_gradients(F.linear, R.linear, (x, w), 0, trimmed(LINEAR_PATHS, 2))


ONE_INPUT_PATHS = [Path("training", (True,)), Path("inference", (False,))]


def test_leaky_relu_equals_its_reference():
    x = normal((4, 6), 8)
    same_values_and_gradients(lambda t: F.leaky_relu(t, 0.2),
                              lambda t: R.leaky_relu(t, 0.2), (x,), 0, ONE_INPUT_PATHS)


# ----------------------------------------------------------------------------- softmax, losses

@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_and_log_softmax_equal_their_references(axis):
    x = normal((3, 4, 5), 4) * 3
    same_values_and_gradients(lambda t: F.log_softmax(t, axis=axis),
                              lambda t: R.log_softmax(t, axis=axis), (x,), 0, ONE_INPUT_PATHS)
    same_values_and_gradients(lambda t: F.softmax(t, axis=axis),
                              lambda t: R.softmax(t, axis=axis), (x,), 0, ONE_INPUT_PATHS)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_equal_their_references(reduction):
    logits, target = normal((6, 5), 4) * 3, np.array([0, 4, 2, 2, 1, 3])
    scores = [Path("training", (True, False)), Path("inference", (False, False))]
    for fast, slow in ((F.cross_entropy, R.cross_entropy), (F.nll_loss, R.nll_loss)):
        same_values_and_gradients(lambda s, t, fn=fast: fn(s, t, reduction=reduction),
                                  lambda s, t, fn=slow: fn(s, t, reduction=reduction),
                                  (logits, target), 0, scores)
    pairs = [Path("both", (True, True)), Path("input only", (True, False)),
             Path("target only", (False, True)), Path("inference", (False, False))]
    same_values_and_gradients(lambda x, y: F.mse_loss(x, y, reduction=reduction),
                              lambda x, y: R.mse_loss(x, y, reduction=reduction),
                              (logits, normal((6, 5), 5)), 0, pairs)


def test_softmax_family_and_losses_equal_their_references():
    logits, target = normal((6, 5), 4) * 3, np.array([0, 4, 2, 2, 1, 3])
    same_values_and_gradients(lambda t: F.log_softmax(t, axis=1),
                              lambda t: R.log_softmax(t, axis=1), (logits,))
    same_values_and_gradients(lambda t: F.softmax(t, axis=0), lambda t: R.softmax(t, axis=0),
                              (logits,))
    same_values_and_gradients(F.cross_entropy, R.cross_entropy, (logits, target))
    same_values_and_gradients(F.nll_loss, R.nll_loss, (logits, target))
    same_values_and_gradients(F.mse_loss, R.mse_loss, (logits, normal((6, 5), 5)))


@given(st.integers(1, 4), st.integers(1, 5), seeds)
def test_nll_loss_of_log_softmax_is_cross_entropy(n, classes, seed):
    """Both twins and both fast ops agree: cross-entropy is NLL of the log-softmax."""
    logits = normal((n, classes), seed)
    target = np.random.default_rng(seed).integers(0, classes, n)
    composed = lambda s, t: F.nll_loss(F.log_softmax(s, axis=1), t)  # noqa: E731
    same_values_and_gradients(F.cross_entropy, composed, (logits, target), seed)
    same_values_and_gradients(F.cross_entropy, R.cross_entropy, (logits, target), seed)


def test_both_losses_stay_finite_at_huge_logits():
    logits = np.array([[1e4, 0.0], [0.0, -1e4]])  # each row: log(1 + e^-1e4) + 1e4
    for fn in (F.cross_entropy, R.cross_entropy):
        assert fn(Tensor(logits, dtype=np.float32), np.array([1, 1])).item() == 1e4
