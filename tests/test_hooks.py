"""Module.register_forward_hook: call order, arguments, removal, output replacement."""

import numpy as np
import pytest

from tinygrad_cnn import Tensor, nn
from tinygrad_cnn.models import LeNet5


def test_hooks_see_module_inputs_and_output_in_call_order():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    seen = []

    def record(module, inputs, output):
        seen.append((module, inputs, output))

    handles = [m.register_forward_hook(record) for m in (model, model[0], model[1], model[2])]
    x = Tensor(np.arange(6.0).reshape(2, 3))
    out = model(x)
    # a child's hook fires when its forward returns, so children come before the container
    assert [m for m, _, _ in seen] == [model[0], model[1], model[2], model]
    assert seen[0][1][0] is x and isinstance(seen[0][1], tuple)
    assert seen[1][1][0] is seen[0][2] and seen[2][1][0] is seen[1][2]
    assert seen[3][2] is out and seen[2][2] is out
    for handle in handles:
        handle.remove()


def test_several_hooks_on_one_module_run_in_registration_order():
    layer = nn.ReLU()
    order = []
    layer.register_forward_hook(lambda m, i, o: order.append("first"))
    layer.register_forward_hook(lambda m, i, o: order.append("second"))
    layer(Tensor([1.0, -1.0]))
    assert order == ["first", "second"]


def test_remove_unregisters_only_that_hook_and_twice_is_harmless():
    layer = nn.Linear(2, 2)
    calls = []
    keep = layer.register_forward_hook(lambda m, i, o: calls.append("keep"))
    drop = layer.register_forward_hook(lambda m, i, o: calls.append("drop"))
    drop.remove()
    drop.remove()
    layer(Tensor([[1.0, 2.0]]))
    assert calls == ["keep"]
    keep.remove()
    layer(Tensor([[1.0, 2.0]]))
    assert calls == ["keep"]


def test_handle_as_context_manager_removes_on_exit_even_on_error():
    layer = nn.ReLU()
    calls = []
    with pytest.raises(RuntimeError, match="boom"):
        with layer.register_forward_hook(lambda m, i, o: calls.append(1)):
            layer(Tensor([1.0]))
            raise RuntimeError("boom")
    layer(Tensor([1.0]))
    assert calls == [1]


def test_non_none_return_value_replaces_the_output_for_later_hooks_and_the_model():
    model = LeNet5()
    x = Tensor(np.random.default_rng(0).random((2, 1, 28, 28)))
    reference = model(x).numpy()

    seen_by_second = []
    handle = model.relu1.register_forward_hook(lambda m, inputs, output: inputs[0])  # no ReLU
    model.relu1.register_forward_hook(lambda m, i, output: seen_by_second.append(output))
    conv1_out = model.conv1(x)
    out = model(x).numpy()
    # the second hook saw the replacement: conv1's output, negatives kept
    np.testing.assert_allclose(seen_by_second[-1].numpy(), conv1_out.numpy(), rtol=1e-6)
    assert (seen_by_second[-1].numpy() < 0).any()
    assert not np.allclose(out, reference)
    handle.remove()
    np.testing.assert_allclose(model(x).numpy(), reference, rtol=1e-6)


def test_replacement_output_carries_gradients():
    layer = nn.Linear(2, 2)
    layer.register_forward_hook(lambda m, i, o: o * 3.0)
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    layer(x).sum().backward()
    expected = 3.0 * layer.weight.numpy().sum(axis=0, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="hook must be callable"):
        nn.ReLU().register_forward_hook("not a function")
