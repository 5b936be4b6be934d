"""One training epoch of LeNet-5 (SGD, momentum 0.9, lr 0.01, batch 64), ours and PyTorch's
taking turns in one process, so both see the same machine.

    python examples/benchmark_epoch.py [--dataset fashion-mnist|mnist|sample] [--rounds 2]

Needs PyTorch (`pip install torch`) and, for the full datasets, their files (see README).
"""

import argparse
import time

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import optim
from tinygrad_cnn.data import DataLoader
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F
from tinygrad_cnn.train import load_datasets

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="fashion-mnist")
parser.add_argument("--rounds", type=int, default=2)
args = parser.parse_args()

import torch  # noqa: E402  (after argparse, so --help works without torch)

tnn, tF = torch.nn, torch.nn.functional
torch.manual_seed(0)
tg.manual_seed(0)
train_set, _, name = load_datasets(args.dataset)
images, labels = torch.tensor(train_set.images), torch.tensor(train_set.labels)

theirs = tnn.Sequential(
    tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
    tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
    tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))
their_opt = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
ours = LeNet5()
our_opt = optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
loader = DataLoader(train_set, 64, shuffle=True)


def our_epoch():
    for x, y in loader:
        loss = F.cross_entropy(ours(x), y)
        our_opt.zero_grad()
        loss.backward()
        our_opt.step()


def their_epoch():
    order = torch.randperm(len(labels))
    for start in range(0, len(labels), 64):
        idx = order[start:start + 64]
        loss = tF.cross_entropy(theirs(images[idx]), labels[idx])
        their_opt.zero_grad()
        loss.backward()
        their_opt.step()


print(f"{name}: {len(train_set):,} images per epoch, torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads")
times = {"tinygrad_cnn": [], "PyTorch": []}
for r in range(args.rounds):
    for label, epoch in (("tinygrad_cnn", our_epoch), ("PyTorch", their_epoch)):
        time.sleep(0.3)  # let the other library's worker threads go idle
        start = time.perf_counter()
        epoch()
        times[label].append(time.perf_counter() - start)
        print(f"round {r + 1}  {label:13s} {times[label][-1]:6.2f} s/epoch", flush=True)
ratio = np.median(times["PyTorch"]) / np.median(times["tinygrad_cnn"])
print(f"throughput ratio ours/PyTorch: {ratio:.2f}x")
