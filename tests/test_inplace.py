"""In-place tensor ops with PyTorch's names and rules (tinygrad_cnn/tensor_inplace.py):
values, dtype/shape/device rules, autograd's rules, and versions that make backward()
refuse a graph whose inputs changed."""

import numpy as np
import pytest
from helpers import cupy_double_in_use

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, nn


def f64(values, **kwargs):
    return Tensor(np.asarray(values, dtype=np.float64), dtype=np.float64, **kwargs)


# ----------------------------------------------------------------------------- the SGD idiom

def _mlp(seed):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def _data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32)


def _manual_sgd(model, x, y, steps, lr):
    losses = []
    for _ in range(steps):
        for p in model.parameters():
            p.grad = None
        loss = nn.functional.cross_entropy(model(Tensor(x)), Tensor(y))
        loss.backward()
        with tg.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return losses


def test_manual_sgd_idiom_changes_the_model_and_the_loss_drops():
    model = _mlp(0)
    params = list(model.parameters())
    before = [p.numpy().copy() for p in params]
    versions = [p.version for p in params]
    x, y = _data()
    losses = _manual_sgd(model, x, y, steps=20, lr=0.5)
    # the same objects, changed in place
    assert all(p is q for p, q in zip(model.parameters(), params))
    assert [p.version for p in params] == [v + 20 for v in versions]
    assert not any(np.array_equal(b, p.numpy()) for b, p in zip(before, params))
    assert losses[-1] < 0.7 * losses[0]


def test_manual_sgd_idiom_matches_pytorch_step_for_step():
    torch = pytest.importorskip("torch")
    model = _mlp(0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        for p, q in zip(model.parameters(), ref.parameters()):
            q.copy_(torch.from_numpy(p.numpy().copy()))
    x, y = _data()
    ours = _manual_sgd(model, x, y, steps=5, lr=0.5)
    theirs = []
    for _ in range(5):
        ref.zero_grad()
        loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        with torch.no_grad():
            for q in ref.parameters():
                q -= 0.5 * q.grad
        theirs.append(loss.item())
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- values

def test_each_op_computes_and_returns_the_tensor_itself():
    t = Tensor([1.0, 2.0, 4.0])
    for call, expected in [
        (lambda: t.add_(Tensor([1.0, 1.0, 1.0]), alpha=2), [3.0, 4.0, 6.0]),
        (lambda: t.sub_(1.0, alpha=3), [0.0, 1.0, 3.0]),
        (lambda: t.mul_(Tensor([2.0])), [0.0, 2.0, 6.0]),
        (lambda: t.div_(2), [0.0, 1.0, 3.0]),
        (lambda: t.__iadd__(1), [1.0, 2.0, 4.0]),
        (lambda: t.__isub__(np.array([1.0, 1.0, 1.0])), [0.0, 1.0, 3.0]),
        (lambda: t.__imul__(3), [0.0, 3.0, 9.0]),
        (lambda: t.__itruediv__(Tensor([1.0, 3.0, 9.0])), [0.0, 1.0, 1.0]),
        (lambda: t.fill_(7), [7.0, 7.0, 7.0]),
        (lambda: t.fill_(Tensor(2.5)), [2.5, 2.5, 2.5]),
        (lambda: t.copy_(Tensor([5, 6, 7])), [5.0, 6.0, 7.0]),
        (lambda: t.copy_(Tensor(1.5)), [1.5, 1.5, 1.5]),
        (lambda: t.zero_(), [0.0, 0.0, 0.0]),
    ]:
        data = t.data
        assert call() is t
        assert t.data is data and t.dtype == np.float32
        np.testing.assert_array_equal(t.numpy(), expected)
    assert t.version == 13


def test_operators_change_the_object_other_names_hold():
    t = Tensor([2.0, 4.0])
    alias = t
    t += 1
    t *= 2
    t -= Tensor([1.0, 1.0])
    t /= 5
    assert t is alias
    np.testing.assert_allclose(alias.numpy(), [1.0, 1.8])


def test_a_change_through_detach_or_a_view_is_a_change_of_the_tensor():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x.detach().add_(1)
    np.testing.assert_array_equal(x.numpy(), [[2.0, 3.0], [4.0, 5.0]])
    assert x.version == 1
    with tg.no_grad():
        x[0].zero_()
        x.T[1].fill_(9)
        x.reshape(4)[0].add_(1)  # one element: a 0-d view, as in PyTorch
    np.testing.assert_array_equal(x.numpy(), [[1.0, 9.0], [4.0, 9.0]])
    assert x.version == 4


# ----------------------------------------------------------------------------- dtype, shape, device

def test_dtype_rules_follow_pytorch():
    f = Tensor([1.0, 2.0])
    f.add_(Tensor([1, 2]))  # an integer operand into a float tensor
    f.add_(Tensor([0.5, 0.5], dtype=np.float64))  # float64 is cast to the tensor's float32
    f.mul_(True)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f.numpy(), [2.5, 4.5])
    i = Tensor([1, 2, 3])
    i.mul_(2)
    i += True
    np.testing.assert_array_equal(i.numpy(), [3, 5, 7])
    for bad in (lambda: i.add_(0.5), lambda: i.__iadd__(Tensor([1.0, 2.0, 3.0])),
                lambda: i.div_(2), lambda: i.__itruediv__(1)):
        with pytest.raises(RuntimeError, match="result is floating-point but the tensor is int64"):
            bad()
    with pytest.raises(RuntimeError, match="alpha must be an integer for a int64 tensor"):
        i.add_(1, alpha=0.5)
    b = Tensor([True, False])
    with pytest.raises(RuntimeError, match="result is integer but the tensor is bool"):
        b.add_(1)
    with pytest.raises(RuntimeError, match="subtraction of bool tensors"):
        b.sub_(Tensor([True, True]))
    np.testing.assert_array_equal(i.numpy(), [3, 5, 7])  # refused before writing


def test_copy_and_fill_cast_like_pytorch():
    i = Tensor([0, 0, 0])
    i.copy_(Tensor([1.7, -1.7, 2.5]))
    np.testing.assert_array_equal(i.numpy(), [1, -1, 2])
    i.fill_(1.5)
    np.testing.assert_array_equal(i.numpy(), [1, 1, 1])
    with pytest.raises(TypeError, match="copy_: src must be a Tensor, got ndarray"):
        i.copy_(np.ones(3))
    with pytest.raises(RuntimeError, match="0-d tensor, got a tensor of shape \\(1,\\)"):
        i.fill_(Tensor([1]))


def test_other_operand_broadcasts_to_the_tensors_shape_only():
    t = Tensor(np.zeros((2, 3)))
    t.add_(Tensor([1.0, 2.0, 3.0]))
    t.add_(Tensor([[1.0], [2.0]]))
    np.testing.assert_array_equal(t.numpy(), [[2, 3, 4], [3, 4, 5]])
    v = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"shape \(2, 3\) does not broadcast to the tensor's "
                                         r"shape \(3,\)"):
        v.add_(t)
    with pytest.raises(ValueError, match=r"shape \(2,\) does not broadcast"):
        v.copy_(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="does not broadcast"):
        Tensor(1.0).add_(Tensor([1.0]))
    np.testing.assert_array_equal(v.numpy(), [1, 2, 3])


def test_a_zero_d_result_of_a_reduction_can_change_in_place():
    s = Tensor([1.0, 2.0]).sum()
    s += 1
    s.mul_(2)
    assert s.item() == 8.0


def test_operand_on_another_device_is_refused_and_copy_moves():
    a = Tensor([1.0, 2.0], device="cpu")
    b = Tensor([3.0, 4.0], device="cpu")
    b.device = "cuda"  # simulated: the check compares the tensors' device tags
    with pytest.raises(RuntimeError, match="operand is on cuda but the tensor is on cpu"):
        a.add_(b)
    a.copy_(Tensor([5.0, 6.0], device="cpu"))
    np.testing.assert_array_equal(a.numpy(), [5.0, 6.0])


# ----------------------------------------------------------------------------- autograd's rules

@pytest.mark.parametrize("change", [
    lambda p: p.add_(1), lambda p: p.sub_(1), lambda p: p.mul_(2), lambda p: p.div_(2),
    lambda p: p.__iadd__(1), lambda p: p.__isub__(1), lambda p: p.__imul__(2),
    lambda p: p.__itruediv__(2), lambda p: p.zero_(), lambda p: p.fill_(1),
    lambda p: p.copy_(Tensor([1.0, 2.0]))])
def test_a_leaf_that_requires_grad_refuses_while_recording_and_changes_under_no_grad(change):
    p = nn.Parameter(Tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad .* `with no_grad"):
        change(p)
    np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])
    assert p.version == 0
    with tg.no_grad():
        change(p)
    assert p.version == 1 and p.requires_grad and p.is_leaf


def test_backward_refuses_a_graph_whose_inputs_changed_in_place():
    w = Tensor([2.0, 3.0])  # needs no grad: only the version tells that Mul read it
    x = Tensor([1.0, 1.0], requires_grad=True)
    loss = (x * w).sum()
    w += 1
    with pytest.raises(RuntimeError, match=r"Mul: an input of shape \(2,\) was modified in "
                                           r"place"):
        loss.backward()
    x.grad = None
    (x * w).sum().backward()  # a graph built after the change is fine
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_backward_refuses_a_result_changed_under_no_grad_that_its_backward_needs():
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = x.exp()
    with tg.no_grad():
        y.mul_(2)  # PyTorch allows this, and its backward() then refuses
    with pytest.raises(RuntimeError, match="Exp: its result was modified in place"):
        y.sum().backward()


def test_backward_refuses_a_leaf_changed_through_detach():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    x.detach().zero_()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_results_record_the_change_in_their_history_as_pytorch():
    x = f64([1.0, 2.0], requires_grad=True)
    w = f64([3.0, 5.0], requires_grad=True)
    total = 0
    for k in range(1, 4):
        total += (x * k).sum()  # PyTorch's loss accumulation idiom
    y = x * 2
    y *= w  # a non-leaf times a leaf: Mul needs the values before the change
    y -= x
    acc = Tensor(np.zeros(2), dtype=np.float64)
    acc += w  # a plain tensor given an operand that requires grad
    (total + y.sum() + (acc * acc).sum()).backward()
    assert not acc.is_leaf and acc.requires_grad
    np.testing.assert_allclose(x.grad.numpy(), 6 + 2 * w.numpy() - 1)
    np.testing.assert_allclose(w.grad.numpy(), 2 * x.numpy() + 2 * w.numpy())


def test_recorded_changes_refuse_where_backward_would_read_changed_values():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    with pytest.raises(RuntimeError, match="Exp's backward needs the result it computed"):
        y += 1
    z = x * 1
    with pytest.raises(RuntimeError, match=r"this tensor is a view \(GetItem\)"):
        z[0].add_(1)
    np.testing.assert_allclose(y.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)  # unchanged
    with pytest.raises(RuntimeError, match="fill_ is not recorded by autograd"):
        z.fill_(0)
    with pytest.raises(RuntimeError, match="copy_ is not recorded by autograd"):
        Tensor([0.0, 0.0]).copy_(x)
    with tg.no_grad():
        Tensor([0.0, 0.0]).copy_(x)  # fine: nothing to record


def test_zero_grad_in_place_zeroes_the_gradient_objects():
    layer = nn.Linear(2, 2)
    layer(Tensor(np.ones((1, 2)))).sum().backward()
    grad = layer.weight.grad
    layer.zero_grad(set_to_none=False)
    assert layer.weight.grad is grad
    np.testing.assert_array_equal(grad.numpy(), 0.0)


@pytest.mark.skipif(not tg.backend.cuda_status()[0], reason="needs the GPU (or the CuPy double)")
def test_in_place_ops_on_the_gpu_stay_there_without_waiting_and_copy_moves_from_the_host():
    import contextlib

    a = Tensor([1.0, 2.0], device="cuda")
    p = nn.Parameter(Tensor([1.0, 1.0], device="cuda"))
    p.grad = Tensor([0.5, 1.0], device="cuda")
    double = cupy_double_in_use()  # counts the waits on the device
    with double.count() if double is not None else contextlib.nullcontext() as counts:
        a += 1
        a.mul_(Tensor([2.0, 3.0], device="cuda"))
        a.sub_(1.0, alpha=2)
        with tg.no_grad():
            p -= 0.1 * p.grad
    assert counts is None or counts.syncs == 0, counts.events
    assert a.device == "cuda" and tg.backend.device_of(a.data) == "cuda"
    np.testing.assert_allclose(np.asarray(a), [2.0, 7.0])  # a host read, asked for
    np.testing.assert_allclose(p.numpy(), [0.95, 0.9])
    a.copy_(Tensor([5.0, 6.0], device="cpu"))
    np.testing.assert_array_equal(a.numpy(), [5.0, 6.0])
    assert tg.backend.device_of(a.data) == "cuda"
