"""The README tour and the training example run as written, on whatever device the suite
runs on: in the second pass of ``make test`` that is ``cuda`` through the CuPy double, which
shows that ``TINYGRAD_CNN_DEVICE=cuda`` moves them to the GPU unchanged."""

import os
import pathlib
import re
import subprocess
import sys

import tinygrad_cnn as tg

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_tour_runs(tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text()
    tour = readme[readme.index("## A tour"):]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # it saves lenet5.npz into the working directory
    namespace = {}
    exec(compile(code, "README.md (A tour)", "exec"), namespace)
    assert capsys.readouterr().out.splitlines()[0] == "tensor([[2., 4.]]" + (
        ", device='cuda')" if tg.default_device() == "cuda" else ")")
    assert namespace["model"].conv1.weight.device == tg.default_device()
    assert (tmp_path / "lenet5.npz").exists()


def test_training_example_runs(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "train_lenet.py"),
                          "--epochs", "1", "--train-images", "192"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    assert f"device: {tg.default_device()}" in run.stdout
    assert re.search(r"epoch  1  loss \d\.\d{4}  test accuracy \d+\.\d\d%", run.stdout)
    assert (tmp_path / "lenet5_weights.npz").exists()
