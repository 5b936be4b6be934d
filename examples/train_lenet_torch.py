"""LeNet-5 trained in plain PyTorch with the recipe of `tinygrad-cnn train`, for comparing
wall times only (tinygrad_cnn does not need PyTorch).

    python examples/train_lenet_torch.py [--dataset fashion-mnist] [--epochs 10] [--threads N]

The recipe of ``tinygrad-cnn train --dataset fashion-mnist`` (and ``mnist``) as
``tinygrad_cnn.train.RECIPES`` sets it: SGD with momentum 0.9, learning rate 0.01, batch 64
with a fresh shuffle every epoch (the last, smaller batch kept), 10 epochs, pixels
normalised with the training set's mean and std, evaluation on the test set in batches of
1,000 under ``no_grad`` after every epoch. The images come from tinygrad_cnn's loaders, so
both libraries train on the same arrays. Each epoch also does what the CLI's loop does for
its progress line (the loss as a Python float, the count of correct predictions).
PyTorch initialises its own weights, so accuracies agree in distribution, not digit for digit.
"""

import argparse
import os
import sys
import time

import numpy as np

from tinygrad_cnn.data import MNIST, FashionMNIST


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["fashion-mnist", "mnist"], default="fashion-mnist")
    p.add_argument("--data-dir", default=None, help="folder holding the IDX files")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="torch.set_num_threads (default: the cores available)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main():
    start = time.perf_counter()
    args = parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("this comparison needs PyTorch: pip install torch (tinygrad_cnn itself "
                 "does not)")
    nn, F = torch.nn, torch.nn.functional
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dataset = {"fashion-mnist": FashionMNIST, "mnist": MNIST}[args.dataset]
    train_set = dataset(args.data_dir, train=True, normalize=True)
    test_set = dataset(args.data_dir, train=False, normalize=True)
    images, labels = torch.from_numpy(train_set.images), torch.from_numpy(train_set.labels)
    test_images = torch.from_numpy(test_set.images)
    test_labels = torch.from_numpy(test_set.labels)

    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    rng = np.random.default_rng(args.seed)
    n, bs = len(labels), args.batch_size
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: LeNet-5 on "
          f"{args.dataset} ({n:,} train / {len(test_labels):,} test images), SGD lr "
          f"{args.lr:g} momentum {args.momentum:g}, batch {bs}, {args.epochs} epochs")
    train_seconds = eval_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(n))
        loss_sum, correct = 0.0, 0
        for begin in range(0, n, bs):
            idx = order[begin:begin + bs]
            x, y = images[idx], labels[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
        t1 = time.perf_counter()
        model.eval()
        test_correct = 0
        with torch.no_grad():
            for begin in range(0, len(test_labels), 1000):
                predicted = model(test_images[begin:begin + 1000]).argmax(1)
                test_correct += int((predicted == test_labels[begin:begin + 1000]).sum())
        t2 = time.perf_counter()
        train_seconds += t1 - t0
        eval_seconds += t2 - t1
        print(f"epoch {epoch:2d}/{args.epochs}  train loss {loss_sum / n:.4f} acc "
              f"{100 * correct / n:5.2f}%  test acc {100 * test_correct / len(test_labels):5.2f}%"
              f"  {n / (t1 - t0):,.0f} img/s ({t1 - t0:.1f} s, evaluation {t2 - t1:.1f} s)",
              flush=True)
    print(f"done: test accuracy {100 * test_correct / len(test_labels):.2f}% after "
          f"{args.epochs} epochs, {train_seconds:.1f} s of training, {eval_seconds:.1f} s of "
          f"evaluation, {time.perf_counter() - start:.1f} s wall time in all")


if __name__ == "__main__":
    main()
