"""Train LeNet-5 with the library API: the same steps `tinygrad-cnn train` takes, spelled out.

    python examples/train_lenet.py            # MNIST if found, else the bundled sample
    python examples/train_lenet.py --epochs 3
    TINYGRAD_CNN_DEVICE=cuda python examples/train_lenet.py   # the same on the GPU
"""

import argparse
import time

import tinygrad_cnn as tg
from tinygrad_cnn import nn, optim
from tinygrad_cnn.data import MNIST, ArrayDataset, DataLoader, MNISTSample
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--train-images", type=int, default=None,
                    help="train on the first N training images only (a quick look)")
args = parser.parse_args()

tg.manual_seed(0)  # fixes the initial weights and the shuffling order
try:
    train_set, test_set = MNIST(train=True, normalize=True), MNIST(train=False, normalize=True)
except FileNotFoundError:
    print("MNIST not found: using the 5,000 digits bundled with the package")
    train_set = MNISTSample(train=True, normalize=True)
    test_set = MNISTSample(train=False, normalize=True)
if args.train_images is not None:
    first = slice(args.train_images)
    train_set = ArrayDataset(train_set.images[first], train_set.labels[first], train_set.classes)
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
test_loader = DataLoader(test_set, batch_size=1000)

model = LeNet5()  # parameters on the default device (TINYGRAD_CNN_DEVICE)
print(model)
print(f"device: {model.conv1.weight.device}")
optimizer = optim.Adam(model.parameters(), lr=args.lr)


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = 0
    with tg.no_grad():  # no tape: evaluation needs no gradients
        for images, labels in loader:
            correct = correct + (model(images).argmax(axis=1) == labels).sum()
    model.train()
    return correct.item() / len(loader.dataset)  # one read from the device, at the end


for epoch in range(1, args.epochs + 1):
    start, total_loss = time.perf_counter(), 0.0
    for images, labels in train_loader:
        loss = F.cross_entropy(model(images), labels)  # forward, recorded on the tape
        optimizer.zero_grad()
        loss.backward()  # walk the tape backwards: every parameter gets its .grad
        optimizer.step()  # move each parameter against its gradient
        # summed where the loss lives: loss.item() here would make a GPU wait every step
        total_loss = total_loss + loss.detach() * len(labels)
    total_loss = total_loss.item()
    seconds = time.perf_counter() - start
    print(f"epoch {epoch:2d}  loss {total_loss / len(train_set):.4f}  "
          f"test accuracy {100 * accuracy(model, test_loader):.2f}%  "
          f"({len(train_set) / seconds:,.0f} images/s)")

tg.save(model.state_dict(), "lenet5_weights.npz")
print("weights saved to lenet5_weights.npz")
