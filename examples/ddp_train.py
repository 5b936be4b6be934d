"""Train LeNet-5 of this package under PyTorch's DistributedDataParallel, and bring it back.

The model (a fresh LeNet-5, or the weights of a checkpoint of ``tinygrad-cnn train``) goes
to PyTorch with ``tinygrad_cnn.interop.to_torch``, trains with one copy per process (the
``gloo`` backend, on CPUs), and comes back with ``from_torch``; rank 0 evaluates it with
this engine and saves it with ``tinygrad_cnn.save`` as ``{"model": state_dict, ...}``, which
``LeNet5().load_state_dict(tg.load(path)["model"])`` and ``tinygrad-cnn filters`` read.

Two processes on this machine (spawned here)::

    python examples/ddp_train.py --processes 2 --epochs 2 -o ddp_lenet5.npz

The same script on many machines, one ``torchrun`` per machine (rank 0's address)::

    torchrun --nnodes 2 --nproc-per-node 4 --node-rank 0 --master-addr 10.0.0.1 \\
        --master-port 29500 examples/ddp_train.py --epochs 2 -o ddp_lenet5.npz

Needs ``pip install "tinygrad-cnn[torch]"``.
"""

from __future__ import annotations

import argparse
import os
import socket
import time

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn.models import LeNet5


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="start from this checkpoint's weights (default: a fresh LeNet-5)")
    p.add_argument("--dataset", default="auto", help="auto, mnist, fashion-mnist or sample")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32, help="per process (default 32)")
    p.add_argument("--lr", type=float, default=0.01, help="SGD, as the MNIST recipe (0.01)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--processes", type=int, default=2,
                   help="local processes to spawn when not started by torchrun (default 2)")
    p.add_argument("-o", "--output", default="ddp_lenet5.npz")
    return p.parse_args(argv)


def accuracy(model, test) -> float:
    """Test accuracy, computed by this engine."""
    with tg.no_grad():
        logits = model.eval()(tg.Tensor(np.asarray(test.images, np.float32))).numpy()
    return float(np.mean(logits.argmax(axis=1) == test.labels))


def run(rank: int, world_size: int, init_method: str, args) -> None:
    """One process: join the group, train its share, and (rank 0) evaluate and save."""
    import torch
    import torch.distributed as dist

    from tinygrad_cnn.data import load_datasets
    from tinygrad_cnn.interop.distributed import train_ddp

    torch.set_num_threads(1)  # one core per process
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size)
    try:
        train, test, name = load_datasets(args.dataset)
        model = LeNet5(num_classes=len(train.classes))
        if args.checkpoint:
            model.load_state_dict(tg.load(args.checkpoint)["model"])

        def log(epoch, loss):
            if rank == 0:
                print(f"epoch {epoch + 1}/{args.epochs}  mean loss of rank 0's batches "
                      f"{loss:.4f}  ({time.perf_counter() - started:.1f} s)", flush=True)

        if rank == 0:
            print(f"{name} test accuracy before: {100 * accuracy(model, test):.2f}%")
        started = time.perf_counter()
        model = train_ddp(model, train.images, train.labels, args.lr, args.epochs,
                          args.batch_size, args.momentum, seed=0, log=log)
        if rank == 0:
            after = accuracy(model, test)
            tg.save({"model": model.state_dict(), "epochs": args.epochs, "dataset": name,
                     "processes": world_size, "test_accuracy": after}, args.output)
            print(f"{world_size} processes, global batch {args.batch_size * world_size}: "
                  f"{name} test accuracy {100 * after:.2f}% (evaluated by tinygrad_cnn); "
                  f"wrote {args.output}")
    finally:
        dist.destroy_process_group()


def _spawned(rank, world_size, init_method, args):
    run(rank, world_size, init_method, args)


def main(argv=None) -> None:
    args = parse(argv)
    if "RANK" in os.environ:  # started by torchrun: it set RANK, WORLD_SIZE, MASTER_ADDR
        run(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), "env://", args)
        return
    import torch.multiprocessing

    with socket.socket() as s:  # a free port on this machine for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_spawned, nprocs=args.processes, join=True,
                                args=(args.processes, f"tcp://127.0.0.1:{port}", args))


if __name__ == "__main__":
    main()
