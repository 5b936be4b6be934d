"""The ``tinygrad-cnn`` command: every expected failure in one line, nothing overwritten
unasked, graph, info, bench and help (training itself: test_train.py)."""

import os
import shutil
import stat
import subprocess
import sys

import pytest


def cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


@pytest.mark.parametrize("command", ["train", "evaluate", "graph", "plot", "filters", "bench",
                                     "info"])
def test_every_command_has_help(command):
    run = cli(command, "--help")
    assert run.returncode == 0 and "usage: tinygrad-cnn " + command in run.stdout


def test_graph_writes_dot_without_graphviz_binaries(tmp_path):
    run = cli("graph", "--output", str(tmp_path / "g.dot"), "--collapse")
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "g.dot").read_text()
    assert text.startswith("digraph") and "conv1 (Conv2d)" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz binaries not installed")
def test_graph_renders_svg_with_grads(tmp_path):
    run = cli("graph", "--output", str(tmp_path / "lenet.svg"), "--grads")
    assert run.returncode == 0, run.stderr
    svg = (tmp_path / "lenet.svg").read_text()
    assert "<svg" in svg and "conv1.weight" in svg


def test_graph_without_graphviz_says_how_to_install(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no `dot` on this PATH
    run = cli("graph", "--output", str(tmp_path / "g.svg"), env=env)
    assert run.returncode == 1
    assert "graphviz" in run.stderr.lower() and "install" in run.stderr
    assert (tmp_path / "g.dot").exists()


def test_info_reports_versions_and_cuda_status():
    run = cli("info")
    assert run.returncode == 0
    default = "cuda" if os.environ.get("TINYGRAD_CNN_DEVICE") == "cuda" else "cpu"
    assert "NumPy" in run.stdout and f"default device: {default}" in run.stdout
    assert "CUDA usable:" in run.stdout


def test_bench_prints_throughput():  # the harness itself: test_benchmark.py
    run = cli("bench", "--batch-size", "8", "--inference-batch-size", "0", "--rounds", "1",
              "--repeat", "1", "--block-seconds", "0.02", "--warmup", "0", "--no-torch")
    assert run.returncode == 0, run.stderr
    assert "images/s" in run.stdout


def test_no_command_prints_help():
    run = cli()
    assert run.returncode == 2 and "train" in run.stdout


# ----------------------------------------------------------------------------- in process

def one_line_error(err, command):
    """The stderr of an expected failure: exactly one line, no traceback."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tinygrad-cnn {command}: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A real one-epoch training checkpoint on 128 sample images."""
    from tinygrad_cnn.data import ArrayDataset, MNISTSample
    from tinygrad_cnn.train import TrainConfig, fit

    train, test = MNISTSample(train=True), MNISTSample(train=False)
    sets = (ArrayDataset(train.images[:128], train.labels[:128], train.classes),
            ArrayDataset(test.images[:100], test.labels[:100], test.classes))
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    fit(TrainConfig(dataset="sample", epochs=1, checkpoint=str(path), normalize=False),
        out=open(os.devnull, "w"), datasets=sets)
    return path


def test_train_refuses_to_overwrite_another_run(main, tmp_path, tiny_checkpoint):
    path = tmp_path / "mine.npz"
    shutil.copy(tiny_checkpoint, path)
    before = path.read_bytes()
    status, out, err = main("train", "--epochs", "1", "--checkpoint", path)
    line = one_line_error(err, "train")
    assert status == 1 and str(path) in line and "refusing to overwrite a training checkpoint" \
        in line and "--resume" in line and "--force" in line
    assert path.read_bytes() == before and "epoch" not in out


@pytest.mark.parametrize("args, problem", [
    (("train", "--checkpoint", "{file}/ckpt.npz"), "is a file, not a directory"),
    (("train", "--checkpoint", "{dir}"), "is a directory"),
    (("train", "--log", "{file}/log.jsonl"), "is a file, not a directory"),
    (("evaluate", "--checkpoint", "{dir}"), "is a directory"),
    (("graph", "--output", "{file}/g.svg"), "is a file, not a directory"),
])
def test_unwritable_paths_fail_at_once_in_one_line(main, tmp_path, args, problem):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    args = [a.format(file=tmp_path / "a_file", dir=tmp_path / "a_dir") for a in args]
    status, out, err = main(*args)
    line = one_line_error(err, args[0])
    assert status == 1 and problem in line and str(tmp_path) in line
    assert "epoch" not in out


def test_diverging_training_exits_non_zero_and_keeps_the_checkpoint(main, tmp_path,
                                                                    tiny_checkpoint):
    path = tmp_path / "kept.npz"
    shutil.copy(tiny_checkpoint, path)
    before = path.read_bytes()
    status, out, err = main("train", "--dataset", "sample", "--lr", "1e10", "--epochs", "1",
                            "--checkpoint", path, "--force")
    line = one_line_error(err, "train")
    assert status == 1 and "training diverged" in line and "in epoch 1 at batch" in line
    assert f"{path} was left as it was" in line
    assert "done:" not in out and path.read_bytes() == before


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1"])
def test_impossible_learning_rates_are_usage_errors(main, value):
    status, _, err = main("train", "--lr", value)
    assert status == 2 and "argument --lr: expected a positive finite number" in err


def test_a_named_data_dir_must_hold_the_data(main, tmp_path):
    status, out, err = main("train", "--data-dir", tmp_path / "missing")
    line = one_line_error(err, "train")
    assert status == 1 and f"{tmp_path / 'missing'}: the MNIST data directory" in line
    assert "does not exist" in line and "bundled" not in out
    (tmp_path / "empty").mkdir()
    status, out, err = main("train", "--dataset", "fashion-mnist", "--data-dir",
                            tmp_path / "empty")
    assert status == 1 and "Traceback" not in err
    assert f"{tmp_path / 'empty' / 'fashion-mnist'}" in err and "not found" in err
    status, _, err = main("train", "--dataset", "sample", "--data-dir", tmp_path / "empty")
    assert status == 2 and "do not apply to --dataset sample" in err


def test_zero_image_files_are_refused(main, tmp_path):
    from test_data import write_fake_set

    write_fake_set(tmp_path / "data", n_train=0)
    status, _, err = main("train", "--dataset", "mnist", "--data-dir", tmp_path / "data")
    line = one_line_error(err, "train")
    assert status == 1 and "train-images-idx3-ubyte: holds no images" in line


def test_resume_with_checkpoints_disabled_is_a_usage_error(main):
    status, _, err = main("train", "--resume", "--checkpoint", "")
    assert status == 2 and "--resume continues from --checkpoint" in err
    assert "None" not in err


def test_bench_refuses_zero_repeats(main):
    status, _, err = main("bench", "--repeat", "0")
    assert status == 2 and "argument --repeat: expected an integer from 1 to 100" in err


def test_evaluate_a_checkpoint_of_another_model(main, tmp_path, tiny_checkpoint):
    from tinygrad_cnn import serialization

    state = serialization.load(tiny_checkpoint)
    state["model"]["fc3.weight"] = state["model"]["fc3.weight"][:7]
    serialization.save(state, tmp_path / "other.npz")
    status, _, err = main("evaluate", "--checkpoint", tmp_path / "other.npz")
    line = one_line_error(err, "evaluate")
    assert status == 1 and str(tmp_path / "other.npz") in line
    assert "'fc3.weight' is (7, 84), the model needs (10, 84)" in line
    (tmp_path / "junk.npz").write_bytes(b"junk")
    status, _, err = main("train", "--resume", "--checkpoint", tmp_path / "junk.npz")
    assert status == 1 and "junk.npz is not a tinygrad_cnn checkpoint" in one_line_error(
        err, "train")


def test_evaluate_a_real_checkpoint(main, tiny_checkpoint):
    status, out, err = main("evaluate", "--checkpoint", tiny_checkpoint)
    assert status == 0, err
    assert "sample test set, 1,000 images, epoch 1" in out and "true \\ predicted" in out


def test_ctrl_c_while_loading_data_prints_no_traceback(main, monkeypatch):
    from tinygrad_cnn.train import loop as train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "load_datasets", interrupted)
    status, _, err = main("train", "--epochs", "1")
    assert status == 130 and "Traceback" not in err
    assert err.strip() == "tinygrad-cnn train: interrupted"


def test_training_stopped_by_ctrl_c_says_where_its_checkpoint_is(main, monkeypatch):
    from tinygrad_cnn.train import loop as train

    def stopped(*args, **kwargs):
        raise train.TrainingInterrupted("interrupted in epoch 1 after batch 3; checkpoint "
                                        "saved to ck.npz, continue with --resume")

    monkeypatch.setattr(train, "fit", stopped)
    status, _, err = main("train", "--epochs", "1")
    assert status == 130 and err.strip() == ("interrupted in epoch 1 after batch 3; "
                                             "checkpoint saved to ck.npz, continue with --resume")


def test_ctrl_c_in_any_command_is_reported_by_the_one_boundary(main, monkeypatch):
    from tinygrad_cnn.bench import harness

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness, "run", interrupted)
    status, out, err = main("bench", "--no-torch")
    assert status == 130 and out == "" and err.strip() == "tinygrad-cnn bench: interrupted"


def test_device_errors_are_expected_failures(main, monkeypatch):
    from tinygrad_cnn import backend
    from tinygrad_cnn.cli import bench as bench_command

    def no_gpu(args):
        raise backend.DeviceError("device 'cuda' is not available: no GPU (test)")

    monkeypatch.setattr(bench_command, "run", no_gpu)
    status, _, err = main("bench")
    assert status == 1 and one_line_error(err, "bench").endswith("no GPU (test)")


def test_unexpected_errors_keep_their_traceback(main, monkeypatch):
    from tinygrad_cnn.train import loop as train

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(train, "fit", bug)
    with pytest.raises(ZeroDivisionError):
        main("train")


def test_graph_never_writes_beside_its_output(main, tmp_path):
    (tmp_path / "g.dot").write_text("my own notes")
    status, _, err = main("graph", "--output", tmp_path / "g.svg", "--collapse")
    if shutil.which("dot"):
        assert status == 0, err
        assert "<svg" in (tmp_path / "g.svg").read_text()
    else:
        assert status == 1 and "Graphviz" in err
    assert (tmp_path / "g.dot").read_text() == "my own notes"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("g.")) == (
        ["g.dot", "g.svg"] if shutil.which("dot") else ["g.dot"])


def test_graph_refuses_a_foreign_output_but_rewrites_its_own(main, tmp_path):
    (tmp_path / "g.dot").write_text("digraph mine {}\n")
    status, _, err = main("graph", "--output", tmp_path / "g.dot")
    assert status == 1 and "refusing to overwrite the graph" in one_line_error(err, "graph")
    assert (tmp_path / "g.dot").read_text() == "digraph mine {}\n"
    assert main("graph", "--output", tmp_path / "g.dot", "--force")[0] == 0
    assert main("graph", "--output", tmp_path / "g.dot", "--collapse")[0] == 0
    assert "conv1 (Conv2d)" in (tmp_path / "g.dot").read_text()


def test_graph_without_graphviz_keeps_a_foreign_dot_file(tmp_path):
    (tmp_path / "g.dot").write_text("not ours")
    env = dict(os.environ, PATH=str(tmp_path))
    run = cli("graph", "--output", str(tmp_path / "g.svg"), env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "refusing to overwrite the DOT source" in run.stderr
    assert (tmp_path / "g.dot").read_text() == "not ours"


@pytest.mark.parametrize("setting, reason", [
    ("bogus", "TINYGRAD_CNN_DEVICE='bogus' is not a valid device; use one of 'cpu', 'cuda'"),
    ("cuda", "device 'cuda' is not available"),
])
def test_an_unusable_device_setting_is_explained_not_a_traceback(setting, reason, tmp_path):
    from tinygrad_cnn import backend

    if setting == "cuda" and backend.cuda_status()[0]:
        pytest.skip("a GPU (or the CuPy double) is usable here")
    env = dict(os.environ, TINYGRAD_CNN_DEVICE=setting)
    info = cli("info", env=env)
    assert info.returncode == 0 and f"default device: none usable: {reason}" in info.stdout
    assert "CuPy" in info.stdout and "Traceback" not in info.stderr
    assert cli("train", "--help", env=env).returncode == 0
    run = cli("train", "--epochs", "1", "--checkpoint", str(tmp_path / "c.npz"), env=env)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"tinygrad-cnn train: error: {reason}"] or \
        run.stderr.strip().startswith(f"tinygrad-cnn train: error: {reason}")
    assert not (tmp_path / "c.npz").exists()


# ------------------------------------------------------------------------- nothing lost, round 2

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("args", [("train", "--force"), ("train", "--resume"), ("evaluate",)])
def test_a_fifo_checkpoint_is_refused_never_opened(main, tmp_path, args):
    import signal

    def blocked(signum, frame):
        raise TimeoutError("blocked: the FIFO was opened")

    os.mkfifo(tmp_path / "pipe.npz")
    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)  # opening the FIFO would wait for a writer forever
    try:
        status, out, err = main(*args, "--checkpoint", tmp_path / "pipe.npz")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    line = one_line_error(err, args[0])
    assert status == 1 and "is a FIFO (named pipe), not a regular file" in line
    assert "--force" not in line and "epoch" not in out
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe.npz").st_mode)


def test_a_checkpoint_path_ending_in_a_slash_is_refused_with_the_file_to_give(main, tmp_path):
    status, out, err = main("train", "--epochs", "1", "--checkpoint", f"{tmp_path / 'new'}/")
    line = one_line_error(err, "train")
    assert status == 1 and "names a directory" in line
    assert f"e.g. {tmp_path / 'new' / 'lenet5.npz'}" in line
    assert not (tmp_path / "new").exists() and out == ""


def test_resuming_a_finished_run_says_nothing_was_trained(main, tmp_path, tiny_checkpoint):
    path = tmp_path / "done.npz"
    shutil.copy(tiny_checkpoint, path)
    status, out, err = main("train", "--resume", "--epochs", "1", "--no-normalize",
                            "--dataset", "sample", "--checkpoint", path)
    assert status == 0, err
    assert out.strip().splitlines() == [
        f"nothing was trained: {path} has already finished 1 of --epochs 1 (test accuracy "
        f"{out.split('test accuracy ')[1].split('%')[0]}%); its cosine schedule ends there: "
        "train longer as a new run (another --checkpoint, or --force)"]


def test_a_full_disk_names_the_checkpoint_and_what_was_kept(main, tmp_path, monkeypatch):
    import errno

    from tinygrad_cnn import serialization

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(serialization, "_write_archive", full)
    status, _, err = main("train", "--epochs", "1", "--checkpoint", tmp_path / "c.npz")
    assert status == 1 and one_line_error(err, "train").endswith(
        f"{tmp_path / 'c.npz'}: cannot write the checkpoint of epoch 1 (No space left on "
        "device); no checkpoint was written")


def test_graph_keeps_a_slide_that_mentions_tinygrad_cnn(main, tmp_path):
    slide = tmp_path / "slide.svg"
    slide.write_text('<?xml version="1.0"?>\n<!-- written by tinygrad-cnn -->\n'
                     "<svg><title>tinygrad-cnn, a talk</title></svg>\n")
    before = slide.read_text()
    status, _, err = main("graph", "--output", slide, "--collapse")
    line = one_line_error(err, "graph")
    assert status == 1 and "refusing to overwrite the graph" in line and "--force" in line
    assert slide.read_text() == before
