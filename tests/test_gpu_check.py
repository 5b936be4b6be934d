"""examples/gpu_check.py, the check run on a machine with a GPU, checked here without one:
its suite part runs the whole suite and lists every failure, and its train part holds a
resumed run to an uninterrupted one, bit for bit (on the suite's device: the GPU path
through the CuPy double in the second pass)."""

import contextlib
import importlib.util
import io
import pathlib

import pytest
from helpers import sample_subsets

import tinygrad_cnn as tg
from tinygrad_cnn.data import ArrayDataset
from tinygrad_cnn.train import loop

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "examples" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)

PYTEST_OUTPUT = """\
..F..F.s.E
=========================== short test summary info ============================
FAILED tests/test_cupy_double.py::test_double_agrees_with_real_cupy[nep50] - assert ...
FAILED tests/test_cupy_double.py::test_fill_with_a_device_scalar - AssertionError
FAILED tests/test_ops.py::test_matmul[float32] - ValueError: boom
ERROR tests/test_train.py::test_resume - RuntimeError: no
=== 3 failed, 812 passed, 40 skipped, 1 error in 95.12s (0:01:35) ===
"""


def test_the_suite_part_runs_to_the_end_and_lists_the_failures_by_file(monkeypatch, capsys,
                                                                       tmp_path):
    commands = []

    def fake_run(args, timeout, env=None, stdout_only=False):
        commands.append(args)
        return 1, PYTEST_OUTPUT, 95.0

    monkeypatch.setattr(gpu_check, "_run", fake_run)
    log = tmp_path / "suite.log"
    ok, detail = gpu_check.part_suite(type("Args", (), {"suite_timeout": 60,
                                                        "suite_log": str(log)})())
    assert log.read_text() == PYTEST_OUTPUT  # the whole output, kept for reading later
    assert not ok and "-x" not in commands[0]  # one failure does not stop the rest
    assert detail.startswith("3 failed, 812 passed, 40 skipped, 1 error in 95.12s")
    assert detail.endswith("failures by file: tests/test_cupy_double.py: 2; "
                           "tests/test_ops.py: 1; tests/test_train.py: 1")
    printed = capsys.readouterr().out
    assert ("failed in tests/test_cupy_double.py: test_double_agrees_with_real_cupy[nep50], "
            "test_fill_with_a_device_scalar") in printed


@pytest.fixture(scope="module")
def tiny():
    return sample_subsets(96, 64)


def in_process_cli(monkeypatch, datasets_for):
    """``gpu_check``'s CLI runner, running ``tinygrad-cnn`` in this process, with training
    on small datasets (``datasets_for(argv)``) so the test stays fast."""
    from tinygrad_cnn.cli import main

    real_fit = loop.fit

    def cli(*argv):
        datasets = datasets_for(argv)
        monkeypatch.setattr(loop, "fit", lambda config, **kw: real_fit(
            config, out=io.StringIO(), progress=False, datasets=datasets))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(list(argv))
        return code, out.getvalue(), 0.0

    return cli


def test_the_train_part_holds_a_resumed_run_to_an_uninterrupted_one(monkeypatch, tiny):
    cli = in_process_cli(monkeypatch, lambda argv: tiny)
    ok, detail = gpu_check.part_train(None, cli=cli, device=tg.default_device())
    assert ok, detail
    assert f"on {tg.default_device()}, bit for bit equal to 2 epochs in one go" in detail


def test_the_train_part_fails_when_the_resumed_run_differs(monkeypatch, tiny):
    train, test = tiny
    other = ArrayDataset(train.images[::-1].copy(), train.labels[::-1].copy(), train.classes)
    cli = in_process_cli(monkeypatch, lambda argv: (other, test) if "--resume" in argv
                         else tiny)
    ok, detail = gpu_check.part_train(None, cli=cli, device=tg.default_device())
    assert not ok
    assert detail.startswith(f"a run resumed on {tg.default_device()} differs from an "
                             f"uninterrupted one: model/conv1.bias: ")
    assert "values differ" in detail and detail.endswith(" more)")
