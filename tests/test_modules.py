"""nn.Module machinery, containers, layers' settings and default initialisation."""

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, autograd, nn, provenance
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import init
from tinygrad_cnn.nn.hooks import current_path


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3))
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x * self.scale)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 3)
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(2, 2, bias=False))
        self.tied = self.first.weight  # the same parameter under a second name
        self.note = "not registered"

    def forward(self, x):
        return self.head(self.block(self.first(x)))


# ----------------------------------------------------------------------------- Parameter

def test_parameter_basics():
    p = nn.Parameter(np.zeros((2, 3), dtype=np.float64))
    assert p.requires_grad and p.is_leaf and p.dtype == np.float32
    assert nn.Parameter(Tensor([1.0], dtype=np.float64)).dtype == np.float64
    assert not nn.Parameter([1.0], requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert type(p * 2) is Tensor and type(p.T) is Tensor  # op outputs are not parameters
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.arange(3))


# ----------------------------------------------------------------------------- registration

def test_named_parameters_order_names_and_sharing():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    # PyTorch's order: the root's own parameters, then each child's, depth first; the
    # shared weight is listed once, under the name met first
    assert names == ["tied", "first.bias", "block.scale", "block.fc.weight",
                     "block.fc.bias", "head.1.weight"]
    assert len(list(net.parameters())) == 6
    assert dict(net.named_parameters())["tied"] is net.first.weight
    assert "note" not in dict(net.named_parameters())
    every = [name for name, _ in net.named_parameters(remove_duplicate=False)]
    assert every == ["tied", "first.weight"] + names[1:]
    assert list(net.state_dict()) == every  # state dicts list shared ones under each name


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["first", "block", "head"]
    assert list(net.children()) == [net.first, net.block, net.head]
    assert [n for n, _ in net.named_modules()] == [
        "", "first", "block", "block.fc", "head", "head.0", "head.1"]
    assert list(net.modules())[0] is net


def test_reassignment_and_deletion():
    net = Net()
    net.first = nn.Linear(4, 3, bias=False)
    assert [n for n, _ in net.named_children()] == ["first", "block", "head"]  # same place
    assert [n for n, _ in net.named_parameters()][:2] == ["tied", "first.weight"]
    net.block.fc.bias = None
    assert "block.fc.bias" not in dict(net.named_parameters())
    del net.head
    assert "head" not in dict(net.named_children())
    with pytest.raises(TypeError, match="nn.Parameter or None expected"):
        net.block.scale = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="nn.Module or None expected"):
        net.block.fc = "linear"


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
            super().__init__()

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        Broken()


def test_buffers_are_saved_and_moved():
    net = nn.Linear(2, 2)
    net.register_buffer("running", np.zeros(2))
    assert list(net.state_dict()) == ["weight", "bias", "running"]
    assert "running" not in dict(net.named_parameters())
    net.running = np.ones(2)
    np.testing.assert_array_equal(net.state_dict()["running"], [1.0, 1.0])


def test_sequential():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and seq[-1] is seq[2]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq[:2]) == 2 and seq[:2][0] is seq[0]
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    assert seq(x).shape == (5, 2)
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    named = nn.Sequential(OrderedDict(hidden=nn.Linear(3, 4), act=nn.ReLU()))
    assert [n for n, _ in named.named_children()] == ["hidden", "act"]


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 1)])
    assert len(layers) == 2 and [n for n, _ in layers.named_parameters()][2] == "1.weight"


# ----------------------------------------------------------------------------- state dicts

def test_state_dict_is_a_host_copy():
    net = Net()
    state = net.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["first.weight"][...] = 42.0
    assert not np.any(net.first.weight.numpy() == 42.0)


def test_state_dict_round_trip_gives_identical_outputs():
    tg.manual_seed(0)
    a, b = Net(), Net()
    x = Tensor(np.random.default_rng(1).standard_normal((2, 4)))
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    result = b.load_state_dict(a.state_dict())
    assert result == ([], []) and result.missing_keys == []
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_state_dict_copies_casts_and_accepts_tensors():
    net = nn.Linear(2, 3)
    weight = np.arange(6, dtype=np.float64).reshape(3, 2)
    net.load_state_dict({"weight": weight, "bias": Tensor([1.0, 2.0, 3.0])})
    assert net.weight.dtype == np.float32
    np.testing.assert_array_equal(net.weight.numpy(), weight)
    weight[...] = -1.0  # the model never aliases the given array
    assert net.weight.numpy()[0, 1] == 1.0


def test_load_state_dict_lists_every_problem_and_loads_nothing():
    net = Net()
    before = net.state_dict()
    bad = net.state_dict()
    del bad["block.scale"], bad["head.1.weight"]
    bad["extra.weight"] = np.zeros(2)
    bad["first.weight"] = np.zeros((3, 5))
    bad["first.bias"] = np.zeros(3) + 7.0
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(bad)
    message = str(info.value)
    assert "for Net" in message
    assert "missing keys: 'block.scale', 'head.1.weight'" in message
    assert "unexpected keys: 'extra.weight'" in message
    assert "'first.weight': state_dict has shape (3, 5), model has (3, 4)" in message
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_load_state_dict_non_strict():
    net = Net()
    partial = {"first.bias": np.full(3, 5.0), "unknown": np.zeros(1)}
    missing, unexpected = net.load_state_dict(partial, strict=False)
    assert unexpected == ["unknown"] and "first.bias" not in missing and len(missing) == 6
    np.testing.assert_array_equal(net.first.bias.numpy(), [5.0, 5.0, 5.0])
    with pytest.raises(RuntimeError, match="wrong shapes"):  # shapes are always checked
        net.load_state_dict({"first.bias": np.zeros(4)}, strict=False)
    with pytest.raises(RuntimeError, match="not numeric"):
        net.load_state_dict({"first.bias": np.array(["a", "b", "c"])}, strict=False)


# ----------------------------------------------------------------------------- modes, grads

def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_dropout_follows_training_flag():
    drop = nn.Sequential(nn.Dropout(0.5))
    x = Tensor(np.ones((50, 40)))
    tg.manual_seed(0)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.3 < (y == 0).mean() < 0.7
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


def test_zero_grad_and_double():
    net = Net()
    x = Tensor(np.ones((2, 4)))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net(Tensor(np.ones((2, 4)), dtype=np.float64)).dtype == np.float64


def test_to_the_same_device_keeps_arrays():
    net = Net()
    data = net.first.weight.data
    assert net.to(tg.default_device()) is net and net.first.weight.data is data
    with pytest.raises(ValueError, match="unknown device"):
        net.to("tpu")


def test_to_cuda_moves_in_place():
    ok, reason = tg.backend.cuda_status()
    if not ok:
        pytest.skip(reason)
    net = Net()
    before = net.state_dict()
    weight = net.first.weight
    net.to("cuda")
    assert net.first.weight is weight and weight.device == "cuda"
    x = Tensor(np.ones((2, 4)), device="cuda")
    net(x).sum().backward()
    assert weight.grad.device == "cuda"
    net.to("cpu")
    assert weight.grad.device == "cpu"
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ----------------------------------------------------------------------------- scopes

def test_calls_record_the_module_path():
    net = Net()
    out = net(Tensor(np.ones((2, 4))))
    assert provenance.of(out.grad_fn).module_path == (
        ("", "Net"), ("head", "Sequential"), ("1", "Linear"))
    order = autograd.topological_order(out.grad_fn)
    paths = {provenance.of(node).module_path for node in order}
    assert (("", "Net"), ("block", "Block")) in paths  # the x * scale inside Block
    assert (("", "Net"), ("block", "Block"), ("fc", "Linear")) in paths
    assert current_path() == ()
    # a sub-module called on its own is named by its attribute name
    first = net.first(Tensor(np.ones((1, 4))))
    assert provenance.of(first.grad_fn).module_path == (("first", "Linear"),)


def test_scope_is_left_on_error():
    net = Net()
    with pytest.raises(ValueError):
        net(Tensor(np.ones((2, 5))))
    assert current_path() == ()


# ----------------------------------------------------------------------------- repr

def test_repr_like_pytorch():
    assert repr(LeNet5()) == """LeNet5(
  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (relu1): ReLU()
  (pool1): MaxPool2d(kernel_size=2, stride=2, padding=0)
  (conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1), padding=(0, 0))
  (relu2): ReLU()
  (pool2): MaxPool2d(kernel_size=2, stride=2, padding=0)
  (flatten): Flatten(start_axis=1)
  (fc1): Linear(in_features=400, out_features=120, bias=True)
  (relu3): ReLU()
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (relu4): ReLU()
  (fc3): Linear(in_features=84, out_features=10, bias=True)
)"""
    seq = nn.Sequential(nn.Sequential(nn.Tanh()), nn.Dropout(0.25), nn.AvgPool2d((2, 3)))
    assert repr(seq) == """Sequential(
  (0): Sequential(
    (0): Tanh()
  )
  (1): Dropout(p=0.25)
  (2): AvgPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0)
)"""
    assert repr(nn.Conv2d(2, 3, 3, bias=False)).endswith("bias=False)")


# ----------------------------------------------------------------------------- layers

def test_layer_shapes_and_weight_layouts():
    assert nn.Linear(5, 3).weight.shape == (3, 5)
    conv = nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2))
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    assert conv.stride == (2, 2) and conv.padding == (1, 2)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 9, 10)))
    assert conv(x).shape == (2, 8, 5, 5)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 5)
    assert nn.AvgPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 9, 10)
    assert nn.Flatten()(x).shape == (2, 270)
    for act, ref in [(nn.ReLU(), lambda v: np.maximum(v, 0)), (nn.Tanh(), np.tanh),
                     (nn.LeakyReLU(0.1), lambda v: np.where(v > 0, v, 0.1 * v)),
                     (nn.Sigmoid(), lambda v: 1 / (1 + np.exp(-v)))]:
        np.testing.assert_allclose(act(x).numpy(), ref(x.numpy()), rtol=1e-5, atol=1e-6)


def test_linear_and_conv_compute_the_textbook_formula():
    rng = np.random.default_rng(0)
    lin = nn.Linear(4, 3)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    expected = x @ lin.weight.numpy().T + lin.bias.numpy()
    np.testing.assert_allclose(lin(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    conv = nn.Conv2d(2, 1, 2)
    img = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    w, b = conv.weight.numpy(), conv.bias.numpy()
    ref = np.array([[(img[0, :, i:i + 2, j:j + 2] * w[0]).sum() + b[0] for j in range(2)]
                    for i in range(2)])
    np.testing.assert_allclose(conv(Tensor(img)).numpy()[0, 0], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make,message", [
    (lambda: nn.Linear(0, 3), "in_features must be a positive integer"),
    (lambda: nn.Linear(3, 2.5), "out_features"),
    (lambda: nn.Conv2d(1, 6, 0), "kernel_size"),
    (lambda: nn.Conv2d(1, 6, (5,)), "kernel_size"),
    (lambda: nn.Conv2d(1, 6, 5, stride=0), "stride"),
    (lambda: nn.Conv2d(1, 6, 5, padding=-1), "padding must be a non-negative"),
    (lambda: nn.Conv2d(True, 6, 5), "in_channels"),
    (lambda: nn.MaxPool2d(0), "kernel_size"),
    (lambda: nn.MaxPool2d(2, padding=2), "at most half"),
    (lambda: nn.AvgPool2d(2, stride=-1), "stride"),
    (lambda: nn.Dropout(1.5), r"p must be a probability in \[0, 1\]"),
    (lambda: nn.Dropout(-0.1), "probability"),
    (lambda: nn.Flatten(1.5), "start_axis"),
    (lambda: nn.LeakyReLU("0.1"), "negative_slope must be a number"),
])
def test_layer_arguments_are_validated(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ----------------------------------------------------------------------------- init

def test_default_init_bounds_follow_pytorch_formula():
    tg.manual_seed(0)
    for layer, fan_in in [(nn.Linear(400, 120), 400), (nn.Conv2d(6, 16, 5), 150)]:
        bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in))
        w, b = layer.weight.numpy(), layer.bias.numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
        assert np.abs(b).max() <= bound
        assert abs(w.var() - bound**2 / 3) < 0.1 * bound**2 / 3  # variance of U(-a, a)
        assert abs(w.mean()) < 0.05 * bound


def test_default_init_matches_torch_ranges():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tg.manual_seed(0)
    for ours, theirs in [(nn.Linear(50, 30), torch.nn.Linear(50, 30)),
                         (nn.Conv2d(3, 8, (3, 5)), torch.nn.Conv2d(3, 8, (3, 5)))]:
        for name, p in ours.named_parameters():
            t = getattr(theirs, name).detach().numpy()
            assert p.shape == t.shape
            # same distribution: the extremes agree within a few percent of the bound
            np.testing.assert_allclose(np.abs(p.numpy()).max(), np.abs(t).max(), rtol=0.1)


def test_init_helpers_agree_with_torch():
    torch = pytest.importorskip("torch")
    for shape in [(3, 4), (6, 1, 5, 5), (16, 6, 5, 5), (2, 3, 7)]:
        t = torch.empty(shape)
        assert init.calculate_fan_in_and_fan_out(Tensor(np.zeros(shape))) == \
            torch.nn.init._calculate_fan_in_and_fan_out(t)
    for args in [("relu",), ("tanh",), ("leaky_relu", math.sqrt(5)), ("sigmoid",),
                 ("leaky_relu",), ("linear",)]:
        assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args))


def test_init_functions():
    tg.manual_seed(1)
    t = Tensor(np.zeros((200, 300)))
    data = t.data
    assert init.kaiming_uniform_(t, nonlinearity="relu") is t and t.data is data
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert bound * 0.99 < np.abs(t.numpy()).max() <= bound
    init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 200)
    init.xavier_uniform_(t)
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 500)
    init.normal_(t, 1.0, 0.5)
    assert abs(t.numpy().mean() - 1.0) < 0.01 and abs(t.numpy().std() - 0.5) < 0.01
    init.kaiming_normal_(t)
    assert abs(t.numpy().std() - math.sqrt(2 / 300)) < 0.01 * math.sqrt(2 / 300) * 5
    init.uniform_(t, -2, -1)
    assert t.numpy().min() >= -2 and t.numpy().max() < -1
    assert init.zeros_(t).numpy().sum() == 0 and init.ones_(t).numpy().mean() == 1.0
    with pytest.raises(ValueError, match="at least 2 axes"):
        init.kaiming_uniform_(Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(t, mode="fan_avg")
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        init.calculate_gain("swish")


def test_manual_seed_makes_init_reproducible():
    tg.manual_seed(7)
    a = LeNet5().state_dict()
    tg.manual_seed(7)
    b = LeNet5().state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = LeNet5().state_dict()
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])


# ----------------------------------------------------------------------------- hooks, _apply

def test_forward_hooks_run_in_order_can_replace_the_output_and_be_removed():
    layer = nn.Linear(3, 2)
    seen = []
    h1 = layer.register_forward_hook(lambda m, inputs, out: seen.append((m, inputs, out.shape)))
    h2 = layer.register_forward_hook(lambda m, inputs, out: out * 0)
    x = Tensor(np.ones((4, 3)))
    out = layer(x)
    assert seen[0][0] is layer and seen[0][1] == (x,) and seen[0][2] == (4, 2)
    np.testing.assert_array_equal(out.numpy(), 0)
    h2.remove()
    h2.remove()  # removing twice is harmless
    assert np.abs(layer(x).numpy()).sum() > 0 and len(seen) == 2
    with h1:
        pass  # a handle is also a context manager that removes its hook
    layer(x)
    assert len(seen) == 2
    with pytest.raises(TypeError, match="hook must be callable"):
        layer.register_forward_hook("not a function")


def test_apply_replaces_arrays_in_place_and_recurse_false_lists_own_members():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    weight = model[0].weight
    model(Tensor(np.ones((1, 2)))).sum().backward()
    model.double()
    assert model[0].weight is weight and weight.dtype == np.float64
    assert weight.grad.dtype == np.float64  # gradients follow
    assert [n for n, _ in model.named_parameters(recurse=False)] == []
    assert [n for n, _ in model[0].named_parameters(recurse=False)] == ["weight", "bias"]


def test_lenet_runs_on_an_empty_batch_like_pytorch():
    model = LeNet5()
    x = Tensor(np.zeros((0, 1, 28, 28)), requires_grad=True)
    out = model(x)
    assert out.shape == (0, 10)
    from tinygrad_cnn.nn import functional as F

    loss = F.cross_entropy(out, np.zeros(0, dtype=np.int64))
    assert np.isnan(loss.item())  # the mean of no losses, as torch gives
    loss.backward()
    assert x.grad.shape == (0, 1, 28, 28) and model.conv1.weight.grad is not None
    np.testing.assert_array_equal(model.conv1.weight.grad.numpy(), 0)
    assert F.cross_entropy(out, np.zeros(0, dtype=np.int64), reduction="sum").item() == 0
