"""How often the GPU path makes Python wait for the device, counted by the CuPy double.

Runs in the second pass of ``make test`` (``TINYGRAD_CNN_TEST_CUPY=double
TINYGRAD_CNN_DEVICE=cuda``); skipped otherwise, since only the double counts host reads.
A training step must not wait for the device (at most one read per step, amortised, and
none at all between progress redraws); an evaluated batch must not wait either (one read
at the end of the evaluation).
"""


import numpy as np
import pytest
from helpers import cupy_double_in_use

import tinygrad_cnn as tg
from tinygrad_cnn import train
from tinygrad_cnn.data import ArrayDataset, DataLoader, MNISTSample, RandomShift
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.train import epoch as train_epoch_module
from tinygrad_cnn.train import loop as train_loop
from tinygrad_cnn.train.metrics import evaluate

cupy_double = cupy_double_in_use()
pytestmark = pytest.mark.skipif(
    cupy_double is None or tg.default_device() != "cuda",
    reason="counted by the CuPy double: run with TINYGRAD_CNN_TEST_CUPY=double "
           "TINYGRAD_CNN_DEVICE=cuda (make test does)")


def _subset(n, train_split=True):
    data = MNISTSample(train=train_split, normalize=True)
    return ArrayDataset(data.images[:n], data.labels[:n], data.classes)


def _on_gpu(dataset):
    xp = tg.backend.array_module("cuda")
    return ArrayDataset(xp.asarray(dataset.images), xp.asarray(dataset.labels),
                        dataset.classes)


def _fit_counting(monkeypatch, tmp_path, read_interval, steps=6, batch=32, augment=0,
                  on_gpu=False):
    """Train ``steps`` steps; return (syncs during the epoch's steps, events, steps)."""
    monkeypatch.setattr(train_epoch_module, "READ_INTERVAL", read_interval)
    counted = {}
    original = train_loop.train_epoch

    def counting_epoch(*args, **kwargs):
        with cupy_double.count() as c:
            done = original(*args, **kwargs)
        counted["syncs"], counted["events"] = c.syncs, list(c.events)
        return done

    monkeypatch.setattr(train_loop, "train_epoch", counting_epoch)
    config = train.TrainConfig(dataset="sample", epochs=1, batch_size=batch, augment=augment,
                               device="cuda", checkpoint=str(tmp_path / "ck.npz"))
    sets = (_subset(steps * batch), _subset(64, False))
    train.fit(config, out=open(tmp_path / "log.txt", "w"), progress=False,
              datasets=tuple(map(_on_gpu, sets)) if on_gpu else sets)
    return counted["syncs"], counted["events"], steps


def test_a_training_epoch_reads_the_device_once_when_nothing_is_redrawn(monkeypatch,
                                                                        tmp_path):
    syncs, events, steps = _fit_counting(monkeypatch, tmp_path, read_interval=1e9)
    assert syncs == 1, events  # the epoch's closing read of loss, accuracy, finiteness


def test_training_steps_read_at_most_once_each_even_redrawing_every_step(monkeypatch,
                                                                         tmp_path):
    syncs, events, steps = _fit_counting(monkeypatch, tmp_path, read_interval=0.0)
    assert syncs <= steps + 1, events


def test_evaluation_reads_the_device_once_for_all_batches():
    tg.manual_seed(0)
    model = LeNet5().to("cuda")
    loader = DataLoader(_subset(256, False), batch_size=64, device="cuda")
    with cupy_double.count() as c:
        result = evaluate(model, loader, progress=False)
    assert c.syncs == 1, c.events
    assert result["confusion"].sum() == 256 and 0 <= result["accuracy"] <= 1


def test_out_of_range_labels_on_the_gpu_are_reported_at_the_next_read():
    from tinygrad_cnn import Tensor
    from tinygrad_cnn.nn import functional as F

    logits = Tensor(np.zeros((3, 4)), requires_grad=True, device="cuda")
    labels = Tensor(np.array([0, 4, 1]), device="cuda")
    with cupy_double.count() as c:
        loss = F.cross_entropy(logits, labels)
        loss.backward()
    assert c.syncs == 0, c.events  # the check was queued, not waited for
    with pytest.raises(ValueError, match=r"target value is out of range for 4 classes"):
        loss.item()
    assert loss.item() is not None  # reported once, then cleared


def test_a_dataset_kept_on_the_gpu_gives_batches_without_uploading_them():
    sample = _subset(128)
    xp = tg.backend.array_module("cuda")
    on_gpu = ArrayDataset(xp.asarray(sample.images), xp.asarray(sample.labels), sample.classes)
    assert tg.backend.device_of(on_gpu.images) == "cuda" and on_gpu.labels.dtype == np.int64
    loader = DataLoader(on_gpu, batch_size=32, shuffle=True, device="cuda")
    with cupy_double.count() as c:
        batches = list(loader)
    assert len(batches) == 4 and batches[0][0].device == "cuda"
    assert c.syncs == 0
    assert c.uploads == 1, c.events  # the epoch's order, once; never the images


def test_random_shifts_of_a_dataset_kept_on_the_gpu_never_wait_for_it():
    """The shifts are drawn on the host and applied by one gather whose indices go up with
    the batch: no host read (CuPy's sliding_window_view made two a batch), and the same
    pixels as the host's shifts of the same seed."""
    sample = _subset(128)
    loader = DataLoader(_on_gpu(sample), batch_size=32, shuffle=True, device="cuda",
                        transform=RandomShift(2))
    tg.manual_seed(3)
    with cupy_double.count() as c:
        batches = list(loader)
    assert c.syncs == 0, c.events
    assert c.uploads == 1 + 4, c.events  # the epoch's order; each batch's rows and columns
    tg.manual_seed(3)
    on_host = DataLoader(sample, batch_size=32, shuffle=True, device="cpu",
                         transform=RandomShift(2))
    for (images, labels), (host_images, host_labels) in zip(batches, on_host, strict=True):
        assert images.device == "cuda"
        np.testing.assert_array_equal(images.numpy(), host_images.numpy())
        np.testing.assert_array_equal(labels.numpy(), host_labels.numpy())


def test_training_with_shifts_on_a_gpu_dataset_reads_the_device_once(monkeypatch, tmp_path):
    syncs, events, _ = _fit_counting(monkeypatch, tmp_path, read_interval=1e9, augment=2,
                                     on_gpu=True)
    assert syncs == 1, events
