"""Ready-made models: ``LeNet5`` and the lecture's variants of it (``LeNet5Strided``
without pooling, ``LeNet5GAP`` with a convolutional head), and ``fully_convolutional``,
which rewrites a trained LeNet-5 to classify every window of a larger image at once."""

from __future__ import annotations

from collections import OrderedDict

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


class LeNet5Strided(nn.Module):
    """LeNet-5 without pooling: each 2x2 max pool replaced by a stride of 2 in the
    convolution before it.

    The maps have LeNet-5's sizes (28 -> 14 -> 5) and the model LeNet-5's 61,706
    parameters, so the one thing missing is the maximum over each window: a stride-2
    convolution keeps every other value where the pool keeps the largest of four. The
    lecture (page 7) trains both to measure how much of LeNet-5's tolerance to moved
    digits is the pooling's own. conv2's receptive field is 13 pixels instead of 16.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = positive_int(num_classes, "num_classes", "LeNet5Strided")
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, stride=2, padding=2)   # (N, 6, 14, 14)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, stride=2)             # (N, 16, 5, 5)
        self.relu2 = nn.ReLU()
        self.flatten = nn.Flatten(1)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, self.num_classes)

    def forward(self, x):
        x = self.flatten(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        return self.fc3(self.relu4(self.fc2(self.relu3(self.fc1(x)))))


class LeNet5GAP(nn.Module):
    """LeNet-5's two convolution stages with a convolutional head and a global average
    pool in place of the fully connected layers.

    ``(N, 1, H, W)`` -> LeNet-5's conv1, pool1, conv2, pool2 -> conv3 (120 maps, 3x3,
    padding 1) -> ReLU -> conv4 (``num_classes`` maps, 1x1) -> mean over all positions ->
    logits. Every layer is shared across positions, so a pattern scores the same wherever
    the last maps hold it, and any image of at least 12x12 pixels is accepted (the talk's
    question: "why fully connected layers on top, if the label is translation-invariant?").
    21,182 parameters instead of LeNet-5's 61,706.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = positive_int(num_classes, "num_classes", "LeNet5GAP")
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(16, 120, kernel_size=3, padding=1)
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(120, self.num_classes, kernel_size=1)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.conv4(self.relu3(self.conv3(x)))     # (N, classes, h, w): a class map
        return x.mean(axis=(2, 3))


def fully_convolutional(model: LeNet5) -> nn.Sequential:
    """A trained :class:`LeNet5` rewritten as a fully convolutional network, same weights.

    fc1 sees pool2's 16 maps of 5x5 at once, so it is a 5x5 convolution with 120 filters
    (its weight rows reshaped to ``(120, 16, 5, 5)``, the order ``Flatten`` reads them);
    fc2 and fc3 are 1x1 convolutions. On a 28x28 image the result gives LeNet-5's logits as
    ``(N, classes, 1, 1)``; on a larger image ``(N, 1, H, W)`` it gives a class map
    ``(N, classes, H // 4 - 6, W // 4 - 6)`` at a stride of 4 pixels, entry ``(i, j)``
    scoring the 28x28 window whose corner is at ``(4 i, 4 j)``, with the convolutions
    shared between overlapping windows instead of recomputed. The new model holds copies of
    the weights, so training it leaves ``model`` unchanged.
    """
    if not isinstance(model, LeNet5):
        raise TypeError(f"fully_convolutional: expected a LeNet5, got {type(model).__name__}")

    def conv_from(linear, channels: int, size: int) -> nn.Conv2d:
        out_features = linear.weight.shape[0]
        conv = nn.Conv2d(channels, out_features, kernel_size=size)
        conv.load_state_dict({"weight": linear.weight.numpy().reshape(conv.weight.shape),
                              "bias": linear.bias.numpy()})
        return conv

    def copy(conv: nn.Conv2d) -> nn.Conv2d:
        twin = nn.Conv2d(conv.weight.shape[1], conv.weight.shape[0],
                         kernel_size=conv.weight.shape[2:], stride=conv.stride,
                         padding=conv.padding)
        twin.load_state_dict(conv.state_dict())
        return twin

    fcn = nn.Sequential(OrderedDict([
        ("conv1", copy(model.conv1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", copy(model.conv2)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("fc1", conv_from(model.fc1, 16, 5)), ("relu3", nn.ReLU()),
        ("fc2", conv_from(model.fc2, 120, 1)), ("relu4", nn.ReLU()),
        ("fc3", conv_from(model.fc3, 84, 1)),
    ]))
    return fcn.train(model.training)
