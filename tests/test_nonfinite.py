"""A loss that is not finite is blamed on what made it so: images that already held NaN or
infinity, or weights that did when the epoch began, before the learning rate (which keeps
the blame when every input was finite, as for ``--momentum 1e308`` before it was refused)."""

import os

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import optim
from tinygrad_cnn.data import ArrayDataset, DataLoader, MNISTSample
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.train import TrainConfig, TrainingDiverged, fit
from tinygrad_cnn.train.epoch import LossNotFinite, train_epoch


@pytest.fixture(scope="module")
def sets():
    train, test = MNISTSample(train=True), MNISTSample(train=False)
    return (ArrayDataset(train.images[:96].copy(), train.labels[:96], train.classes),
            ArrayDataset(test.images[:32], test.labels[:32], test.classes))


def poisoned(sets, index, value):
    train, test = sets
    images = train.images.copy()
    images[index, 0, 14, 14] = value
    return ArrayDataset(images, train.labels, train.classes), test


def config(tmp_path, **kw):
    return TrainConfig(dataset="sample", epochs=2, batch_size=32, seed=3, schedule="constant",
                       checkpoint=str(tmp_path / "c.npz"), **kw)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_bad_pixel_is_blamed_on_the_data_not_the_learning_rate(tmp_path, sets, value):
    with pytest.raises(TrainingDiverged) as info:
        fit(config(tmp_path), out=open(os.devnull, "w"), datasets=poisoned(sets, 40, value))
    message = str(info.value)
    batch = int(message.split(" at batch ")[1].split(" ")[0])
    assert (f"the loss became NaN or infinite in epoch 1 at batch {batch} of 3 (not the "
            f"learning rate: the images of batch {batch} already held NaN or infinite values; "
            "check the data, the bundled MNIST sample (96 train / 32 test images)); no "
            "checkpoint was written") in message
    assert "lr " not in message and "\n" not in message


def test_finite_inputs_keep_the_learning_rate_advice(tmp_path, sets):
    with pytest.raises(TrainingDiverged) as info:
        fit(config(tmp_path, lr=1e10), out=open(os.devnull, "w"), datasets=sets)
    assert "(lr 1e+10 is probably too high)" in str(info.value)
    assert "not the learning rate" not in str(info.value)


def epoch_on(model, images, labels, lr=0.01):
    loader = DataLoader(ArrayDataset(images, labels), 16)
    return train_epoch(model, optim.SGD(model.parameters(), lr=lr), loader, progress=False)


def test_the_epoch_says_which_batch_of_images_was_not_finite():
    tg.manual_seed(0)
    images = np.random.default_rng(0).random((64, 1, 28, 28)).astype(np.float32)
    labels = np.arange(64) % 10
    images[37, 0, 3, 3] = np.nan  # the third batch of 16
    with pytest.raises(LossNotFinite) as info:
        epoch_on(LeNet5(), images, labels)
    assert (info.value.batch, info.value.images, info.value.weights_finite) == (3, 3, True)
    assert info.value.advice() == ("not the learning rate: the images of batch 3 already held "
                                   "NaN or infinite values; check the data")


def test_weights_that_were_not_finite_at_the_start_are_named():
    tg.manual_seed(0)
    model = LeNet5()
    model.fc3.bias.data[0] = np.nan
    images = np.random.default_rng(0).random((32, 1, 28, 28)).astype(np.float32)
    with pytest.raises(LossNotFinite) as info:
        epoch_on(model, images, np.arange(32) % 10)
    assert info.value.batch == 1 and not info.value.weights_finite
    assert "the weights were already NaN or infinite when the epoch began" in \
        info.value.advice()


def test_a_loss_that_overflows_from_finite_inputs_blames_nothing_else():
    tg.manual_seed(0)
    images = np.random.default_rng(0).random((32, 1, 28, 28)).astype(np.float32)
    with pytest.raises(LossNotFinite) as info, np.errstate(all="ignore"):
        epoch_on(LeNet5(), images, np.arange(32) % 10, lr=1e30)
    assert info.value.images is None and info.value.weights_finite
    assert info.value.advice() is None
