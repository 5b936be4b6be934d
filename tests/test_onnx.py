"""ONNX export from the tape and import as Modules, with ONNX Runtime as the oracle."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import nn
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install "
                           "'tinygrad-cnn[onnx]'): ONNX export and import are not tested")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install "
                          "'tinygrad-cnn[onnx]'): exported files cannot be run")

from tinygrad_cnn import onnx as tg_onnx  # noqa: E402
from tinygrad_cnn.interop import UnsupportedOpError  # noqa: E402


def images(n, shape=(1, 28, 28), seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def engine(model, x):
    with tg.no_grad():
        return model(tg.Tensor(x)).numpy()


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def test_lenet5_runs_in_onnx_runtime_at_any_batch(tmp_path):
    tg.manual_seed(0)
    model, path = LeNet5(), tmp_path / "lenet5.onnx"
    proto = tg_onnx.export(model, images(2), path)
    assert [n.op_type for n in proto.graph.node] == [
        "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Relu",
        "Gemm", "Relu", "Gemm"]
    assert proto.graph.node[0].name == "conv1/Conv"
    assert sorted(i.name for i in proto.graph.initializer if "." in i.name) == sorted(
        model.state_dict())
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    for n in (1, 5):  # the batch of the example is not baked in
        x = images(n, seed=n)
        np.testing.assert_allclose(run_onnx(path, x), engine(model, x), rtol=1e-5, atol=1e-5)
    assert model.training  # put back in its mode


class Everything(nn.Module):
    """One of each op export knows, in a model of modules and functional calls."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.act = nn.Tanh()
        self.avg = nn.AvgPool2d(2, stride=1, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.leaky = nn.LeakyReLU(0.2)
        self.flat = nn.Flatten(1)
        self.fc = nn.Linear(4 * 3 * 4, 6)
        self.mix = nn.Parameter(np.array([[1.0, -0.5], [0.25, 2.0]], dtype=np.float32))
        self.scale = nn.Parameter(np.linspace(0.5, 1.5, 6, dtype=np.float32))
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = self.pool(self.avg(self.act(self.conv(x)))).sigmoid()
        x = self.flat(self.leaky(x - 0.5 * x.mean(axis=(2, 3), keepdims=True)))
        x = self.drop(self.fc(x)) * self.scale
        x = x.reshape(x.shape[0], 2, 3).transpose(0, 2, 1)  # (N, 3, 2): Linear on 3-D
        x = F.linear(x.relu(), self.mix) @ (self.mix * 0.5) + 0.1 * self.mix.sum(axis=0)
        y = x.exp().log() + x.abs().sqrt() + x.max(axis=1, keepdims=True)
        return F.log_softmax(y.sum(axis=2), axis=1) + F.softmax(y, axis=1).sum(axis=2)


def test_every_exportable_op_matches_onnx_runtime_and_comes_back(tmp_path):
    tg.manual_seed(1)
    model, path = Everything(), tmp_path / "all.onnx"
    x = images(3, (2, 9, 11))
    proto = tg_onnx.export(model, x, path)
    kinds = {n.op_type for n in proto.graph.node}
    assert {"AveragePool", "MaxPool", "Tanh", "Sigmoid", "LeakyRelu", "ReduceSum",
            "ReduceMax", "Softmax", "LogSoftmax", "Transpose", "MatMul"} <= kinds
    assert model.training and "Dropout" not in kinds  # exported in eval mode, put back
    model.eval()
    back = tg_onnx.load(path)
    for n in (3, 1):
        xn = images(n, (2, 9, 11), seed=n)
        np.testing.assert_allclose(run_onnx(path, xn), engine(model, xn), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(engine(back, xn), engine(model, xn), rtol=1e-5, atol=1e-6)


def test_an_op_without_onnx_form_names_itself_and_its_module(tmp_path):
    class Head(nn.Module):
        def forward(self, x):
            return x[:, :3]

    model = nn.Sequential(nn.Linear(4, 5), Head())
    with pytest.raises(UnsupportedOpError, match=r"GetItem in module '1' \(Head\).*supported"):
        tg_onnx.export(model, images(2, (4,)), tmp_path / "m.onnx")
    class PlusOne(nn.Module):
        def forward(self, x):
            return x + 1.0  # Add keeps no operand for backward: the constant is lost

    with pytest.raises(UnsupportedOpError, match=r"Add in module '1' \(PlusOne\) reads a "
                       r"constant of shape \(\) that the tape does not keep"):
        tg_onnx.export(nn.Sequential(nn.Linear(4, 5), PlusOne()), images(2, (4,)),
                       tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_export_replaces_only_its_own_files(tmp_path):
    model, path = nn.Sequential(nn.Linear(3, 2)), tmp_path / "m.onnx"
    tg_onnx.export(model, images(1, (3,)), path)
    tg_onnx.export(model, images(1, (3,)), path)  # ours: replaced
    path.write_bytes(path.read_bytes() + b"\0")  # edited since
    with pytest.raises(FileExistsError, match="not written by tinygrad-cnn"):
        tg_onnx.export(model, images(1, (3,)), path)
    tg_onnx.export(model, images(1, (3,)), path, force=True)


def test_imported_model_trains_and_is_named_after_the_nodes(tmp_path):
    tg.manual_seed(2)
    model, path = LeNet5(), tmp_path / "lenet5.onnx"
    tg_onnx.export(model, images(1), path)
    back = tg_onnx.load(path)
    assert list(back.state_dict()) == list(model.state_dict())
    assert back.input_shape == (None, 1, 28, 28)
    x, labels = images(8), np.arange(8) % 10
    np.testing.assert_array_equal(engine(back, x), engine(model, x))
    opt = tg.optim.SGD(back.parameters(), lr=0.1)
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(back(tg.Tensor(x)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[2] < losses[0]


def test_import_refuses_an_unknown_op_listing_the_known_ones(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["y"], name="/act/Erf")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(UnsupportedOpError, match=r"'/act/Erf' is a Erf.*supported: .*Conv"):
        tg_onnx.load(path)
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(tg_onnx.OnnxFormatError, match="junk.onnx: not an ONNX model"):
        tg_onnx.load(tmp_path / "junk.onnx")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's TorchScript exporter
def test_a_pytorch_lenet_is_drawn_inspected_and_fine_tuned_here(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed: no PyTorch model "
                                "to export")
    from collections import OrderedDict

    from tinygrad_cnn.inspect import receptive_field
    from tinygrad_cnn.viz import make_dot

    tn = torch.nn
    torch.manual_seed(0)
    theirs = tn.Sequential(OrderedDict(
        conv1=tn.Conv2d(1, 6, 5, padding=2), relu1=tn.ReLU(), pool1=tn.MaxPool2d(2),
        conv2=tn.Conv2d(6, 16, 5), relu2=tn.ReLU(), pool2=tn.AvgPool2d(2),
        flatten=tn.Flatten(), fc1=tn.Linear(400, 120), relu3=tn.Sigmoid(),
        fc2=tn.Linear(120, 10), out=tn.LogSoftmax(dim=1))).eval()
    path = tmp_path / "torch_lenet.onnx"
    torch.onnx.export(theirs, (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    ours = tg_onnx.load(path)
    x = images(4)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(engine(ours, x), expected, rtol=1e-5, atol=1e-5)
    assert [name for name, _ in ours.named_children()][:3] == ["conv1", "relu1", "pool1"]
    assert receptive_field(ours, "conv2", (1, 28, 28)) == (14, 14)
    assert receptive_field(ours, "pool2", (1, 28, 28)) == (16, 16)
    dot = make_dot(ours(tg.Tensor(x)), ours)
    assert "conv1" in str(dot) and "fc2" in str(dot)


def test_cli_exports_a_training_checkpoint(main, tmp_path):
    import os

    from tinygrad_cnn.data import ArrayDataset, MNISTSample
    from tinygrad_cnn.train import TrainConfig, fit

    train, test = MNISTSample(train=True), MNISTSample(train=False)
    sets = (ArrayDataset(train.images[:64], train.labels[:64], train.classes),
            ArrayDataset(test.images[:32], test.labels[:32], test.classes))
    checkpoint = tmp_path / "run.npz"
    with open(os.devnull, "w") as quiet:
        fit(TrainConfig(dataset="sample", epochs=1, checkpoint=str(checkpoint)), out=quiet,
            datasets=sets)
    status, out, err = main("export", checkpoint, "-o", "lenet5.onnx")
    assert status == 0, err
    assert "wrote lenet5.onnx: LeNet5 of epoch 1, 12 ONNX nodes, 61,706 parameters" in out
    model = LeNet5()
    model.load_state_dict(tg.load(checkpoint)["model"])
    x = test.images[:5].astype(np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "lenet5.onnx", x), engine(model.eval(), x),
                               rtol=1e-5, atol=1e-5)
    (tmp_path / "theirs.onnx").write_bytes(b"someone else's")
    status, out, err = main("export", checkpoint, "-o", "theirs.onnx")
    assert status == 1 and "Traceback" not in err and "not written by tinygrad-cnn" in err
    status, out, err = main("export", tmp_path / "theirs.onnx", "-o", "x.onnx")
    assert status == 1 and err.count("\n") == 1 and "theirs.onnx" in err
