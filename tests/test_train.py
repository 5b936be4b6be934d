"""The training loop: learning, checkpoints, interruption and bit-identical resume."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_cnn import serialization
from tinygrad_cnn import train as train_module
from tinygrad_cnn.data import ArrayDataset, MNISTSample
from tinygrad_cnn.optim import Adam
from tinygrad_cnn.train import TrainConfig, TrainingInterrupted, fit, read_checkpoint


@pytest.fixture(scope="module")
def small_sets():
    train = MNISTSample(train=True, normalize=True)
    test = MNISTSample(train=False, normalize=True)
    return (ArrayDataset(train.images[:320], train.labels[:320], train.classes),
            ArrayDataset(test.images[:200], test.labels[:200], test.classes))


def config(tmp_path, **kw):
    base = dict(dataset="sample", epochs=3, batch_size=32, seed=3,
                checkpoint=str(tmp_path / "ckpt.npz"))
    base.update(kw)
    return TrainConfig(**base)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_training_reduces_the_loss_and_logs_metrics(tmp_path, small_sets):
    log = tmp_path / "metrics.jsonl"
    _, history = fit(config(tmp_path, log=str(log), augment=0, schedule="constant"),
                     out=open(os.devnull, "w"),
                     datasets=small_sets)
    assert len(history) == 3
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.5
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert lines[-1]["images_per_second"] > 0
    state = read_checkpoint(tmp_path / "ckpt.npz")
    assert state["epoch"] == 3 and state["batch"] == 0


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing in fit() catches it."""


def test_resume_after_a_kill_is_bit_identical(tmp_path, small_sets, monkeypatch):
    quiet = open(os.devnull, "w")
    full, _ = fit(config(tmp_path / "a"), out=quiet, datasets=small_sets)

    real_write = train_module.write_checkpoint

    def write_then_die(*args, **kwargs):
        real_write(*args, **kwargs)
        raise Killed  # right after epoch 1's checkpoint

    monkeypatch.setattr(train_module, "write_checkpoint", write_then_die)
    with pytest.raises(Killed):
        fit(config(tmp_path / "b"), out=quiet, datasets=small_sets)
    monkeypatch.setattr(train_module, "write_checkpoint", real_write)
    assert read_checkpoint(tmp_path / "b" / "ckpt.npz")["epoch"] == 1
    resumed, history = fit(config(tmp_path / "b", resume=True), out=quiet, datasets=small_sets)
    assert [m["epoch"] for m in history] == [1, 2, 3]
    assert_same_weights(weights(full), weights(resumed))


def test_signal_mid_epoch_checkpoints_and_resume_is_bit_identical(tmp_path, small_sets,
                                                                   monkeypatch):
    quiet = open(os.devnull, "w")
    full, _ = fit(config(tmp_path / "a"), out=quiet, datasets=small_sets)

    calls = {"n": 0}
    real_step = Adam.step

    def step_then_signal(self):
        real_step(self)
        calls["n"] += 1
        if calls["n"] == 14:  # in epoch 2 (10 batches per epoch)
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Adam, "step", step_then_signal)
    with pytest.raises(TrainingInterrupted, match="epoch 2 after batch 4"):
        fit(config(tmp_path / "b"), out=quiet, datasets=small_sets)
    monkeypatch.setattr(Adam, "step", real_step)
    state = read_checkpoint(tmp_path / "b" / "ckpt.npz")
    assert (state["epoch"], state["batch"]) == (1, 4)
    resumed, _ = fit(config(tmp_path / "b", resume=True), out=quiet, datasets=small_sets)
    assert_same_weights(weights(full), weights(resumed))


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, small_sets, monkeypatch):
    quiet = open(os.devnull, "w")
    cfg = config(tmp_path, epochs=2)
    real_write = train_module.write_checkpoint

    def write_then_die(*args, **kwargs):
        real_write(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(train_module, "write_checkpoint", write_then_die)
    with pytest.raises(Killed):
        fit(cfg, out=quiet, datasets=small_sets)
    monkeypatch.setattr(train_module, "write_checkpoint", real_write)
    before = (tmp_path / "ckpt.npz").read_bytes()

    real_write = serialization._write_archive

    def crash_midway(file, arrays, header):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full (injected)")

    monkeypatch.setattr(serialization, "_write_archive", crash_midway)
    with pytest.raises(OSError, match="injected"):
        fit(dataclass_replace(cfg, resume=True), out=quiet, datasets=small_sets)
    monkeypatch.setattr(serialization, "_write_archive", real_write)
    assert (tmp_path / "ckpt.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]
    assert read_checkpoint(tmp_path / "ckpt.npz")["epoch"] == 1


def test_resume_refuses_a_different_recipe(tmp_path, small_sets):
    quiet = open(os.devnull, "w")
    fit(config(tmp_path, epochs=1), out=quiet, datasets=small_sets)
    with pytest.raises(ValueError, match="lr: checkpoint"):
        fit(config(tmp_path, epochs=1, resume=True, lr=0.5), out=quiet, datasets=small_sets)
    with pytest.raises(ValueError, match="epochs: checkpoint 1, now 3"):
        fit(config(tmp_path, resume=True), out=quiet, datasets=small_sets)


def test_cli_train_and_evaluate_on_the_sample(tmp_path):
    env = dict(os.environ, TINYGRAD_CNN_DATA=str(tmp_path / "nothing"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    ckpt = tmp_path / "lenet.npz"
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn", "train", "--epochs", "1", "--checkpoint",
         str(ckpt)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "bundled MNIST sample" in run.stdout
    assert "done: test accuracy" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn", "evaluate", "--checkpoint", str(ckpt)],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "accuracy" in run.stdout and "true \\ predicted" in run.stdout
    rows = [line.split() for line in run.stdout.splitlines()[-10:]]
    assert sum(int(v) for row in rows for v in row[1:]) == 1000


def test_cli_errors_are_one_clear_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn", "evaluate", "--checkpoint",
         str(tmp_path / "missing.npz")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "missing.npz" in run.stderr and "Traceback" not in run.stderr


def dataclass_replace(cfg, **kw):
    import dataclasses

    return dataclasses.replace(cfg, **kw)


def test_auto_picks_mnist_where_present_else_the_sample(tmp_path, monkeypatch):
    from test_data import write_fake_set

    from tinygrad_cnn.train import load_datasets

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(tmp_path / "data"))
    assert load_datasets("auto")[2] == "sample"
    write_fake_set(tmp_path / "data" / "mnist", n_train=6, n_test=4)
    train, test, name = load_datasets("auto")
    assert name == "mnist" and (len(train), len(test)) == (6, 4)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_datasets("cifar")
