"""The scale-out path: one DistributedDataParallel step over two gloo processes equals one
step of this engine on the whole batch."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F

torch = pytest.importorskip("torch", reason="torch is not installed (pip install "
                            "'tinygrad-cnn[torch]'): the DDP path is not tested")
dist = pytest.importorskip("torch.distributed", reason="this torch has no torch.distributed")
if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip("torch.distributed with the gloo backend is not available in this torch build",
                allow_module_level=True)

LR = 0.5


def _one_ddp_step(rank, init_file, state, images, labels, out):
    """One process of two: one DDP step on its half of the batch; rank 0 saves the result."""
    from tinygrad_cnn.interop.distributed import train_ddp

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=2)
    try:
        model = LeNet5()
        model.load_state_dict(state)
        trained = train_ddp(model, images, labels, LR, epochs=1, per_process=len(images) // 2)
        if rank == 0:
            tg.save(trained.state_dict(), out)
    finally:
        dist.destroy_process_group()


# slower than the rest (a few seconds): two spawned processes each import torch
def test_one_ddp_step_over_two_processes_is_one_step_on_the_whole_batch(tmp_path):
    from tinygrad_cnn.data import MNISTSample

    tg.manual_seed(0)
    model = LeNet5()
    start = model.state_dict()
    sample = MNISTSample(train=True)
    images, labels = sample.images[:16].astype(np.float32), sample.labels[:16]
    out = tmp_path / "ddp.npz"
    torch.multiprocessing.spawn(_one_ddp_step, nprocs=2, join=True, args=(
        str(tmp_path / "rendezvous"), start, images, labels, str(out)))
    ddp = tg.load(out)

    optimizer = tg.optim.SGD(model.parameters(), lr=LR)  # the same step, here, on all 16
    F.cross_entropy(model(tg.Tensor(images)), labels).backward()
    optimizer.step()
    for name, value in model.state_dict().items():
        assert not np.array_equal(value, start[name])  # the step moved every weight
        np.testing.assert_allclose(ddp[name], value, rtol=1e-5, atol=2e-7, err_msg=name)
