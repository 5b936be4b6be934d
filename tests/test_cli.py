"""The ``tinygrad-cnn`` command: graph, info, bench and help (train/evaluate: test_train.py)."""

import os
import shutil
import subprocess
import sys

import pytest


def cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


@pytest.mark.parametrize("command", ["train", "evaluate", "graph", "bench", "info"])
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
    assert "NumPy" in run.stdout and "default device: cpu" in run.stdout
    assert "CUDA usable:" in run.stdout


def test_bench_prints_throughput():  # the harness itself: test_benchmark.py
    run = cli("bench", "--batch-size", "8", "--inference-batch-size", "0", "--rounds", "1",
              "--repeat", "1", "--block-seconds", "0.02", "--warmup", "0", "--no-torch")
    assert run.returncode == 0, run.stderr
    assert "images/s" in run.stdout


def test_no_command_prints_help():
    run = cli()
    assert run.returncode == 2 and "train" in run.stdout
