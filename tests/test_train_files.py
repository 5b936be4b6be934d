"""Training's files: one run per checkpoint, checked again before each write; the epoch's
checkpoint written before its log line and its summary; a closed stdout or a full disk
under the log loses no epoch; a --log appended to only when it is ours."""

import errno
import json
import os
import subprocess
import sys

import pytest

from tinygrad_cnn import serialization
from tinygrad_cnn.data import ArrayDataset, MNISTSample
from tinygrad_cnn.train import TrainConfig, fit, read_checkpoint, runlog
from tinygrad_cnn.train import loop as train_module
from tinygrad_cnn.train.lock import CheckpointInUseError, CheckpointLock


@pytest.fixture(scope="module")
def tiny_sets():
    """Three batches of 32 per epoch."""
    train, test = MNISTSample(train=True), MNISTSample(train=False)
    return (ArrayDataset(train.images[:96], train.labels[:96], train.classes),
            ArrayDataset(test.images[:64], test.labels[:64], test.classes))


def config(tmp_path, **kw):
    base = dict(dataset="sample", epochs=2, batch_size=32, seed=3, schedule="constant",
                checkpoint=str(tmp_path / "ckpt.npz"))
    base.update(kw)
    return TrainConfig(**base)


def quiet():
    return open(os.devnull, "w")


def log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------- one run per checkpoint

HOLD = """
import sys
from tinygrad_cnn.train.lock import CheckpointLock
with CheckpointLock(sys.argv[1], "20250101-000000-abcdef"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_on_a_held_checkpoint_fails_at_once_naming_the_other(tmp_path, tiny_sets,
                                                                          monkeypatch):
    ckpt = tmp_path / "ckpt.npz"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ckpt)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        monkeypatch.setattr(train_module, "load_datasets", lambda *a: pytest.fail("loaded"))
        with pytest.raises(CheckpointInUseError) as info:
            fit(config(tmp_path), out=quiet())
        message = str(info.value)
        assert info.value.filename == str(ckpt) and "in use by another training run" in message
        assert f"process {holder.pid}" in message and "run 20250101-000000-abcdef" in message
        with pytest.raises(CheckpointInUseError):  # --force replaces a file, not a run
            fit(config(tmp_path, force=True), out=quiet())
    finally:
        holder.kill()  # killed, not released: the OS drops the lock all the same
        holder.wait()
    fit(config(tmp_path, epochs=1), out=quiet(), datasets=tiny_sets)
    assert read_checkpoint(ckpt)["epoch"] == 1


class After:
    """A stdout that runs ``action`` once, when the first epoch's summary arrives (after
    that epoch's checkpoint was written)."""

    def __init__(self, action):
        self.action = action

    def write(self, text):
        if text.startswith("epoch  1/") and self.action:
            self.action()
            self.action = None

    def flush(self):
        pass


def test_the_checkpoint_is_checked_again_before_each_write(tmp_path, tiny_sets):
    ckpt = tmp_path / "ckpt.npz"
    theirs = After(lambda: serialization.save({"theirs": 1}, ckpt))  # a program with no lock
    with pytest.raises(CheckpointInUseError) as info:
        fit(config(tmp_path, epochs=2), out=theirs, datasets=tiny_sets)
    message = str(info.value)
    assert info.value.filename == str(ckpt) and "replaced by another program" in message
    aside = message.split("saved to ")[1].split(" instead")[0]
    assert aside.startswith(str(tmp_path / "ckpt.")) and aside.endswith(".npz")
    assert serialization.load(ckpt) == {"theirs": 1}  # left as it is
    assert read_checkpoint(aside)["epoch"] == 2  # and this run's epoch is not lost


def test_a_lock_file_removed_under_a_run_stops_its_writes(tmp_path, tiny_sets):
    remove = After(lambda: os.unlink(tmp_path / ".ckpt.npz.lock"))
    with pytest.raises(CheckpointInUseError, match="lock file .* was removed or replaced"):
        fit(config(tmp_path, epochs=2), out=remove, datasets=tiny_sets)
    assert read_checkpoint(tmp_path / "ckpt.npz")["epoch"] == 1


def test_a_failed_run_in_a_new_directory_leaves_nothing(tmp_path):
    ckpt = tmp_path / "new" / "deeper" / "ckpt.npz"
    with CheckpointLock(ckpt, "r") as lock:
        assert os.path.exists(lock.lock_path)
    assert not (tmp_path / "new").exists()


# ----------------------------------------------------------------------------- the end of an epoch

class Watching:
    """A stdout that, when a summary line arrives, records what was on disk by then."""

    def __init__(self, ckpt, log):
        self.ckpt, self.log, self.seen = ckpt, log, []

    def write(self, text):
        if text.startswith("epoch "):
            self.seen.append((read_checkpoint(self.ckpt)["epoch"],
                              [m["epoch"] for m in log_lines(self.log)]))

    def flush(self):
        pass


def test_checkpoint_then_log_line_then_summary(tmp_path, tiny_sets):
    out = Watching(tmp_path / "ckpt.npz", tmp_path / "m.jsonl")
    fit(config(tmp_path, log=str(tmp_path / "m.jsonl")), out=out, datasets=tiny_sets)
    assert out.seen == [(1, [1]), (2, [1, 2])]


def test_a_closed_stdout_loses_no_epoch(tmp_path, tiny_sets):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away: `train | head -0`
    out = os.fdopen(write_end, "w")
    try:
        _, history = fit(config(tmp_path, log=str(tmp_path / "m.jsonl")), out=out,
                         datasets=tiny_sets)
        out.write("more\n")
        out.flush()  # the stream now goes nowhere, without failing again
    finally:
        out.close()
    assert len(history) == 2 and read_checkpoint(tmp_path / "ckpt.npz")["epoch"] == 2
    assert [m["epoch"] for m in log_lines(tmp_path / "m.jsonl")] == [1, 2]


def test_a_full_disk_under_the_log_is_a_warning_and_the_line_comes_later(tmp_path, tiny_sets,
                                                                         monkeypatch, capsys):
    real_append = runlog.append_whole
    calls = []

    def full_once(path, data, what):
        calls.append(data)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        real_append(path, data, what)

    monkeypatch.setattr(runlog, "append_whole", full_once)
    log = tmp_path / "m.jsonl"
    _, history = fit(config(tmp_path, epochs=3, log=str(log)), out=quiet(), datasets=tiny_sets)
    err = capsys.readouterr().err
    assert f"warning: {log}: could not write the metrics of epoch 1 (No space left" in err
    assert "they are in the checkpoint's history" in err
    assert [m["epoch"] for m in log_lines(log)] == [1, 2, 3] and len(calls) == 3
    assert read_checkpoint(tmp_path / "ckpt.npz")["epoch"] == 3


def test_a_full_disk_under_the_checkpoint_names_it_and_the_one_kept(tmp_path, tiny_sets,
                                                                    monkeypatch):
    real_archive = serialization._write_archive
    calls = []

    def full_at_epoch_2(file, arrays, header):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_archive(file, arrays, header)

    monkeypatch.setattr(serialization, "_write_archive", full_at_epoch_2)
    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(OSError) as info:
        fit(config(tmp_path), out=quiet(), datasets=tiny_sets)
    assert info.value.filename == str(ckpt) and info.value.errno == errno.ENOSPC
    assert info.value.strerror == (
        "cannot write the checkpoint of epoch 2 (No space left on device); the last "
        "checkpoint (epoch 1) was kept; free some space, then continue with --resume")
    assert read_checkpoint(ckpt)["epoch"] == 1


# ----------------------------------------------------------------------------- the log

def test_log_lines_carry_the_run_and_a_resumed_run_keeps_its_id(tmp_path, tiny_sets):
    log = tmp_path / "m.jsonl"
    fit(config(tmp_path, epochs=1, log=str(log)), out=quiet(), datasets=tiny_sets)
    fit(config(tmp_path, epochs=2, log=str(log), resume=True), out=quiet(), datasets=tiny_sets)
    fit(config(tmp_path / "other", epochs=1, log=str(log)), out=quiet(), datasets=tiny_sets)
    runs = [m["run"] for m in log_lines(log)]
    assert runs[0] == runs[1] != runs[2]
    assert read_checkpoint(tmp_path / "ckpt.npz")["run"] == runs[0]


def test_the_log_goes_into_a_new_directory(tmp_path, tiny_sets):
    log = tmp_path / "new" / "m.jsonl"
    fit(config(tmp_path, epochs=1, log=str(log)), out=quiet(), datasets=tiny_sets)
    assert [m["epoch"] for m in log_lines(log)] == [1]


@pytest.mark.parametrize("name, content, problem", [
    ("train.py", "import os\n", "line 1 is not a metrics line of tinygrad-cnn train"),
    ("edited.jsonl", None, "line 1 was edited after tinygrad-cnn wrote it"),
    ("data.bin", "\0\1\2", "it is a binary file"),
])
def test_the_log_is_appended_to_only_when_it_is_ours(tmp_path, tiny_sets, monkeypatch, name,
                                                     content, problem):
    from tinygrad_cnn.fileio import sign_line

    log = tmp_path / name
    if content is None:
        content = sign_line({"run": "r", "epoch": 1, "train_loss": 0.5, "train_accuracy": 0.5,
                             "test_loss": 0.5, "test_accuracy": 0.5}).replace("0.5", "0.4", 1)
    log.write_text(content)
    monkeypatch.setattr(train_module, "load_datasets", lambda *a: pytest.fail("trained"))
    with pytest.raises(FileExistsError) as info:
        fit(config(tmp_path, log=str(log)), out=quiet())
    assert problem in str(info.value) and info.value.filename == str(log)
    assert log.read_text() == content


def test_the_log_may_not_be_the_checkpoint(tmp_path, tiny_sets):
    with pytest.raises(train_module.ConfigError, match="is the checkpoint itself"):
        fit(config(tmp_path, log=str(tmp_path / "ckpt.npz")), out=quiet(), datasets=tiny_sets)


def test_an_earlier_versions_log_is_appended_to(tmp_path, tiny_sets):
    log = tmp_path / "m.jsonl"
    old = json.dumps({"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.5, "test_loss": 0.5,
                      "test_accuracy": 0.5, "images_per_second": 1.0, "seconds": 1.0})
    log.write_text(old + "\n" + old[:30])  # and a line an older version cut short
    fit(config(tmp_path, epochs=1, log=str(log)), out=quiet(), datasets=tiny_sets)
    lines = log.read_text().splitlines()
    assert lines[:2] == [old, old[:30]] and json.loads(lines[2])["epoch"] == 1


@pytest.mark.parametrize("length", [230, 255])
def test_a_long_checkpoint_name_is_not_refused(tmp_path, tiny_sets, length):
    ckpt = tmp_path / ("c" * (length - 4) + ".npz")
    fit(config(tmp_path, epochs=1, checkpoint=str(ckpt)), out=quiet(), datasets=tiny_sets)
    assert read_checkpoint(ckpt)["epoch"] == 1
