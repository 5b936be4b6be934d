"""to_torch / from_torch: the same model, the same weights, both libraries."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import nn
from tinygrad_cnn.interop import UnsupportedOpError, from_torch, to_torch
from tinygrad_cnn.models import LeNet5

torch = pytest.importorskip("torch", reason="torch is not installed (pip install "
                            "'tinygrad-cnn[torch]'): PyTorch conversion is not tested")


def outputs(ours, theirs, x):
    with tg.no_grad():
        a = ours(tg.Tensor(x)).numpy()
    with torch.no_grad():
        b = theirs(torch.from_numpy(x)).numpy()
    return a, b


def test_lenet5_round_trip_keeps_every_weight_and_output():
    tg.manual_seed(0)
    ours = LeNet5(num_classes=7).eval()
    theirs = to_torch(ours)
    assert isinstance(theirs, torch.nn.Sequential) and not theirs.training
    assert list(theirs.state_dict()) == list(ours.state_dict())
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(theirs.state_dict()[name].numpy(), value)
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    a, b = outputs(ours, theirs, x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # float32 rounding only
    back = from_torch(theirs)
    assert type(back) is LeNet5 and back.num_classes == 7
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], value)


def test_every_shared_layer_converts_both_ways():
    tg.manual_seed(1)
    ours = nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1), act=nn.Tanh(),
        avg=nn.AvgPool2d(2, stride=1, padding=1), pool=nn.MaxPool2d(3, stride=2),
        leaky=nn.LeakyReLU(0.3), drop=nn.Dropout(0.25), flat=nn.Flatten(1),
        fc=nn.Linear(4 * 2 * 5, 5, bias=False), sig=nn.Sigmoid(), relu=nn.ReLU())).eval()
    theirs = to_torch(ours)
    x = np.random.default_rng(1).standard_normal((2, 3, 10, 9)).astype(np.float32)
    a, b = outputs(ours, theirs, x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    back = from_torch(theirs)
    assert type(back) is nn.Sequential and repr(back) == repr(ours)
    c, _ = outputs(back, theirs, x)
    np.testing.assert_array_equal(c, a)


def test_a_pytorch_sequential_comes_over():
    torch.manual_seed(0)
    tn = torch.nn
    theirs = tn.Sequential(tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2),
                           tn.Flatten(), tn.Linear(6 * 14 * 14, 10))
    ours = from_torch(theirs)
    x = np.random.default_rng(2).standard_normal((3, 1, 28, 28)).astype(np.float32)
    a, b = outputs(ours, theirs, x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert list(ours.state_dict()) == ["0.weight", "0.bias", "4.weight", "4.bias"]


def test_what_has_no_counterpart_is_named():
    class Own(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(UnsupportedOpError, match=r"to_torch: block\.1 is a Own.*onnx\.export"):
        to_torch(nn.Sequential(OrderedDict(block=nn.Sequential(nn.ReLU(), Own()))))
    tn = torch.nn
    with pytest.raises(UnsupportedOpError, match=r"from_torch: 1 is a BatchNorm2d"):
        from_torch(tn.Sequential(tn.Conv2d(1, 2, 3), tn.BatchNorm2d(2)))
    with pytest.raises(UnsupportedOpError, match=r"from_torch: the model is a Conv2d"):
        from_torch(tn.Conv2d(4, 4, 3, groups=2))
