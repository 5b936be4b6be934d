"""LeNet5: layout, PyTorch parity of logits, loss and every gradient, scopes, training."""

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, autograd, optim, provenance
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F

SHAPES = {
    "conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,),
    "conv2.weight": (16, 6, 5, 5), "conv2.bias": (16,),
    "fc1.weight": (120, 400), "fc1.bias": (120,),
    "fc2.weight": (84, 120), "fc2.bias": (84,),
    "fc3.weight": (10, 84), "fc3.bias": (10,),
}


def batch(n=4, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28)).astype(dtype), rng.integers(0, 10, n)


def test_layout():
    model = LeNet5()
    assert {k: p.shape for k, p in model.named_parameters()} == SHAPES
    assert list(model.state_dict()) == list(SHAPES)
    assert sum(p.size for p in model.parameters()) == 61706
    x, _ = batch(3)
    out = model(Tensor(x))
    assert out.shape == (3, 10) and out.dtype == np.float32
    assert LeNet5(num_classes=7)(Tensor(x)).shape == (3, 7)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_num_classes_validated(bad):
    with pytest.raises(ValueError, match="num_classes"):
        LeNet5(bad)


def test_input_shape_error_says_what_is_expected():
    model = LeNet5()
    for shape in [(2, 1, 32, 32), (2, 3, 28, 28), (1, 28, 28)]:
        with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
            model(Tensor(np.zeros(shape)))


def torch_lenet(torch):
    tnn, tF = torch.nn, torch.nn.functional

    class TorchLeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = tnn.Conv2d(6, 16, 5)
            self.fc1 = tnn.Linear(400, 120)
            self.fc2 = tnn.Linear(120, 84)
            self.fc3 = tnn.Linear(84, 10)

        def forward(self, x):
            x = tF.max_pool2d(tF.relu(self.conv1(x)), 2)
            x = tF.max_pool2d(tF.relu(self.conv2(x)), 2)
            x = tF.relu(self.fc1(x.flatten(1)))
            return self.fc3(tF.relu(self.fc2(x)))

    return TorchLeNet5()


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-10, 1e-12),
                                             (np.float32, 1e-4, 1e-7)])
def test_matches_pytorch_logits_loss_and_gradients(dtype, rtol, atol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torch_lenet(torch).to(torch.float64 if dtype == np.float64 else torch.float32)
    model = LeNet5()
    if dtype == np.float64:
        model.double()
    model.load_state_dict({k: v.numpy() for k, v in reference.state_dict().items()})
    x, y = batch(8, dtype)

    logits_t = reference(torch.from_numpy(x))
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y))
    loss_t.backward()
    logits = model(Tensor(x, dtype=dtype))
    loss = F.cross_entropy(logits, Tensor(y))
    loss.backward()

    assert logits.dtype == dtype and loss.dtype == dtype
    np.testing.assert_allclose(logits.numpy(), logits_t.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=rtol)
    theirs = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad.numpy(), theirs[name].grad.numpy(),
                                   rtol=rtol, atol=atol, err_msg=name)


def test_our_weights_load_into_pytorch():
    torch = pytest.importorskip("torch")
    model = LeNet5().double()
    reference = torch_lenet(torch).double()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x, _ = batch(2, np.float64)
    np.testing.assert_allclose(model(Tensor(x, dtype=np.float64)).numpy(),
                               reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_every_layer_is_a_labelled_scope():
    model = LeNet5()
    x, y = batch(2)
    loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
    nodes = autograd.topological_order(loss.grad_fn)
    paths = {provenance.of(node).module_path for node in nodes}
    for name, kind in [("conv1", "Conv2d"), ("relu1", "ReLU"), ("pool1", "MaxPool2d"),
                       ("conv2", "Conv2d"), ("pool2", "MaxPool2d"), ("flatten", "Flatten"),
                       ("fc1", "Linear"), ("fc2", "Linear"), ("fc3", "Linear")]:
        assert (("", "LeNet5"), (name, kind)) in paths, name
    assert all(provenance.of(node).module_path[:1] in ((), (("", "LeNet5"),))
               for node in nodes)
    # the loss is computed outside the model
    assert provenance.of(loss.grad_fn).module_path == ()


def test_eval_mode_changes_nothing_without_dropout():
    model = LeNet5()
    x = Tensor(batch(2)[0])
    a = model(x).numpy()
    np.testing.assert_array_equal(model.eval()(x).numpy(), a)


def test_a_few_steps_learn_a_separable_batch():
    # each class is a bright block at its own place, so the batch is learnable quickly
    rng = np.random.default_rng(3)
    labels = np.arange(20) % 10
    images = rng.random((20, 1, 28, 28)).astype(np.float32) * 0.2
    for i, k in enumerate(labels):
        r, c = divmod(int(k), 5)
        images[i, 0, 2 + 12 * r:10 + 12 * r, 1 + 5 * c:5 + 5 * c] += 1.0
    tg.manual_seed(0)
    model = LeNet5()
    opt = optim.Adam(model.parameters(), lr=5e-3)
    x, y = Tensor(images), Tensor(labels)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (model(x).numpy().argmax(axis=1) == labels).all()
