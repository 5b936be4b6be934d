"""Pictures of training: the metrics reader, the worst-mistakes choice, the four pictures
written by the CLI (with matplotlib), and the message when matplotlib is missing."""

import json
import os
import re
import shutil
import sys

import numpy as np
import pytest

from tinygrad_cnn.fileio import sign_line, written_by_us
from tinygrad_cnn.viz import plots
from tinygrad_cnn.viz.metrics import read_metrics


def metrics(epoch, acc=0.5):
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_accuracy": acc,
            "test_loss": 1.1 / epoch, "test_accuracy": acc - 0.01,
            "images_per_second": 100.0, "seconds": 1.0}


def metrics_line(epoch, acc=0.5, run=None):
    """A line as train --log writes it (signed, with its run), or without ``run`` as
    versions before run ids wrote it."""
    entry = metrics(epoch, acc)
    return sign_line({"run": run, **entry}) if run else json.dumps(entry)


def test_read_metrics_splits_earlier_runs_and_keeps_the_later_repeat(tmp_path):
    path = tmp_path / "m.jsonl"
    lines = [metrics_line(1), metrics_line(2), metrics_line(1), metrics_line(2, 0.6),
             metrics_line(2, 0.7), "", metrics_line(3)]
    path.write_text("\n".join(lines) + "\n")
    runs = read_metrics(path)
    assert [[m["epoch"] for m in run.epochs] for run in runs] == [[1, 2], [1, 2, 3]]
    assert runs[1].epochs[1]["train_accuracy"] == 0.7


def test_runs_sharing_a_log_at_the_same_time_are_not_spliced(tmp_path):
    # two runs appending to one --log at once, the second resumed after a lost checkpoint
    path = tmp_path / "m.jsonl"
    lines = [metrics_line(1, 0.1, "A"), metrics_line(1, 0.6, "B"), metrics_line(2, 0.2, "A"),
             metrics_line(2, 0.7, "B"), metrics_line(3, 0.3, "A"), metrics_line(2, 0.8, "B")]
    path.write_text("\n".join(lines) + "\n")
    runs = read_metrics(path)
    assert [r.name for r in runs] == ["A", "B"] and [r.last_line for r in runs] == [5, 6]
    assert [m["train_accuracy"] for m in runs[0].epochs] == [0.1, 0.2, 0.3]
    assert [m["train_accuracy"] for m in runs[1].epochs] == [0.6, 0.8]
    assert "run" not in runs[0].epochs[0] and "signature" not in runs[0].epochs[0]


@pytest.mark.parametrize("text, message", [
    ("", "holds no metrics"), ("{bad\n", "line 1: not JSON"),
    (metrics_line(1) + '\n{"epoch": 2}\n', "line 2: not a metrics line"),
    (metrics_line(1) + "\n[1, 2]\n", "line 2: not a metrics line of tinygrad-cnn train "
                                      "--log (a JSON list, not an object)"),
    (metrics_line(1) + "\n" + metrics_line(2).replace('"epoch": 2', '"epoch": "2"'),
     "line 2: 'epoch' should be a whole number from 1, found '2'"),
    (metrics_line(1).replace("0.49", '"0.49"') + "\n",
     "line 1: 'test_accuracy' should be a number, found '0.49'"),
    (metrics_line(1) + "\n" + json.dumps({**metrics(2), "run": 7}),
     "line 2: 'run' should be a run id"),
])
def test_read_metrics_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "m.jsonl"
    path.write_text(text)
    with pytest.raises(plots.PlotInputError, match=re.escape(message)) as info:
        read_metrics(path)
    assert str(path) in str(info.value)


def test_plot_refuses_a_checkpoint_a_binary_file_and_a_fifo_in_one_line(tmp_path, capsys,
                                                                        monkeypatch):
    from tinygrad_cnn import save
    from tinygrad_cnn.cli import main

    monkeypatch.chdir(tmp_path)
    save({"w": np.zeros(3)}, tmp_path / "c.npz")
    (tmp_path / "photo.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "latin.jsonl").write_bytes(metrics_line(1).encode() + b"\n{\"caf\xe9\"}\n")
    cases = [("c.npz", "a zip archive (a checkpoint?), not the JSON lines"),
             ("photo.bin", "a binary file, not the JSON lines"),
             ("latin.jsonl", "line 2: not text (UTF-8)")]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")  # opening it would wait for a writer forever
        cases.append(("pipe", "is a FIFO (named pipe), not a regular file"))
    for name, message in cases:
        assert main(["plot", str(tmp_path / name), "-o", str(tmp_path / "c.png")]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert str(tmp_path / name) in err and message in err, err


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
    report = tmp_path / "report.pdf"  # a user's PDF that mentions us is not ours
    report.write_bytes(b"%PDF-1.4\n(curves by tinygrad-cnn)\n%%EOF\n%tinygrad-cnn\n")
    assert main(["plot", str(log), "-o", str(report)]) == 1
    assert "mark of an earlier tinygrad-cnn" in capsys.readouterr().err
    assert report.read_bytes().endswith(b"%tinygrad-cnn\n")
    assert main(["plot", str(log), "-o", str(tmp_path / "c.jpg")]) == 1
    assert "end it in one of .png, .svg, .pdf" in capsys.readouterr().err


def test_plot_draws_one_run_of_a_shared_log(mpl, tmp_path, capsys):
    from tinygrad_cnn.cli import main

    log = tmp_path / "m.jsonl"
    lines = [metrics_line(1, 0.1, "20250101-000000-aaaaaa"),
             metrics_line(1, 0.6, "20250101-000001-bbbbbb"),
             metrics_line(2, 0.2, "20250101-000000-aaaaaa"),
             metrics_line(2, 0.7, "20250101-000001-bbbbbb"),
             metrics_line(3, 0.3, "20250101-000000-aaaaaa")]
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "c.svg"
    assert main(["plot", str(log), "-o", str(out)]) == 0  # the run of the last line
    said = capsys.readouterr().out
    assert "3 epochs of run 20250101-000000-aaaaaa" in said and "holds 2 runs" in said
    assert "20250101-000000-aaaaaa" in out.read_text()  # in the title
    assert main(["plot", str(log), "-o", str(out), "--run", "20250101-000001"]) == 0
    assert "2 epochs of run 20250101-000001-bbbbbb" in capsys.readouterr().out
    assert main(["plot", str(log), "-o", str(out), "--run", "1"]) == 0
    assert "3 epochs of run 20250101-000000-aaaaaa" in capsys.readouterr().out
    for bad, message in (("3", "no such run; choose a number from 1 to 2, or an id"),
                         ("2025", "several runs starting so"), ("zzz", "no such run")):
        with pytest.raises(SystemExit):
            main(["plot", str(log), "-o", str(out), "--run", bad])
        assert message in capsys.readouterr().err


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
