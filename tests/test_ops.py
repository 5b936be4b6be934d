"""Every Tensor op: forward against NumPy, gradient against finite differences in float64,
and both against PyTorch when it is installed."""

import numpy as np
import pytest
from helpers import OpCase, check_op, check_op_torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_cnn import Tensor
from tinygrad_cnn.testing import gradcheck

rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    """Values with |x| >= 0.1, so kinks (relu, abs) are never straddled by finite differences."""
    x = rng.uniform(0.1, 2.0, shape)
    return x * rng.choice([-1.0, 1.0], shape)


def distinct(*shape):
    """A permutation of well-separated values: no ties for max/min."""
    return rng.permutation(np.arange(int(np.prod(shape)), dtype=float)).reshape(shape) * 0.1


CASES = [
    # elementwise binary, with broadcasting on both sides
    OpCase("add", lambda a, b: a + b, np.add, (randn(3, 4), randn(4)),
           torch_op=lambda a, b: a + b),
    OpCase("sub", lambda a, b: a - b, np.subtract, (randn(2, 1, 3), randn(4, 1)),
           torch_op=lambda a, b: a - b),
    OpCase("mul", lambda a, b: a * b, np.multiply, (randn(3, 1), randn(1, 5)),
           torch_op=lambda a, b: a * b),
    OpCase("div", lambda a, b: a / b, np.divide, (randn(2, 3), away_from_zero(3)),
           torch_op=lambda a, b: a / b),
    OpCase("pow", lambda a, b: a**b, np.power, (positive(2, 3), randn(2, 3)),
           torch_op=lambda a, b: a**b),
    OpCase("scalar_radd", lambda a: 2.5 + a, lambda a: 2.5 + a, (randn(3),),
           torch_op=lambda a: 2.5 + a),
    OpCase("scalar_rsub", lambda a: 1 - a, lambda a: 1 - a, (randn(3, 2),),
           torch_op=lambda a: 1 - a),
    OpCase("scalar_mul", lambda a: a * 3, lambda a: a * 3, (randn(4),),
           torch_op=lambda a: a * 3),
    OpCase("scalar_rdiv", lambda a: 1 / a, lambda a: 1 / a, (away_from_zero(2, 2),),
           torch_op=lambda a: 1 / a),
    OpCase("scalar_pow", lambda a: a**2, lambda a: a**2, (randn(3, 3),),
           torch_op=lambda a: a**2),
    OpCase("scalar_rpow", lambda a: 2**a, lambda a: 2**a, (randn(3),),
           torch_op=lambda a: 2**a),
    # unary
    OpCase("neg", lambda a: -a, np.negative, (randn(2, 3),), torch_op=lambda a: -a),
    OpCase("exp", lambda a: a.exp(), np.exp, (randn(2, 3),), torch_op=lambda a: a.exp()),
    OpCase("log", lambda a: a.log(), np.log, (positive(2, 3),), torch_op=lambda a: a.log()),
    OpCase("sqrt", lambda a: a.sqrt(), np.sqrt, (positive(4),), torch_op=lambda a: a.sqrt()),
    OpCase("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), (away_from_zero(3, 4),),
           torch_op=lambda a: a.relu()),
    OpCase("sigmoid", lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), (randn(3, 4) * 3,),
           torch_op=lambda a: a.sigmoid()),
    OpCase("tanh", lambda a: a.tanh(), np.tanh, (randn(3, 4),), torch_op=lambda a: a.tanh()),
    OpCase("abs", lambda a: a.abs(), np.abs, (away_from_zero(5),), torch_op=lambda a: a.abs()),
    # matmul, every shape combination NumPy allows
    OpCase("matmul_2d", lambda a, b: a @ b, np.matmul, (randn(3, 4), randn(4, 2)),
           torch_op=lambda a, b: a @ b),
    OpCase("matmul_batched", lambda a, b: a @ b, np.matmul, (randn(2, 3, 4), randn(2, 4, 5)),
           torch_op=lambda a, b: a @ b),
    OpCase("matmul_broadcast", lambda a, b: a @ b, np.matmul, (randn(2, 1, 3, 4), randn(5, 4, 2)),
           torch_op=lambda a, b: a @ b),
    OpCase("matmul_vec_mat", lambda a, b: a @ b, np.matmul, (randn(4), randn(4, 3)),
           torch_op=lambda a, b: a @ b),
    OpCase("matmul_mat_vec", lambda a, b: a @ b, np.matmul, (randn(2, 3, 4), randn(4)),
           torch_op=lambda a, b: a @ b),
    OpCase("matmul_dot", lambda a, b: a @ b, np.matmul, (randn(4), randn(4)),
           torch_op=lambda a, b: a @ b),
    # reductions
    OpCase("sum_all", lambda a: a.sum(), np.sum, (randn(3, 4),), torch_op=lambda a: a.sum()),
    OpCase("sum_axis", lambda a: a.sum(axis=1), lambda a: a.sum(axis=1), (randn(2, 3, 4),),
           torch_op=lambda a: a.sum(dim=1)),
    OpCase("sum_axes_keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True),
           lambda a: a.sum(axis=(0, 2), keepdims=True), (randn(2, 3, 4),),
           torch_op=lambda a: a.sum(dim=(0, 2), keepdim=True)),
    OpCase("sum_negative_axis", lambda a: a.sum(axis=-1), lambda a: a.sum(axis=-1),
           (randn(3, 4),), torch_op=lambda a: a.sum(dim=-1)),
    OpCase("mean_all", lambda a: a.mean(), np.mean, (randn(3, 4),), torch_op=lambda a: a.mean()),
    OpCase("mean_axis_keepdims", lambda a: a.mean(axis=0, keepdims=True),
           lambda a: a.mean(axis=0, keepdims=True), (randn(3, 4),),
           torch_op=lambda a: a.mean(dim=0, keepdim=True)),
    OpCase("max_all", lambda a: a.max(), np.max, (distinct(3, 4),), torch_op=lambda a: a.max()),
    OpCase("max_axis", lambda a: a.max(axis=1), lambda a: a.max(axis=1), (distinct(2, 5, 3),),
           torch_op=lambda a: a.max(dim=1).values),
    OpCase("max_axes_keepdims", lambda a: a.max(axis=(0, 2), keepdims=True),
           lambda a: a.max(axis=(0, 2), keepdims=True), (distinct(2, 3, 4),),
           torch_op=lambda a: a.amax(dim=(0, 2), keepdim=True)),
    OpCase("min_axis", lambda a: a.min(axis=0), lambda a: a.min(axis=0), (distinct(4, 3),),
           torch_op=lambda a: a.min(dim=0).values),
    # movement
    OpCase("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), (randn(2, 6),),
           torch_op=lambda a: a.reshape(4, -1)),
    OpCase("transpose_axes", lambda a: a.transpose(2, 0, 1), lambda a: a.transpose(2, 0, 1),
           (randn(2, 3, 4),), torch_op=lambda a: a.permute(2, 0, 1)),
    OpCase("transpose_reverse", lambda a: a.transpose(), lambda a: a.transpose(),
           (randn(2, 3, 4),), torch_op=lambda a: a.permute(2, 1, 0)),
    OpCase("T", lambda a: a.T, lambda a: a.T, (randn(3, 5),), torch_op=lambda a: a.T),
    OpCase("flatten", lambda a: a.flatten(1), lambda a: a.reshape(2, -1), (randn(2, 3, 4),),
           torch_op=lambda a: a.flatten(1)),
    OpCase("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], (randn(4, 5),),
           torch_op=lambda a: a[1:, ::2]),
    OpCase("getitem_int", lambda a: a[1], lambda a: a[1], (randn(3, 4),),
           torch_op=lambda a: a[1]),
    OpCase("getitem_array_repeats", lambda a: a[np.array([0, 2, 0, 0])],
           lambda a: a[np.array([0, 2, 0, 0])], (randn(3, 4),),
           torch_op=lambda a: a[np.array([0, 2, 0, 0])]),
    OpCase("getitem_two_arrays", lambda a: a[np.arange(3), np.array([1, 0, 1])],
           lambda a: a[np.arange(3), np.array([1, 0, 1])], (randn(3, 4),),
           torch_op=lambda a: a[np.arange(3), np.array([1, 0, 1])]),
    OpCase("getitem_mixed", lambda a: a[:, np.array([2, 2, 0]), 1:],
           lambda a: a[:, np.array([2, 2, 0]), 1:], (randn(2, 3, 4),),
           torch_op=lambda a: a[:, np.array([2, 2, 0]), 1:]),
    OpCase("pad", lambda a: a.pad(((0, 0), (1, 2))), lambda a: np.pad(a, ((0, 0), (1, 2))),
           (randn(2, 3),), torch_op=lambda a: __import__("torch").nn.functional.pad(a, (1, 2))),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check_op(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.torch_op], ids=str)
def test_op_against_torch(case):
    pytest.importorskip("torch")
    check_op_torch(case)


def test_every_contract_op_has_a_case():
    """The contract's Tensor section, op by op: each must appear in the table."""
    names = {c.name.split("_")[0] for c in CASES} | {c.name for c in CASES}
    contract = ["add", "sub", "mul", "div", "pow", "neg", "matmul", "exp", "log", "sqrt",
                "relu", "sigmoid", "tanh", "abs", "sum", "mean", "max", "reshape",
                "transpose", "T", "flatten", "getitem", "pad"]
    assert [op for op in contract if op not in names] == []


def test_relu_backward_keeps_a_mask_not_the_output():
    """The graph holds ReLU's mask (a byte a value), so its output's memory goes back as
    soon as nothing else uses it, and the gradient is still exact."""
    import gc
    import weakref
    x = Tensor(np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]], dtype=np.float32),
               requires_grad=True)
    y = x.relu()
    out_memory = weakref.ref(y.data)
    loss = y.sum()
    del y
    gc.collect()
    assert out_memory() is None
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 1], [1, 0, 1]])


def test_relu_gradient_at_zero_is_zero():
    x = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


def test_max_sends_gradient_to_first_maximum():
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    y = Tensor([[5.0, 1.0], [5.0, 5.0]], requires_grad=True)
    y.max().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[1, 0], [0, 0]])


def test_sigmoid_is_finite_for_huge_inputs():
    x = Tensor([-1e4, 0.0, 1e4], requires_grad=True)
    y = x.sigmoid()
    np.testing.assert_allclose(y.numpy(), [0.0, 0.5, 1.0])
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


# ----------------------------------------------------------------------------- hypothesis

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
}


@st.composite
def broadcast_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    max_side=3))
    a_shape, b_shape = shapes.input_shapes
    floats = st.floats(0.2, 2.0)
    a = draw(hnp.arrays(np.float64, a_shape, elements=floats))
    b = draw(hnp.arrays(np.float64, b_shape, elements=floats))
    sign = draw(hnp.arrays(np.float64, b_shape, elements=st.sampled_from([-1.0, 1.0])))
    return a, b * sign


@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcast_pair())
def test_binary_ops_under_broadcasting(name, pair):
    a, b = pair
    if name == "pow":
        b = np.abs(b)  # positive base and exponent keep the power real
    op, ref = BINARY[name]
    check_op(OpCase(name, op, ref, (a, b)))


@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                 elements=st.floats(-3, 3)),
    data=st.data(),
)
def test_reductions_over_drawn_axes(x, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1),
                               st.lists(st.integers(0, x.ndim - 1), min_size=1, unique=True)
                               .map(tuple)))
    keepdims = data.draw(st.booleans())
    check_op(OpCase("sum", lambda a: a.sum(axis=axis, keepdims=keepdims),
                    lambda a: a.sum(axis=axis, keepdims=keepdims), (x,)))
    check_op(OpCase("mean", lambda a: a.mean(axis=axis, keepdims=keepdims),
                    lambda a: a.mean(axis=axis, keepdims=keepdims), (x,)))
    ties_free = rng.permutation(x.size).reshape(x.shape) * 0.1
    check_op(OpCase("max", lambda a: a.max(axis=axis, keepdims=keepdims),
                    lambda a: a.max(axis=axis, keepdims=keepdims), (ties_free,)))


def test_gradcheck_reports_the_worst_element():
    from tinygrad_cnn.autograd import Function

    class WrongSquare(Function):
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        def backward(ctx, g):
            (x,) = ctx.saved
            wrong = 2 * x
            wrong.reshape(-1)[3] += 1.0  # one bad element
            return g * wrong

    x = Tensor(np.arange(6.0).reshape(2, 3), dtype=np.float64, requires_grad=True)
    with pytest.raises(AssertionError, match=r"element \(1, 0\)"):
        gradcheck(lambda t: WrongSquare.apply(t), x)
    assert gradcheck(lambda t: t * t, x)
