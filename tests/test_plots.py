"""Pictures of training: the metrics reader, the worst-mistakes choice, the four pictures
written by the CLI (with matplotlib), and the message when matplotlib is missing."""

import json
import os
import shutil
import sys

import numpy as np
import pytest

from tinygrad_cnn.viz import plots
from tinygrad_cnn.fileio import written_by_us


def metrics_line(epoch, acc=0.5):
    return json.dumps({"epoch": epoch, "train_loss": 1.0 / epoch, "train_accuracy": acc,
                       "test_loss": 1.1 / epoch, "test_accuracy": acc - 0.01,
                       "images_per_second": 100.0, "seconds": 1.0})


def test_read_metrics_splits_runs_and_keeps_the_later_repeat(tmp_path):
    path = tmp_path / "m.jsonl"
    lines = [metrics_line(1), metrics_line(2), metrics_line(1), metrics_line(2, 0.6),
             metrics_line(2, 0.7), "", metrics_line(3)]
    path.write_text("\n".join(lines) + "\n")
    runs = plots.read_metrics(path)
    assert [[m["epoch"] for m in run] for run in runs] == [[1, 2], [1, 2, 3]]
    assert runs[1][1]["train_accuracy"] == 0.7


@pytest.mark.parametrize("text, message", [
    ("", "holds no metrics"), ("{bad\n", "line 1: not JSON"),
    (metrics_line(1) + '\n{"epoch": 2}\n', "line 2: not a metrics line"),
])
def test_read_metrics_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "m.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        plots.read_metrics(path)
    assert str(path) in str(info.value)


def test_worst_mistakes_are_the_most_confident_wrong_ones():
    labels = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 2, 2, 0, 1, 5])
    confidence = np.array([0.99, 0.6, 0.98, 0.9, 0.7, 0.5])
    assert plots.worst_mistakes(labels, predicted, confidence, count=2).tolist() == [3, 4]
    assert plots.worst_mistakes(labels, predicted, confidence).tolist() == [3, 4, 1]


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch, capsys):
    from tinygrad_cnn.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(plots.MissingDependencyError, match=r'pip install "tinygrad-cnn\[plot\]"'):
        plots.require_matplotlib()
    (tmp_path / "m.jsonl").write_text(metrics_line(1) + "\n")
    assert main(["plot", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        'tinygrad-cnn plot: error: drawing pictures needs matplotlib, which is not installed; '
        'install it with: pip install "tinygrad-cnn[plot]"']
    assert not (tmp_path / "c.png").exists()


# ----------------------------------------------------------------------------- with matplotlib

@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def png_size(path):
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_command_writes_curves_and_refuses_foreign_files(mpl, tmp_path, capsys):
    from tinygrad_cnn.cli import main

    log = tmp_path / "m.jsonl"
    log.write_text("\n".join(metrics_line(e, 0.5 + 0.1 * e) for e in (1, 2, 3)) + "\n")
    out = tmp_path / "curves.png"
    assert main(["plot", str(log), "-o", str(out)]) == 0
    assert written_by_us(out) and png_size(out)[0] > 800
    assert main(["plot", str(log), "-o", str(out)]) == 0  # ours: rewritten without --force
    foreign = tmp_path / "holiday.png"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\nmy photo")
    assert main(["plot", str(log), "-o", str(foreign)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert foreign.read_bytes() == b"\x89PNG\r\n\x1a\nmy photo"
    assert main(["plot", str(log), "-o", str(tmp_path / "c.svg")]) == 0
    assert written_by_us(tmp_path / "c.svg")
    assert main(["plot", str(log), "-o", str(tmp_path / "c.jpg")]) == 1
    assert "end it in one of .png, .svg, .pdf" in capsys.readouterr().err


def test_evaluate_pictures_and_filters(mpl, tmp_path, capsys, monkeypatch):

    from tinygrad_cnn.cli import main
    from tinygrad_cnn.data import ArrayDataset, MNISTSample
    from tinygrad_cnn.train import TrainConfig, fit

    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    train, test = MNISTSample(train=True), MNISTSample(train=False)
    ckpt = tmp_path / "c.npz"
    fit(TrainConfig(dataset="sample", epochs=1, checkpoint=str(ckpt)), out=open(os.devnull, "w"),
        datasets=(ArrayDataset(train.images[:128], train.labels[:128], train.classes),
                  ArrayDataset(test.images[:64], test.labels[:64], test.classes)))
    confusion, grid = tmp_path / "confusion.png", tmp_path / "grid.png"
    status = main(["evaluate", "--checkpoint", str(ckpt), "--confusion", str(confusion),
                   "--misclassified", str(grid), "--count", "8"])
    assert status == 0, capsys.readouterr().err
    assert written_by_us(confusion) and written_by_us(grid)
    assert main(["filters", str(ckpt), "-o", str(tmp_path / "filters.png")]) == 0
    assert written_by_us(tmp_path / "filters.png")
    from tinygrad_cnn import save
    from tinygrad_cnn.models import LeNet5

    save(LeNet5().state_dict(), tmp_path / "weights.npz")  # a plain state dict works too
    assert main(["filters", str(tmp_path / "weights.npz"), "-o",
                 str(tmp_path / "f2.pdf")]) == 0
    save({"nothing": np.zeros(2)}, tmp_path / "other.npz")
    assert main(["filters", str(tmp_path / "other.npz"), "-o", str(tmp_path / "f3.png")]) == 1
    assert "no 4-D 'conv1.weight'" in capsys.readouterr().err


def test_evaluate_checks_picture_paths_before_evaluating(mpl, tmp_path, capsys, monkeypatch):
    from tinygrad_cnn.cli import main
    from tinygrad_cnn.train import checkpoint

    monkeypatch.setattr(checkpoint, "inspect_checkpoint", lambda *a: pytest.fail("evaluated"))
    (tmp_path / "mine.png").write_bytes(b"not ours")
    assert main(["evaluate", "--confusion", str(tmp_path / "mine.png")]) == 1
    assert "refusing to overwrite the --confusion picture" in capsys.readouterr().err
    assert shutil.os.path.getsize(tmp_path / "mine.png") == 8
