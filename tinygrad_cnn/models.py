"""Ready-made models: ``LeNet5``."""

from __future__ import annotations

from . import nn
from .checks import positive_int


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 single-channel images (MNIST), with ReLU and max pooling.

    ``(N, 1, 28, 28)`` -> conv1 (6 maps, 5x5, padding 2) -> ReLU -> 2x2 max-pool ->
    conv2 (16 maps, 5x5) -> ReLU -> 2x2 max-pool -> flatten (400) -> fc1 (120) -> ReLU ->
    fc2 (84) -> ReLU -> fc3 (``num_classes`` logits).

    Every stage is a submodule (``relu1``, ``pool1``, ``flatten`` ... besides ``conv1``,
    ``conv2``, ``fc1``, ``fc2``, ``fc3``), so ``repr`` lists the whole architecture and a
    graph drawing shows each stage as its own labelled cluster. Only the five learnable
    layers have parameters, so the state dict has PyTorch's usual keys
    (``conv1.weight`` ... ``fc3.bias``) and loads weights from an equivalent torch model.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = positive_int(num_classes, "num_classes", "LeNet5")
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)   # (N, 6, 28, 28)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)                              # (N, 6, 14, 14)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)              # (N, 16, 10, 10)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)                              # (N, 16, 5, 5)
        self.flatten = nn.Flatten(1)                              # (N, 400)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, self.num_classes)

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"LeNet5 expects images of shape (N, 1, 28, 28), got {tuple(x.shape)}"
            )
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)
