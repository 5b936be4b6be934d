"""The training loop: learning, checkpoints, interruption and bit-identical resume."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import sample_subsets

from tinygrad_cnn import serialization
from tinygrad_cnn.optim import Adam
from tinygrad_cnn.train import TrainConfig, TrainingInterrupted, fit, read_checkpoint
from tinygrad_cnn.train import epoch as epoch_module
from tinygrad_cnn.train import loop as train_module


@pytest.fixture(scope="module")
def small_sets():
    return sample_subsets(320, 200)


@pytest.fixture(scope="module")
def tiny_sets():
    """Three batches of 32 per epoch: enough for tests of the loop's bookkeeping."""
    return sample_subsets(96, 64)


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
    # no temporary left; the lock file beside the checkpoint stays, released
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.npz.lock", "ckpt.npz"]
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
    # not a terminal: one summary line per epoch, no progress bar redrawn with \r
    assert "\r" not in run.stdout + run.stderr and run.stderr == ""
    assert [line[:10] for line in run.stdout.splitlines()[1:-1]] == ["epoch  1/1"]
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


# ----------------------------------------------------------------------------- nothing lost

def test_a_second_run_does_not_overwrite_the_checkpoint(tmp_path, tiny_sets):
    quiet = open(os.devnull, "w")
    fit(config(tmp_path, epochs=1), out=quiet, datasets=tiny_sets)
    before = (tmp_path / "ckpt.npz").read_bytes()
    with pytest.raises(FileExistsError) as info:
        fit(config(tmp_path, epochs=1, lr=0.5), out=quiet, datasets=tiny_sets)
    message = str(info.value)
    assert "training checkpoint (sample, epoch 1/1" in message
    assert "--resume" in message and "--force" in message
    assert (tmp_path / "ckpt.npz").read_bytes() == before
    fit(config(tmp_path, epochs=1, lr=1e-3, force=True), out=quiet, datasets=tiny_sets)
    assert read_checkpoint(tmp_path / "ckpt.npz")["config"]["lr"] == 1e-3


@pytest.mark.parametrize("where", ["checkpoint", "log"])
def test_unwritable_destinations_fail_before_training(tmp_path, tiny_sets, monkeypatch,
                                                      where):
    monkeypatch.setattr(train_module, "train_epoch", lambda *a, **k: pytest.fail("trained"))
    (tmp_path / "a_file").write_text("x")
    bad = str(tmp_path / "a_file" / "out")
    kw = {"checkpoint": bad} if where == "checkpoint" else {"log": bad}
    with pytest.raises(NotADirectoryError) as info:
        fit(config(tmp_path, **kw), out=open(os.devnull, "w"), datasets=tiny_sets)
    assert info.value.filename == bad
    with pytest.raises(IsADirectoryError):
        fit(config(tmp_path, **{**kw, where: str(tmp_path)}), out=open(os.devnull, "w"),
            datasets=tiny_sets)


def test_resume_without_a_checkpoint_is_a_config_error(tmp_path, tiny_sets):
    with pytest.raises(train_module.ConfigError, match="checkpoints are disabled"):
        fit(config(tmp_path, checkpoint=None, resume=True), datasets=tiny_sets)


# ----------------------------------------------------------------------------- divergence

def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_sets):
    quiet = open(os.devnull, "w")
    fit(config(tmp_path, epochs=1, schedule="constant"), out=quiet, datasets=tiny_sets)
    good = (tmp_path / "ckpt.npz").read_bytes()
    with pytest.raises(train_module.TrainingDiverged) as info:
        fit(config(tmp_path, epochs=3, lr=1e10, schedule="constant", force=True),
            out=quiet, datasets=tiny_sets)
    message = str(info.value)
    assert "loss became NaN or infinite in epoch 1 at batch" in message
    assert "lr 1e+10" in message and f"{tmp_path / 'ckpt.npz'} was left as it was" in message
    assert (tmp_path / "ckpt.npz").read_bytes() == good
    with pytest.raises(train_module.TrainingDiverged, match="no checkpoint was written"):
        fit(config(tmp_path, epochs=1, lr=1e10, checkpoint=str(tmp_path / "new.npz")),
            out=quiet, datasets=tiny_sets)
    assert not (tmp_path / "new.npz").exists()


def test_divergence_names_the_first_bad_batch_and_the_kept_checkpoint(tmp_path, tiny_sets,
                                                                      monkeypatch):
    quiet = open(os.devnull, "w")
    real_step = Adam.step
    calls = {"n": 0}

    def step_then_poison(self):
        real_step(self)
        calls["n"] += 1
        if calls["n"] == 4:  # epoch 2, batch 1: the next loss is NaN
            self.param_groups[0]["params"][0].data[...] = np.nan

    monkeypatch.setattr(Adam, "step", step_then_poison)
    with pytest.raises(train_module.TrainingDiverged) as info:
        fit(config(tmp_path), out=quiet, datasets=tiny_sets)
    assert "epoch 2 at batch 2 of 3" in str(info.value)
    assert f"the last good checkpoint, {tmp_path / 'ckpt.npz'} (epoch 1), was kept" \
        in str(info.value)
    state = read_checkpoint(tmp_path / "ckpt.npz")
    assert state["epoch"] == 1
    assert all(np.isfinite(v).all() for v in state["model"].values())


def test_weights_that_are_not_finite_are_never_saved(tmp_path, tiny_sets, monkeypatch):
    # the very last step of the epoch breaks the weights: the loss seen so far was finite
    real_step = Adam.step
    calls = {"n": 0}

    def poison_last(self):
        real_step(self)
        calls["n"] += 1
        if calls["n"] == 3:
            self.param_groups[0]["params"][-1].data[...] = np.inf

    monkeypatch.setattr(Adam, "step", poison_last)
    with pytest.raises(train_module.TrainingDiverged, match="weights became NaN or infinite"):
        fit(config(tmp_path), out=open(os.devnull, "w"), datasets=tiny_sets)
    assert not (tmp_path / "ckpt.npz").exists()


# ----------------------------------------------------------------------------- device reads

def test_running_sums_are_read_at_most_once_per_interval(tmp_path, tiny_sets, monkeypatch):
    import sys as _sys

    from tinygrad_cnn import backend

    reads = []
    real_to_host = backend.to_host

    from tinygrad_cnn.train import metrics

    def counting_to_host(array):  # host transfers made by the loop itself
        if _sys._getframe(1).f_code.co_filename in (train_module.__file__, epoch_module.__file__,
                                                    metrics.__file__):
            reads.append(1)
        return real_to_host(array)

    monkeypatch.setattr(backend, "to_host", counting_to_host)
    monkeypatch.setattr(epoch_module, "READ_INTERVAL", 1e9)
    fit(config(tmp_path, epochs=2, checkpoint=None), out=open(os.devnull, "w"),
        datasets=tiny_sets)
    # per epoch: the tally at the end, the finite-weights check, evaluate's one read
    assert len(reads) == 2 * 3
    reads.clear()
    monkeypatch.setattr(epoch_module, "READ_INTERVAL", 0.0)
    fit(config(tmp_path, epochs=1, checkpoint=None), out=open(os.devnull, "w"),
        datasets=tiny_sets)
    assert len(reads) == 3 + 3  # a read per batch when the display asks that often


def test_running_sums_match_a_host_computation():
    from tinygrad_cnn.train.metrics import DeviceTally

    rng = np.random.default_rng(0)
    tally, loss_sum, correct = DeviceTally(np, 1.5, 7), 1.5, 7
    for batch in range(1, 6):
        logits = rng.standard_normal((8, 10)).astype(np.float32)
        labels = rng.integers(0, 10, 8)
        loss = np.float32(rng.random())
        tally.add(np.asarray(loss), logits, labels, batch, 8)
        loss_sum += float(loss) * 8
        correct += int((logits.argmax(1) == labels).sum())
    assert tally.read() == (loss_sum, correct, None)
    tally.add(np.asarray(np.float32("nan")), logits, labels, 6, 8)
    tally.add(np.asarray(np.float32("inf")), logits, labels, 7, 8)
    assert tally.read()[2] == 6


def test_evaluate_matches_a_host_confusion_matrix(tiny_sets):
    from tinygrad_cnn import manual_seed
    from tinygrad_cnn.data import DataLoader
    from tinygrad_cnn.models import LeNet5
    from tinygrad_cnn.nn import functional as F
    from tinygrad_cnn.train import evaluate

    manual_seed(0)
    model = LeNet5()
    _, test = tiny_sets
    result = evaluate(model, DataLoader(test, 24), predictions=True)  # 24, 24, 16
    logits = model(tg_tensor(test.images)).numpy()
    predicted = logits.argmax(1)
    expected = np.bincount(test.labels * 10 + predicted, minlength=100).reshape(10, 10)
    np.testing.assert_array_equal(result["confusion"], expected)
    np.testing.assert_array_equal(result["predicted"], predicted)
    shifted = logits - logits.max(1, keepdims=True)
    np.testing.assert_allclose(result["confidence"], 1 / np.exp(shifted).sum(1), rtol=1e-5)
    loss = F.cross_entropy(tg_tensor(logits), tg_tensor(test.labels), reduction="sum").item()
    assert result["loss"] == pytest.approx(loss / len(test), rel=1e-5)
    assert result["accuracy"] == pytest.approx((predicted == test.labels).mean())


def tg_tensor(array):
    from tinygrad_cnn import Tensor

    return Tensor(array)


# ----------------------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory, tiny_sets):
    path = tmp_path_factory.mktemp("ckpt") / "ckpt.npz"
    fit(TrainConfig(dataset="sample", epochs=1, batch_size=64, checkpoint=str(path)),
        out=open(os.devnull, "w"), datasets=tiny_sets)
    return path, serialization.load(path)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(epoch="3"), "'epoch' should be an integer, found str"),
    (lambda s: s.pop("optimizer"), "field 'optimizer' is missing"),
    (lambda s: s.update(config="{not json"), "'config' is not valid JSON"),
    (lambda s: s.update(config='{"dataset": 3}'), "setting 'dataset'"),
    (lambda s: s.update(history='{"a": 1}'), "'history' should hold a JSON list"),
    (lambda s: s["running"].update(loss="x"), "'running/loss' should be a number"),
    (lambda s: s.update(format="something else"), "not a tinygrad_cnn training checkpoint"),
    (lambda s: s["model"].update({"conv1.weight": np.zeros((6, 1, 5, 5), np.int64)}),
     "'conv1.weight' should be a float array"),
])
def test_hand_edited_checkpoints_fail_naming_file_and_field(tmp_path, saved_checkpoint, edit,
                                                            message):
    import copy

    state = copy.deepcopy(saved_checkpoint[1])
    edit(state)
    path = tmp_path / "edited.npz"
    serialization.save(state, path)
    with pytest.raises(serialization.CheckpointError) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_checkpoint_of_another_model_is_refused_before_reading_arrays(tmp_path,
                                                                        saved_checkpoint,
                                                                        monkeypatch):
    from tinygrad_cnn.models import LeNet5
    from tinygrad_cnn.train import checkpoint

    monkeypatch.setattr(checkpoint, "load", lambda *a, **k: pytest.fail("arrays were read"))
    with pytest.raises(serialization.CheckpointError) as info:
        read_checkpoint(saved_checkpoint[0], model=LeNet5(num_classes=7))
    message = str(info.value)
    assert str(saved_checkpoint[0]) in message
    assert "'fc3.weight' is (10, 84), the model needs (7, 84)" in message


def test_progress_bars_draw_on_request_with_running_numbers(tmp_path, tiny_sets, capsys,
                                                            monkeypatch):
    monkeypatch.setattr(epoch_module, "READ_INTERVAL", 0.0)
    fit(config(tmp_path, epochs=1, checkpoint=None), out=open(os.devnull, "w"),
        datasets=tiny_sets, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "evaluate" in err and "img/s" in err and "acc" in err


def test_shows_progress_only_on_terminals_and_notebooks():
    import io

    from tinygrad_cnn.train.progress import shows_progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert shows_progress(None, Terminal()) and not shows_progress(None, io.StringIO())
    assert shows_progress(True, io.StringIO()) and not shows_progress(False, Terminal())


def test_a_symlinked_checkpoint_stays_a_link_through_training_and_resume(tmp_path,
                                                                          tiny_sets):
    (tmp_path / "store").mkdir()
    real = tmp_path / "store" / "run.npz"
    link = tmp_path / "ckpt.npz"
    link.symlink_to(real)  # dangling until the first checkpoint
    quiet = open(os.devnull, "w")
    fit(config(tmp_path, epochs=1, schedule="constant"), out=quiet, datasets=tiny_sets)
    assert link.is_symlink() and real.is_file()
    real.chmod(0o640)
    fit(config(tmp_path, epochs=2, schedule="constant", resume=True), out=quiet,
        datasets=tiny_sets)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert os.stat(real).st_mode & 0o777 == 0o640
    assert read_checkpoint(link)["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz", "store"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [".run.npz.lock", "run.npz"]
