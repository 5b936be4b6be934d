"""A LeNet trained in PyTorch, brought here through ONNX: drawn, inspected, fine-tuned.

1. PyTorch trains a LeNet (a ``torch.nn.Sequential`` with named layers) for one epoch on
   the bundled MNIST sample and exports it with ``torch.onnx.export`` (the TorchScript
   exporter, ``dynamo=False``: it needs nothing beyond torch and onnx, offline).
2. ``tinygrad_cnn.onnx.load`` reads the file as a Module of this engine's layers; its
   logits are compared with PyTorch's.
3. ``tinygrad_cnn.viz.make_dot`` draws its graph (``--graph``, an .svg or .png).
4. ``tinygrad_cnn.inspect.receptive_field`` measures each layer's receptive field.
5. The engine fine-tunes it for one epoch (Adam, the sample's recipe) and the test accuracy
   before and after is printed.

    python examples/torch_lenet_here.py [--graph torch_lenet.svg]

Needs ``pip install "tinygrad-cnn[torch,onnx]"`` (and Graphviz for --graph).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import OrderedDict

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import onnx as tg_onnx
from tinygrad_cnn.data import DataLoader, MNISTSample
from tinygrad_cnn.inspect import receptive_field
from tinygrad_cnn.nn import functional as F


def torch_lenet(torch):
    tn = torch.nn
    return tn.Sequential(OrderedDict(
        conv1=tn.Conv2d(1, 6, 5, padding=2), relu1=tn.ReLU(), pool1=tn.MaxPool2d(2),
        conv2=tn.Conv2d(6, 16, 5), relu2=tn.ReLU(), pool2=tn.MaxPool2d(2),
        flatten=tn.Flatten(), fc1=tn.Linear(400, 120), relu3=tn.ReLU(),
        fc2=tn.Linear(120, 84), relu4=tn.ReLU(), fc3=tn.Linear(84, 10)))


def train_in_torch(torch, train, epochs=1, seed=0):
    torch.manual_seed(seed)
    net = torch_lenet(torch)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    x, y = torch.from_numpy(train.images), torch.from_numpy(train.labels.astype(np.int64))
    order = np.random.default_rng(seed).permutation(len(x))
    for _ in range(epochs):
        for start in range(0, len(x), 64):
            index = torch.from_numpy(order[start:start + 64])
            loss = torch.nn.functional.cross_entropy(net(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval()


def accuracy(model, test) -> float:
    with tg.no_grad():
        logits = model.eval()(tg.Tensor(test.images)).numpy()
    model.train()
    return float(np.mean(logits.argmax(axis=1) == test.labels))


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default=None, help="draw the imported graph here")
    parser.add_argument("--keep", default=None, help="keep the ONNX file here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    train, test = MNISTSample(train=True), MNISTSample(train=False)
    net = train_in_torch(torch, train)
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or os.path.join(folder, "torch_lenet.onnx")
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), path, dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        model = tg_onnx.load(path)
    with torch.no_grad():
        theirs = net(torch.from_numpy(test.images)).numpy()
    with tg.no_grad():
        ours = model(tg.Tensor(test.images)).numpy()
    trained = np.mean(theirs.argmax(1) == test.labels)
    print(f"PyTorch LeNet, 1 epoch: test accuracy {100 * trained:.1f}%; imported here: "
          f"largest |logit difference| {np.abs(theirs - ours).max():.2g}, "
          f"argmax agreement {100 * np.mean(theirs.argmax(1) == ours.argmax(1)):.1f}%")
    print("layers:", ", ".join(f"{name} ({type(m).__name__})" for name, m in
                               model.named_children()))
    if args.graph:
        from tinygrad_cnn.viz import make_dot, render

        dot = make_dot(model(tg.Tensor(test.images[:1])), model,
                       title="A PyTorch LeNet, imported from ONNX")
        print(f"graph drawn: {render(dot, args.graph, force=True)}")
    fields = {name: receptive_field(model, name, (1, 28, 28))
              for name in ("conv1", "pool1", "conv2", "pool2")}
    print("receptive fields:", ", ".join(f"{k} {h}x{w}" for k, (h, w) in fields.items()))
    before = accuracy(model, test)
    tg.manual_seed(0)
    optimizer = tg.optim.Adam(model.parameters(), lr=5e-4)
    losses = []
    for images, labels in DataLoader(train, 64, shuffle=True):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"fine-tuned here for 1 epoch ({len(losses)} steps, Adam lr 5e-4): mean loss "
          f"{np.mean(losses):.4f}; test accuracy {100 * before:.1f}% -> "
          f"{100 * accuracy(model, test):.1f}%")


if __name__ == "__main__":
    main()
