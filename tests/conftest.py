"""Shared test configuration: Hypothesis profiles chosen by HYPOTHESIS_PROFILE, and the CuPy
test double installed as ``cupy`` when TINYGRAD_CNN_TEST_CUPY=double."""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# TINYGRAD_CNN_TEST_CUPY=double: `import cupy` gives tests/cupy_double.py, here and in the
# subprocesses tests start (through PYTHONPATH), so that with TINYGRAD_CNN_DEVICE=cuda the
# whole suite runs the GPU code path without a GPU. Installed before tinygrad_cnn is
# imported, because the library reads its device once, at import.
CUPY_CHOICE = os.environ.get("TINYGRAD_CNN_TEST_CUPY", "").strip().lower()
if CUPY_CHOICE not in ("", "double"):
    raise pytest.UsageError(f"TINYGRAD_CNN_TEST_CUPY={CUPY_CHOICE!r}: use 'double' or leave "
                            f"it unset (real CuPy, if installed)")
if CUPY_CHOICE == "double":
    _site = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_double_site")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_site, os.path.dirname(_site), os.environ.get("PYTHONPATH")) if p)
    sys.path.insert(0, _site)
    import cupy_double

    cupy_double.install()


def pytest_report_header(config):
    if CUPY_CHOICE == "double":
        return ("cupy: the CuPy test double (tests/cupy_double.py), device "
                f"{os.environ.get('TINYGRAD_CNN_DEVICE', 'cpu') or 'cpu'}")
    return None


@pytest.fixture
def main(capsys, tmp_path, monkeypatch):
    """Run ``tinygrad-cnn ARGS`` in this process; return (status, stdout, stderr)."""
    from tinygrad_cnn.cli import main as cli_main

    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)

    def run(*args):
        try:
            status = cli_main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run
