"""Tensor construction, dtype policy, conversion, factories, repr and error messages."""

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor


def _on_cpu(*args, **kwargs):
    """A CPU tensor whatever the default device (for exact text of reprs)."""
    return Tensor(*args, device="cpu", **kwargs)


def test_float_data_becomes_float32_unless_dtype_given():
    assert Tensor([[1.0, 2.0]]).dtype == np.float32
    assert Tensor(np.zeros((2, 3))).dtype == np.float32
    assert Tensor(np.zeros((2, 3)), dtype=np.float64).dtype == np.float64
    assert Tensor(3.5).shape == ()


def test_integer_data_stays_integer_and_cannot_require_grad():
    labels = Tensor(np.array([1, 2, 3]))
    assert labels.dtype == np.int64 and not labels.requires_grad
    assert Tensor([1, 2]).dtype == np.int64
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        Tensor([1, 2], requires_grad=True)


def test_attributes():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.device == tg.default_device()
    assert x.grad is None and x.requires_grad and x.is_leaf


def test_numpy_item_and_to():
    x = Tensor([[1.5]])
    assert isinstance(x.numpy(), np.ndarray)
    assert x.item() == 1.5
    assert x.to(x.device) is x and x.to("cpu").device == "cpu"
    with pytest.raises(ValueError, match="2 elements"):
        Tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError, match="valid devices"):
        x.to("tpu")


def test_numpy_array_on_the_left_gives_a_tensor():
    out = np.array([1.0, 2.0]) + Tensor([1.0, 1.0])
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.numpy(), [2.0, 3.0])
    out = np.array([2.0]) * Tensor([3.0], requires_grad=True)
    assert isinstance(out, Tensor) and out.requires_grad


def test_python_scalars_keep_float32():
    x = Tensor([1.0, 2.0])
    for y in (x * 2, 2 * x, x / 3, x**2, 1 - x, x + 0.5):
        assert y.dtype == np.float32


def test_comparisons_return_bool_tensors_without_grad():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == np.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.numpy(), [False, True, True])
    np.testing.assert_array_equal((x == Tensor([1.0, 0.0, 3.0])).numpy(), [True, False, True])
    np.testing.assert_array_equal((2 <= x).numpy(), [False, True, True])


def test_shape_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"add \(\+\): shapes \(2, 3\) and \(4,\)"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"mul \(\*\): shapes \(2,\) and \(3,\)"):
        Tensor(np.ones(2)) * np.ones(3)
    with pytest.raises(ValueError, match=r"matmul \(@\): shapes \(2, 3\) and \(2, 3\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: .*\(2, 3\).*\(4, 2\)"):
        Tensor(np.ones((2, 3))).reshape(4, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        Tensor(np.ones((2, 3))).transpose(0, 0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        Tensor(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(IndexError, match=r"getitem: .*\(2, 3\)"):
        Tensor(np.ones((2, 3)))[5]


def test_factories_and_manual_seed():
    tg.manual_seed(7)
    a = Tensor.randn(3, 4)
    u = Tensor.uniform(-1, 1, (2, 2))
    tg.manual_seed(7)
    b = Tensor.randn(3, 4)
    v = Tensor.uniform(-1, 1, (2, 2))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert a.dtype == np.float32 and ((u.numpy() >= -1) & (u.numpy() < 1)).all()
    z = Tensor.zeros(2, 3, requires_grad=True)
    assert z.requires_grad and z.shape == (2, 3) and not z.numpy().any()
    assert Tensor.ones((2, 2)).numpy().sum() == 4
    assert Tensor.zeros(2, device="cpu").device == "cpu"
    for make in (lambda: Tensor.zeros(2, dtype=np.float64),
                 lambda: Tensor.ones(2, dtype=np.float64),
                 lambda: Tensor.randn(2, dtype=np.float64),
                 lambda: Tensor.uniform(0, 1, 2, dtype=np.float64),
                 lambda: Tensor.full(2, 3.0, dtype=np.float64)):
        assert make().dtype == np.float64


def test_repr_shows_values_and_grad_tracking():
    assert repr(Tensor([1.0, 2.0], device="cpu")) == "tensor([1., 2.])"
    if tg.default_device() == "cuda":
        assert repr(Tensor([1.0, 2.0])) == "tensor([1., 2.], device='cuda')"
    assert repr(_on_cpu([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    y = _on_cpu([1.0], requires_grad=True) * 2
    assert repr(y) == "tensor([2.], grad_fn=<MulBackward>)"
    assert "dtype=float64" in repr(_on_cpu([1.0], dtype=np.float64))


def test_requires_grad_and_detach():
    x = Tensor([1.0]).requires_grad_()
    assert x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad_(False)


def test_getitem_with_tensor_index_and_list():
    x = Tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(x[Tensor(np.array([2, 0]))].numpy(), [[8, 9, 10, 11],
                                                                        [0, 1, 2, 3]])
    np.testing.assert_array_equal(x[[0, 0], [1, 3]].numpy(), [1, 3])


def test_argmax_and_len():
    x = Tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 1.0]])
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), [1, 0])
    assert len(x) == 2


def test_astype_is_differentiable_and_gradient_keeps_the_leaf_dtype():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.float() is not x and x.float().dtype == np.float32


def test_large_tensors_print_their_corners_only():
    x = Tensor(np.arange(2 * 10 * 10, dtype=np.float32).reshape(2, 10, 10))
    text = repr(x)
    assert text.startswith("tensor([[[  0.,   1.,   2., ...,   7.,   8.,   9.],\n")
    assert "..." in text and "199." in text and "shape=(2, 10, 10)" in text
    assert "45." not in text  # an entry away from every edge is not shown
    # small tensors print in full, as NumPy prints them
    assert repr(_on_cpu(np.eye(2))) == "tensor([[1., 0.],\n        [0., 1.]])"


def test_jupyter_html_summarises_tensor_and_module():
    from tinygrad_cnn.models import LeNet5

    x = Tensor(np.zeros((64, 1, 28, 28)), requires_grad=True)
    page = x._repr_html_()
    assert "(64, 1, 28, 28)" in page and "float32" in page and "<table>" in page
    assert page.count("...") >= 2  # summarised, not 50,176 numbers
    table = LeNet5()._repr_html_()
    assert "conv1" in table and "Conv2d(1, 6" in table and "61,706" in table


@pytest.mark.parametrize("index, message", [
    (np.array([0, 3]), r"index 3 is out of bounds for axis 0 with size 3"),
    (np.array([-4]), r"index -4 is out of bounds for axis 0 with size 3"),
    ((slice(None), np.array([4])), r"index 4 is out of bounds for axis 1 with size 4"),
    ((Ellipsis, 5), r"index 5 is out of bounds for axis 1 with size 4"),
    (7, r"index 7 is out of bounds for axis 0 with size 3"),
])
def test_out_of_range_indices_raise_before_indexing(index, message):
    x = Tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.raises(IndexError, match=message):
        x[index]


def test_empty_integer_index_gives_empty_result_and_zero_gradient():
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    y = x[np.array([], dtype=np.int64)]
    assert y.shape == (0, 4)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


def test_where_arrays_live():
    from tinygrad_cnn.tensor import onto, place

    assert place([1.0]) == tg.default_device() == place(np.zeros(2))
    assert place(np.zeros(2), device="cpu") == "cpu"
    t = Tensor([1.0])
    assert place(t) == t.device
    assert onto(np.zeros(2), t, "grad").shape == (2,)


# ----------------------------------------------------------------------------- NumPy reads a Tensor

def test_numpy_reads_a_tensor_as_an_array():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == (2, 2)
    np.testing.assert_array_equal(a, [[1, 2], [3, 4]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.mean(t) == 2.5 and isinstance(np.mean(t), np.floating)
    np.testing.assert_array_equal(np.mean(t, axis=0), [2.0, 3.0])
    assert np.max(t) == 4.0 and np.std(Tensor([1.0, 3.0])) == 1.0
    np.testing.assert_array_equal(np.concatenate([t, t]).shape, (4, 2))
    np.testing.assert_array_equal(np.asarray([Tensor(1.0), Tensor(2.0)]), [1.0, 2.0])
    np.testing.assert_allclose(t, [[1, 2], [3, 4]])  # assert_allclose reads it too


def test_numpy_conversion_copies_when_asked_and_only_then():
    t = Tensor([1.0, 2.0], device="cpu")
    assert np.shares_memory(np.asarray(t), t.data)
    assert not np.shares_memory(np.array(t), t.data)  # np.array copies by default
    assert not np.shares_memory(np.asarray(t, copy=True), t.data)
    assert np.shares_memory(np.asarray(t, copy=False), t.data)
    with pytest.raises(ValueError, match="cannot be read without a copy"):
        np.asarray(t, dtype=np.float64, copy=False)


def test_numpy_refuses_a_tensor_that_requires_grad_while_recording_as_pytorch():
    x = Tensor([1.0, 2.0], requires_grad=True)
    for read in (np.asarray, np.mean, lambda t: np.asarray(t * 2)):
        with pytest.raises(RuntimeError, match=r"requires grad to a NumPy array .* t\.detach"):
            read(x)
    np.testing.assert_array_equal(np.asarray(x.detach()), [1.0, 2.0])
    with tg.no_grad():
        np.testing.assert_array_equal(np.asarray(x), [1.0, 2.0])


# ----------------------------------------------------------------------------- PyTorch's numbers

def test_mean_of_nothing_is_nan_silently_as_pytorch():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = Tensor(np.zeros((0, 3)), requires_grad=True)
        assert np.isnan(Tensor([]).mean().item())
        np.testing.assert_array_equal(empty.mean(axis=0).numpy(), [np.nan] * 3)
        assert empty.mean(axis=1).shape == (0,)
        empty.mean().backward()
    assert empty.grad.shape == (0, 3) and empty.mean().dtype == np.float32


def test_integer_tensors_meet_floats_in_the_default_float_dtype():
    i = Tensor([1, 2, 3])
    for y in (i * 0.5, 0.5 * i, i / 2, 2 / i, i / Tensor([1, 2, 3]), i - 1.5, i ** 2.0,
              2.0 ** i, i + Tensor([0.5, 0.5, 0.5]), Tensor([True, False, True]) * 0.5,
              i.mean()):
        assert y.dtype == np.float32, y
    np.testing.assert_allclose((i / 2).numpy(), [0.5, 1.0, 1.5])
    assert (i * 2).dtype == np.int64 and (i + Tensor([1, 1, 1], dtype=np.int32)).dtype == np.int64
    assert (Tensor([True]) + 1).tolist() == [2]  # as PyTorch, not a logical or
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * Tensor([2, 3])).sum().backward()  # the integer operand is cast, the gradient flows
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 3.0]


def test_iterating_gives_rows_and_a_zero_d_tensor_refuses_as_pytorch():
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(Tensor(1.0))
    rows = list(Tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
    assert [r.item() for r in Tensor([5.0, 6.0])] == [5.0, 6.0]


@pytest.mark.parametrize("axis", [np.int64(1), np.int32(-1), (np.int64(0), 1), [np.intp(1)]])
def test_numpy_integers_are_axes(axis):
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    expected = np.arange(6.0).reshape(2, 3).sum(axis=tuple(np.atleast_1d(axis).tolist()))
    np.testing.assert_allclose(x.sum(axis=axis).numpy(), expected)
    assert x.mean(axis=axis).shape == expected.shape
    assert x.max(axis=axis).shape == expected.shape == x.min(axis=axis).shape
    x.sum(axis=axis).sum().backward()
    if not isinstance(axis, (tuple, list)):
        assert x.argmax(axis=axis).shape == expected.shape
        assert tg.nn.functional.softmax(x, axis=axis).shape == (2, 3)


def test_axis_errors_name_the_op():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="sum: axis 2 is out of range"):
        x.sum(axis=np.int64(2))
    with pytest.raises(TypeError, match="mean: axis must be an int or a sequence of ints"):
        x.mean(axis=1.0)
    with pytest.raises(ValueError, match=r"max: axis True is out of range"):
        x.max(axis=(True,))
    with pytest.raises(TypeError, match="argmax: axis must be an int or None"):
        x.argmax(axis=(0,))
