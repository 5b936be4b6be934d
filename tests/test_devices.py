"""Moving between devices and the rules of where arrays live, on a GPU: real CuPy where a GPU
is present, else the strict CuPy double of the second pass of ``make test``."""

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, backend, nn, optim
from tinygrad_cnn.nn import functional as F

pytestmark = pytest.mark.skipif(not backend.cuda_status()[0],
                                reason="needs a GPU or the CuPy double (make test's second "
                                       "pass: TINYGRAD_CNN_TEST_CUPY=double)")


def test_numpy_data_goes_to_the_default_device_and_explicit_devices_win():
    data = np.ones((2, 3), dtype=np.float32)
    assert Tensor(data).device == tg.default_device()
    assert Tensor(data, device="cuda").device == "cuda"
    on_gpu = Tensor(data, device="cuda")
    assert Tensor(on_gpu.data).device == "cuda"  # a CuPy array stays on the GPU
    assert Tensor(on_gpu.data, device="cpu").device == "cpu"  # unless told otherwise
    assert isinstance(on_gpu.numpy(), np.ndarray) and on_gpu.sum().item() == 6.0


def test_out_of_range_indices_raise_on_the_gpu_instead_of_wrapping():
    x = Tensor(np.arange(6.0).reshape(2, 3), device="cuda", requires_grad=True)
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        x[:, np.array([0, 3])]
    with pytest.raises(IndexError, match="index 2 is out of bounds for axis 0"):
        x[Tensor(np.array([2]), device="cuda")]
    picked = x[np.array([1, 1])]  # in range: gathered, and the gradient adds up
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [2, 2, 2]])
    empty = x[np.array([], dtype=np.int64)]
    empty.sum().backward()  # an empty selection has a gradient too (zeros)


def test_arguments_tied_to_a_tensor_follow_it_or_name_both_devices():
    cpu = Tensor([1.0, 2.0], device="cpu", requires_grad=True)
    gpu = Tensor([1.0, 2.0], device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="index is on cuda but the tensor is on cpu"):
        cpu[Tensor(np.array([0]), device="cuda")]
    with pytest.raises(RuntimeError, match="backward\\(\\): grad is on cuda but the tensor is "
                                           "on cpu"):
        (cpu * 2).backward(Tensor([1.0, 1.0], device="cuda"))
    (gpu * 2).backward(np.array([1.0, 3.0]))  # host data moves to the tensor's device
    np.testing.assert_array_equal(gpu.grad.numpy(), [2.0, 6.0])
    with pytest.raises(RuntimeError, match="expected all tensors on one device, got cpu and "
                                           "cuda"):
        cpu + gpu


@pytest.mark.parametrize("make", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
    lambda params: optim.Adam(params, lr=0.01),
], ids=["sgd", "adam"])
def test_optimizer_state_follows_its_parameters_between_devices(make):
    tg.manual_seed(0)
    model = nn.Linear(3, 2).to("cuda")
    opt = make(model.parameters())
    x = Tensor(np.ones((4, 3)), device="cuda")

    def step(device_x):
        opt.zero_grad()
        model(device_x).sum().backward()
        opt.step()

    step(x)
    model.to("cpu")  # after a step: the momentum / Adam moments must follow
    step(x.to("cpu"))
    state = opt.state[model.weight]
    assert all(backend.device_of(v) == "cpu" for v in state.values() if hasattr(v, "shape"))
    saved = opt.state_dict()  # host arrays
    fresh = make(model.parameters())
    fresh.load_state_dict(saved)
    model.to("cuda")  # loaded on the CPU, then moved: still follows
    opt = fresh
    step(x)
    assert all(backend.device_of(v) == "cuda" for v in opt.state[model.weight].values()
               if hasattr(v, "shape"))


def test_gpu_dropout_masks_replay_from_the_saved_generator_state():
    tg.manual_seed(3)
    x = Tensor(np.ones((4, 5)), device="cuda")
    F.dropout(x, 0.5)  # advance the GPU generator
    state = tg.backend.get_state()
    first = F.dropout(x, 0.5).numpy()
    second = F.dropout(x, 0.5).numpy()
    assert not np.array_equal(first, second)
    tg.backend.set_state(state)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), first)
    import json

    assert json.loads(json.dumps(state)) == state  # checkpoints store it as JSON


def test_module_to_moves_parameters_gradients_and_buffers_in_place():
    model = nn.Sequential(nn.Linear(2, 2))
    model.register_buffer("scale", np.ones(2))
    weight = model[0].weight
    model(Tensor(np.ones((1, 2)), device=weight.device)).sum().backward()
    model.to("cuda")
    assert model[0].weight is weight and weight.device == "cuda"
    assert weight.grad.device == "cuda" and model.scale.device == "cuda"
    model.to("cpu")
    assert weight.device == weight.grad.device == model.scale.device == "cpu"
