"""Throughput of a LeNet-5 training step (forward, backward, SGD-momentum step), ours and
PyTorch's measured in the same process, since shared machines drift between runs."""

from __future__ import annotations

import statistics
import time

import numpy as np

from . import backend, optim
from .models import LeNet5
from .nn import functional as F
from .tensor import Tensor


def _median_seconds(step, repeat: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lenet_step_ours(batch_size: int, device: str = "cpu", seed: int = 0):
    """A closure running one training step of our LeNet-5 on fixed random data."""
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LeNet5().to(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = Tensor(rng.random((batch_size, 1, 28, 28), dtype=np.float32), device=device)
    y = Tensor(rng.integers(0, 10, batch_size), device=device)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":
            backend.array_module(device).cuda.Device().synchronize()

    return step


def lenet_step_torch(batch_size: int, seed: int = 0):
    """The same step in PyTorch (CPU), or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    tnn, tF = torch.nn, torch.nn.functional
    torch.manual_seed(seed)
    model = tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.random((batch_size, 1, 28, 28), dtype=np.float32))
    y = torch.tensor(rng.integers(0, 10, batch_size))

    def step():
        loss = tF.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def run(batch_size: int = 64, repeat: int = 50, warmup: int = 10, device: str = "cpu",
        rounds: int = 3, out=print) -> dict:
    """Time both steps, interleaved over several rounds; print and return images/s."""
    ours = lenet_step_ours(batch_size, device)
    theirs = lenet_step_torch(batch_size)
    t_ours, t_torch = [], []
    for _ in range(rounds):
        # a pause before each turn: OpenBLAS's and PyTorch's worker threads spin for a while
        # after their last call and would slow whichever library runs next
        time.sleep(0.2)
        t_ours.append(_median_seconds(ours, repeat, warmup))
        if theirs is not None:
            time.sleep(0.2)
            t_torch.append(_median_seconds(theirs, repeat, warmup))
    result = {"batch_size": batch_size, "device": device,
              "ours_images_per_s": batch_size / min(t_ours)}
    out(f"LeNet-5 training step, batch {batch_size}, {device}:")
    out(f"  tinygrad_cnn  {1e3 * min(t_ours):7.2f} ms/step  "
        f"{result['ours_images_per_s']:9,.0f} images/s")
    if theirs is not None:
        import torch

        result["torch_images_per_s"] = batch_size / min(t_torch)
        result["ratio"] = result["ours_images_per_s"] / result["torch_images_per_s"]
        out(f"  PyTorch {torch.__version__} ({torch.get_num_threads()} threads) "
            f"{1e3 * min(t_torch):7.2f} ms/step  {result['torch_images_per_s']:9,.0f} images/s")
        out(f"  throughput ratio ours/PyTorch: {result['ratio']:.2f}x")
    else:
        out("  (PyTorch not installed: no comparison)")
    return result
