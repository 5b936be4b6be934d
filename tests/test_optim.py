"""Optimizers: 20 steps of each configuration against PyTorch, state dicts, validation.

The model is written with raw Tensor ops (no layers), so these tests depend only on the
core engine and the optimizers themselves.
"""

import numpy as np
import pytest

from tinygrad_cnn import Tensor, optim
from tinygrad_cnn.backend import to_host
from tinygrad_cnn.serialization import load, save

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.8, weight_decay=0.05, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]


def initial_weights(dtype):
    rng = np.random.default_rng(0)
    shapes = {"w1": (6, 5), "b1": (6,), "w2": (3, 6), "b2": (3,), "unused": (2,)}
    return {k: rng.standard_normal(s).astype(dtype) * 0.5 for k, s in shapes.items()}


def batches(dtype, steps=20):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((8, 5)).astype(dtype), rng.standard_normal((8, 3)).astype(dtype))
            for _ in range(steps)]


def ours_loss(p, x, y):
    h = (Tensor(x, dtype=x.dtype) @ p["w1"].T + p["b1"]).relu()
    out = h @ p["w2"].T + p["b2"]
    return ((out - Tensor(y, dtype=y.dtype)) ** 2).mean()


def run_ours(name, kwargs, dtype, steps=20):
    params = {k: Tensor(v, requires_grad=True, dtype=dtype)
              for k, v in initial_weights(dtype).items()}
    opt = getattr(optim, name)((p for p in params.values()), **kwargs)  # a generator works
    for x, y in batches(dtype, steps):
        opt.zero_grad()
        ours_loss(params, x, y).backward()
        opt.step()
    return {k: v.numpy() for k, v in params.items()}


def run_torch(name, kwargs, dtype, steps=20):
    torch = pytest.importorskip("torch")
    params = {k: torch.tensor(v, requires_grad=True) for k, v in initial_weights(dtype).items()}
    opt = getattr(torch.optim, name)(list(params.values()), **kwargs)
    for x, y in batches(dtype, steps):
        opt.zero_grad()
        h = torch.relu(torch.from_numpy(x) @ params["w1"].T + params["b1"])
        out = h @ params["w2"].T + params["b2"]
        ((out - torch.from_numpy(y)) ** 2).mean().backward()
        opt.step()
    return {k: v.detach().numpy() for k, v in params.items()}


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_twenty_steps_match_torch_float64(name, kwargs):
    expected = run_torch(name, kwargs, np.float64)
    got = run_ours(name, kwargs, np.float64)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-11, atol=1e-13, err_msg=key)
    # the unused parameter (grad None) is skipped, also by weight decay
    np.testing.assert_array_equal(got["unused"], initial_weights(np.float64)["unused"])


@pytest.mark.parametrize("name,kwargs", [CONFIGS[5], CONFIGS[8]], ids=[IDS[5], IDS[8]])
def test_twenty_steps_match_torch_float32(name, kwargs):
    expected = run_torch(name, kwargs, np.float32)
    got = run_ours(name, kwargs, np.float32)
    for key in expected:
        assert got[key].dtype == np.float32
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_first_sgd_step_by_hand():
    p = Tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    opt = optim.SGD([p], lr=0.5, momentum=0.9, weight_decay=0.1)
    p.grad = Tensor([0.2, 0.4], dtype=np.float64)
    opt.step()  # d = g + 0.1 p = [0.3, 0.2]; buffer = d; p -= 0.5 d
    np.testing.assert_allclose(p.numpy(), [0.85, -2.1])
    np.testing.assert_allclose(to_host(opt.state[p]["momentum_buffer"]), [0.3, 0.2])
    p.grad = Tensor([0.0, 0.0], dtype=np.float64)
    opt.step()  # d = 0.1 p = [0.085, -0.21]; buffer = 0.9 [0.3, 0.2] + d
    np.testing.assert_allclose(to_host(opt.state[p]["momentum_buffer"]), [0.355, -0.03])
    np.testing.assert_allclose(p.numpy(), [0.85 - 0.1775, -2.1 + 0.015])


def test_first_adam_step_moves_each_weight_by_lr():
    p = Tensor([1.0, -2.0, 3.0], requires_grad=True, dtype=np.float64)
    opt = optim.Adam([p], lr=0.1, eps=0.0)
    p.grad = Tensor([0.5, -3.0, 1e-3], dtype=np.float64)
    opt.step()  # bias-corrected m / sqrt(v) = sign(g) on the first step
    np.testing.assert_allclose(p.numpy(), [0.9, -1.9, 2.9])
    assert opt.state[p]["step"] == 1


def test_step_updates_in_place_and_leaves_grads_alone():
    for opt_type, kwargs in [(optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True,
                                              weight_decay=0.1)),
                             (optim.Adam, dict(weight_decay=0.1))]:
        p = Tensor(np.ones((3, 2)), requires_grad=True)
        data = p.data
        opt = opt_type([p], **kwargs)
        for _ in range(3):
            p.grad = Tensor(np.full((3, 2), 0.5))
            grad = p.grad.data
            opt.step()
            assert p.data is data
            np.testing.assert_array_equal(to_host(grad), 0.5)
        assert p.dtype == np.float32 and not np.allclose(p.numpy(), 1.0)


def test_param_group_lr_changes_take_effect():
    p = Tensor([1.0], requires_grad=True, dtype=np.float64)
    opt = optim.SGD([p], lr=1.0)
    opt.param_groups[0]["lr"] = 0.25
    p.grad = Tensor([1.0], dtype=np.float64)
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.75])


def test_param_groups_with_own_settings():
    a = Tensor([1.0], requires_grad=True, dtype=np.float64)
    b = Tensor([1.0], requires_grad=True, dtype=np.float64)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = Tensor([1.0], dtype=np.float64)
    b.grad = Tensor([1.0], dtype=np.float64)
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [0.9, 0.5])


def test_zero_grad():
    p = Tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([p])
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=-0.1), "learning rate"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "momentum"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda p: optim.Adam(p, lr=-1), "learning rate"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda p: optim.Adam(p, eps=-1e-8), "eps"),
    (lambda p: optim.SGD(p, lr="fast"), "lr must be a number"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD(iter([]), lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD(p + p, lr=0.1), "more than once"),
    (lambda p: optim.SGD([Tensor([1.0])], lr=0.1), "requires_grad"),
    (lambda p: optim.SGD([p[0] * 2], lr=0.1), "leaf"),
])
def test_invalid_settings(make, message):
    p = [Tensor([1.0], requires_grad=True)]
    with pytest.raises(ValueError, match=message):
        make(p)


def test_single_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(Tensor([1.0], requires_grad=True), lr=0.1)


@pytest.mark.parametrize("name,kwargs", [CONFIGS[5], CONFIGS[8]], ids=[IDS[5], IDS[8]])
def test_state_dict_resumes_exactly(name, kwargs, tmp_path):
    dtype = np.float64
    data = batches(dtype, 10)
    params = {k: Tensor(v, requires_grad=True, dtype=dtype)
              for k, v in initial_weights(dtype).items()}
    opt = getattr(optim, name)(list(params.values()), **kwargs)

    def train(ps, o, steps):
        for x, y in steps:
            o.zero_grad()
            ours_loss(ps, x, y).backward()
            o.step()

    train(params, opt, data[:5])
    save({"params": {k: v for k, v in params.items()}, "opt": opt.state_dict()},
         tmp_path / "ckpt.npz")
    state = opt.state_dict()
    assert sorted(state["state"]) == [0, 1, 2, 3]  # int keys; "unused" never had a grad
    assert state["param_groups"][0]["params"] == [0, 1, 2, 3, 4]
    for entry in state["state"].values():
        for value in entry.values():
            if isinstance(value, np.ndarray):
                value[...] = 123.0  # a copy: the optimizer is unaffected

    train(params, opt, data[5:])
    ckpt = load(tmp_path / "ckpt.npz")
    resumed = {k: Tensor(v, requires_grad=True, dtype=dtype) for k, v in ckpt["params"].items()}
    opt2 = getattr(optim, name)(list(resumed.values()), lr=123.0)
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    train(resumed, opt2, data[5:])
    for key in params:
        np.testing.assert_array_equal(resumed[key].numpy(), params[key].numpy(), err_msg=key)


def test_load_state_dict_checks_layout():
    a = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = Tensor(np.ones(3)), Tensor(np.ones(2))
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameters"):
        optim.SGD([a], lr=0.1, momentum=0.9).load_state_dict(state)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        optim.SGD([b, a], lr=0.1, momentum=0.9).load_state_dict(state)
    with pytest.raises(ValueError, match="not an optimizer state dict"):
        opt.load_state_dict({"model": 1})
    with pytest.raises(ValueError, match="learning rate"):
        opt.load_state_dict({**state, "param_groups": [{**state["param_groups"][0], "lr": -1}]})
    assert opt.param_groups[0]["lr"] == 0.1


def test_repr_lists_settings():
    opt = optim.Adam([Tensor([1.0], requires_grad=True)], lr=0.01)
    assert "Adam (" in repr(opt) and "lr: 0.01" in repr(opt)

