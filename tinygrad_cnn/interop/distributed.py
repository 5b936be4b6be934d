"""Scaling past one machine on an existing distributed engine: a model of this package
trained under PyTorch's ``DistributedDataParallel`` and brought back.

This package has no distributed engine of its own, and needs none: :func:`~.torch_convert.
to_torch` makes the same model in PyTorch, DDP keeps one copy per process and averages the
gradients of every step across them (over ``gloo`` on CPUs, ``nccl`` on GPUs), and
:func:`~.torch_convert.from_torch` brings the weights back. Each process reads its own
slice of every global batch, so with equal slices one DDP step equals one step of a
single process on the whole batch (``tests/test_distributed.py`` checks it).
``examples/ddp_train.py`` runs it with two local processes or under ``torchrun``.
"""

from __future__ import annotations

import numpy as np

from .requirements import require
from .torch_convert import from_torch, to_torch


def global_batches(count: int, per_process: int, world_size: int, rank: int, seed=None):
    """For each step, the sample indices process ``rank`` reads: its slice of a global
    batch of ``per_process * world_size`` samples (a shuffle of ``seed`` shared by all
    processes, or the file order). An incomplete last global batch is dropped, so every
    process takes the same number of steps (DDP waits for all of them at each step)."""
    order = np.arange(count) if seed is None else np.random.default_rng(seed).permutation(count)
    size = per_process * world_size
    for start in range(0, count - size + 1, size):
        yield order[start + rank * per_process:start + (rank + 1) * per_process]


def train_ddp(model, images, labels, lr: float, epochs: int = 1, per_process: int = 64,
              momentum: float = 0.0, seed=None, log=None):
    """Train ``model`` (one of this package) with SGD under DistributedDataParallel, in a
    process group already initialised (``torch.distributed.init_process_group``); return
    the trained model as one of this package again, in every process.

    Parameters
    ----------
    images, labels : numpy.ndarray
        The whole training set, the same in every process: each reads its own slices.
    per_process : int
        Samples per process per step; the global batch is ``per_process * world_size``.
    seed : int, optional
        Shuffle each epoch (with ``seed + epoch``, the same order in every process).
    log : callable, optional
        Called as ``log(epoch, mean_loss)`` after each epoch (in every process).
    """
    torch = require("torch")
    from torch.nn.parallel import DistributedDataParallel

    dist = torch.distributed
    net = to_torch(model).train()
    ddp = DistributedDataParallel(net)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=lr, momentum=momentum)
    x_all, y_all = torch.from_numpy(np.asarray(images, np.float32)), torch.from_numpy(
        np.asarray(labels, np.int64))
    rank, world = dist.get_rank(), dist.get_world_size()
    for epoch in range(epochs):
        total, steps = 0.0, 0
        for index in global_batches(len(images), per_process, world, rank,
                                    None if seed is None else seed + epoch):
            index = torch.from_numpy(index)
            loss = torch.nn.functional.cross_entropy(ddp(x_all[index]), y_all[index])
            optimizer.zero_grad()
            loss.backward()  # DDP averages the gradients of all processes here
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        if log is not None:
            log(epoch, total / max(steps, 1))
    return from_torch(net).train(model.training)
