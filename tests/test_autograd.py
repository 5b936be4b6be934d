"""The engine: graph shapes (fan-out, diamonds, reuse), accumulation, freeing, grad mode."""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor
from tinygrad_cnn.autograd import Function, fit_gradient, topological_order


def f64(values, requires_grad=True):
    return Tensor(values, dtype=np.float64, requires_grad=requires_grad)


def test_fan_out_adds_both_paths():
    x = f64([3.0, -2.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, -4.0])


def test_diamond():
    # y = a * b with a = 2x and b = x + 1: dy/dx = 2(x+1) + 2x
    x = f64([1.0, 2.0])
    a = x * 2
    b = x + 1
    (a * b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy() + 2)


def test_reused_subexpression_in_several_consumers():
    x = f64([0.5, 1.5])
    h = x.exp()
    y = h * h + h.log() + h.sum()
    y.sum().backward()
    e = np.exp(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * e * e + 1 + 2 * e)


def test_grads_accumulate_across_backward_calls():
    x = f64([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x.numpy())


def test_retain_graph_allows_a_second_backward():
    x = f64([2.0])
    y = (x * x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [24.0])


def test_second_backward_through_freed_graph_raises():
    x = f64([2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_non_scalar_backward_needs_grad():
    x = f64([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(2,\)"):
        y.backward()
    y.backward(grad=np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -2.0])


def test_backward_grad_shape_is_checked():
    y = f64([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"grad has shape \(3,\)"):
        y.backward(grad=np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_leaf_backward():
    x = f64([5.0])
    x.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


def test_deep_chain_of_10000_ops_backpropagates():
    x = f64([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-9)


def test_saved_arrays_are_freed_after_backward():
    x = Tensor(np.random.default_rng(0).standard_normal((50, 50)), requires_grad=True)
    y = (x.exp() * x).tanh().sum()
    # every saved array except x's own data, which the live leaf x still holds
    saved = [weakref.ref(a) for node in topological_order(y.grad_fn) for a in node.saved
             if a is not x.data]
    assert saved and all(r() is not None for r in saved)
    y.backward()
    gc.collect()
    assert all(r() is None for r in saved), "saved arrays still alive after backward()"


def test_retain_graph_keeps_saved_arrays():
    x = Tensor(np.ones((4, 4)), requires_grad=True)
    y = (x.exp() * x).sum()
    nodes = topological_order(y.grad_fn)
    y.backward(retain_graph=True)
    assert any(len(node.saved) for node in nodes)


def test_dropped_intermediates_are_not_kept_by_the_graph():
    x = Tensor(np.ones((100, 100)), requires_grad=True)
    h = x * 2
    ref = weakref.ref(h.data)
    y = (h + 1).sum()  # Add saves nothing, so only `h` holds its array
    del h
    gc.collect()
    assert ref() is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    with tg.no_grad():
        y = x * 2 + 1
    assert y.grad_fn is None and not y.requires_grad
    assert tg.is_grad_enabled()


def test_no_grad_as_decorator_restores_mode():
    @tg.no_grad()
    def f(t):
        assert not tg.is_grad_enabled()
        return t * 2

    @tg.no_grad
    def g(t):
        return t * 3

    x = f64([1.0])
    assert f(x).grad_fn is None and g(x).grad_fn is None
    assert tg.is_grad_enabled()
    assert (x * 2).grad_fn is not None


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            raise ZeroDivisionError
    assert tg.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = f64([2.0])
    y = (x * x).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0])
    d = x.detach()
    assert not d.requires_grad and d.data is x.data


def test_graph_records_only_when_inputs_require_grad():
    a = Tensor([1.0, 2.0])
    assert (a * 2).grad_fn is None
    b = Tensor([1.0, 2.0], requires_grad=True)
    node = (a * b).grad_fn
    assert node.parents == (None, b) and node.needs_input_grad == (False, True)


def test_only_requested_inputs_get_grads():
    a = Tensor([1.0, 2.0])
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a * b).sum().backward()
    assert a.grad is None
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 2.0])


def test_fit_gradient_sums_leading_and_size_one_axes_and_casts():
    g = np.ones((2, 3, 4))
    np.testing.assert_array_equal(fit_gradient(g, (3, 1), g.dtype), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(fit_gradient(g, (), g.dtype), np.array(24.0))
    assert fit_gradient(g, (3, 4), np.float32).dtype == np.float32
    with pytest.raises(RuntimeError, match="Bad"):
        fit_gradient(g, (5,), g.dtype, "Bad")


def test_wrong_gradient_shape_from_a_function_names_the_op():
    class Broken(Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, g):
            return g[:1]

    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Broken.*\(1,\).*\(3,\)"):
        Broken.apply(x).sum().backward()


def test_leaf_grad_is_not_aliased_with_other_gradients():
    # Add passes the same upstream array to both inputs; grads must be independent copies
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    (x + y).sum().backward()
    x.grad.data[0] = 100.0
    assert y.grad.numpy()[0] == 1.0


def test_leaf_grads_never_alias_the_callers_gradient_or_each_other():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    upstream = np.array([1.0, -1.0])
    (x + y).backward(grad=upstream)  # Add hands the same array to both inputs
    x.grad.data[0] = 100.0
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, -1.0])
    np.testing.assert_array_equal(upstream, [1.0, -1.0])
    leaf = f64([5.0, 6.0])
    leaf.backward(grad=upstream)
    leaf.grad.data[:] = 0
    np.testing.assert_array_equal(upstream, [1.0, -1.0])


def test_grad_dtype_matches_leaf_dtype():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * Tensor([1.0, 2.0], dtype=np.float64)).sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_devices_raise_naming_both():
    a = Tensor([1.0, 2.0], device="cpu")
    if tg.backend.cuda_status()[0]:
        b = Tensor([3.0, 4.0], device="cuda")
    else:
        b = Tensor([3.0, 4.0], device="cpu")
        b.device = "cuda"  # simulated: the check compares the tensors' device tags
    with pytest.raises(RuntimeError, match="cpu and cuda"):
        _ = a + b


# ----------------------------------------------------------------------------- hooks

def test_record_and_backward_hooks_see_each_node_once_and_can_be_removed():
    from tinygrad_cnn import autograd

    recorded, visited = [], []
    h1 = autograd.on_record(lambda node, out, params: recorded.append((node.name, out.shape,
                                                                        params)))
    h2 = autograd.on_backward(lambda node, g: visited.append((node.name, g.shape)))
    try:
        x = f64([[1.0, 2.0, 3.0]])
        loss = (x * 2).sum(axis=1).sum()
        loss.backward()
    finally:
        h1.remove()
        h2.remove()
    assert recorded == [("Mul", (1, 3), {}), ("Sum", (1,), {"axis": 1, "keepdims": False}),
                        ("Sum", (), {"axis": None, "keepdims": False})]
    assert visited == [("Sum", ()), ("Sum", (1,)), ("Mul", (1, 3))]
    (x * 3).sum().backward()  # removed: nothing more is noted
    assert len(recorded) == 3 and len(visited) == 3


def test_a_node_holds_only_what_backward_needs():
    node = (f64([1.0]) * 2).grad_fn
    assert set(Function.__slots__) - {"__dict__", "__weakref__"} == {
        "parents", "needs_input_grad", "input_meta", "input_versions", "output_version",
        "saved", "freed"}
    assert node.__dict__ == {}  # Mul stores no settings


# ----------------------------------------------------------------------------- versions

def test_backward_refuses_inputs_changed_in_place_after_forward():
    from tinygrad_cnn import nn, optim

    layer = nn.Linear(3, 2)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    x = Tensor(np.ones((4, 3)))
    first = layer(x).sum()
    first.backward()
    opt.step()  # changes the weights that the next graph must not have used already
    stale = layer(x).sum()
    opt.step()
    with pytest.raises(RuntimeError, match=r"modified in place \(e\.g\. by optimizer\.step"):
        stale.backward()
    layer(x).sum().backward()  # a graph built after the step is fine


def test_in_place_writes_by_init_and_load_state_dict_count_as_versions():
    from tinygrad_cnn import nn
    from tinygrad_cnn.nn import init

    layer = nn.Linear(2, 2)
    before = layer.weight.version
    init.zeros_(layer.weight)
    layer.load_state_dict(layer.state_dict())
    assert layer.weight.version == before + 2


# ----------------------------------------------------------------------------- layering
# (the layer table of the whole package is enforced in test_layout.py)

def _imports(path):
    import ast

    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = (node.module or "").split(".")[0]
            names |= {base} if base else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def test_autograd_knows_nothing_of_modules_drawings_or_statistics():
    import ast
    import pathlib

    import tinygrad_cnn

    path = pathlib.Path(tinygrad_cnn.__file__).parent / "autograd.py"
    assert _imports(path) == {"functools", "threading"}  # grad mode and hooks per thread
    names = {n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(ast.parse(path.read_text()))
              if isinstance(n, ast.Attribute)}
    for word in ("module", "scope", "stat", "viz", "draw", "Tensor", "_ctx"):
        assert not [n for n in names if word in n], word


def test_no_module_defines_its_own_array_module_lookup():
    import pathlib

    import tinygrad_cnn

    for path in pathlib.Path(tinygrad_cnn.__file__).parent.rglob("*.py"):
        assert "def _xp(" not in path.read_text(), path
