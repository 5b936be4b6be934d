"""``tinygrad-cnn bench --epoch``: its statistics and report on made-up numbers, its errors,
and one real round on a few images of the bundled sample.

What is checked is what the harness computes and prints, never how fast anything is.
"""

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_cnn import cli
from tinygrad_cnn.bench import epoch as be
from tinygrad_cnn.bench import worker as benchmark_worker
from tinygrad_cnn.data import MNISTSample

HAS_TORCH = importlib.util.find_spec("torch") is not None
ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", "bench", *args],
                          capture_output=True, text=True, timeout=600, env=env)


def run(seconds, other=0.0, resolution=0.0):
    return {"seconds": seconds, "other_cpu": other, "resolution": resolution}


# ----------------------------------------------------------------------------- statistics

def test_a_part_leaves_out_disturbed_runs():
    s = be.summarize_part([run(6.0), run(9.0, other=0.4), run(5.0), run(5.5, other=0.12,
                                                                         resolution=0.03)],
                          max_other_cpu=0.1)
    # kept: 6.0, 5.0 and 5.5 (0.12 lies within 0.1 + the counters' resolution)
    assert (s["median"], s["min"], s["max"]) == (5.5, 5.0, 6.0)
    assert s["runs"] == 3 and s["left_out"] == 1 and not s["disturbed"]
    assert s["seconds"] == [6.0, 9.0, 5.0, 5.5] and s["other_cpu"] == [0.0, 0.4, 0.0, 0.12]


def test_a_part_with_no_quiet_run_keeps_them_all_and_says_so():
    s = be.summarize_part([run(4.0, other=0.5), run(2.0, other=0.3)], max_other_cpu=0.1)
    assert s["disturbed"] and s["runs"] == 2 and s["left_out"] == 0
    assert (s["median"], s["min"], s["max"]) == (3.0, 2.0, 4.0)
    unmeasured = be.summarize_part([run(1.0, other=None)], max_other_cpu=0.1)
    assert not unmeasured["disturbed"] and unmeasured["runs"] == 1


def test_ratio_is_of_the_medians_and_ranges_over_rounds_quiet_for_both():
    cli_runs = [run(6.0), run(6.6), run(9.0, other=0.5)]
    steps = [run(5.0), run(6.0, other=0.5), run(6.0)]
    ratio = be.ratio_of(cli_runs, steps, max_other_cpu=0.1)
    # medians of the quiet runs: CLI 6.3, steps 5.5; only round 1 was quiet for both
    assert ratio["median"] == pytest.approx(6.3 / 5.5)
    assert ratio["per_round_min"] == ratio["per_round_max"] == pytest.approx(1.2)
    none_quiet = be.ratio_of([run(2.0, other=0.9)], [run(1.0)], max_other_cpu=0.1)
    assert none_quiet == {"median": 2.0, "per_round_min": None, "per_round_max": None}


def test_epoch_batches_are_one_fixed_shuffle_cut_at_the_batch_size():
    train_set = MNISTSample(train=True)
    batches = be.epoch_batches(train_set, 150)
    assert [len(y) for _, y in batches] == [64, 64, 22]
    assert batches[0][0].shape == (64, 1, 28, 28) and batches[0][1].dtype == np.int64
    again = be.epoch_batches(train_set, 150)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(batches, again))
    images = np.concatenate([x for x, _ in batches]).reshape(150, -1)
    assert len(np.unique(images, axis=0)) == 150  # 150 distinct images, none twice
    assert sum(len(y) for _, y in be.epoch_batches(train_set, len(train_set))) == 4000


def test_cpu_watch_can_count_the_children_it_waited_for_as_its_own():
    before = benchmark_worker.own_cpu_seconds(children=True) - \
        benchmark_worker.own_cpu_seconds()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(2_000_000))"], check=True)
    after = benchmark_worker.own_cpu_seconds(children=True) - benchmark_worker.own_cpu_seconds()
    assert after > before


# ----------------------------------------------------------------------------- the report

def part(median, low, high, left_out=0, disturbed=False):
    return {"median": median, "min": low, "max": high, "runs": 2 - left_out,
            "left_out": left_out, "disturbed": disturbed}


def report(torch=True, overhead=1.04, timed=60_000):
    parts = {be.STEPS: part(5.0, 4.9, 5.2), "data loader alone": part(0.05, 0.04, 0.06),
             "evaluation of the test set": part(0.5, 0.5, 0.6, left_out=1),
             be.CLI_SECONDS: part(5.2, 5.1, 5.3), be.CLI_WALL: part(6.5, 6.4, 6.9)}
    r = {"dataset": "fashion-mnist", "train_images": 60_000, "test_images": 10_000,
         "timed_images": timed, "batch_size": 64, "threads": 2, "rounds": 2,
         "max_other_cpu": 0.1, "cores": 2, "numpy": "2.4.6",
         "versions": {"ours": "0.1.0"}, "notes": [], "parts": parts,
         "overhead": {"median": overhead, "per_round_min": 1.01, "per_round_max": 1.06,
                      "limit": 1.15, "within_limit": overhead <= 1.15},
         "cli_test_accuracy": [0.8512, 0.8498]}
    if torch:
        parts[be.TORCH_STEPS] = part(3.0, 2.5, 3.5, disturbed=True)
        r["versions"]["torch"] = "2.13.0"
        r["ours_over_torch"] = {"median": 5 / 3, "per_round_min": None,
                                "per_round_max": None}
        r["same_start"], r["first_loss"] = False, {"ours": 2.3, "torch": 2.9}
    else:
        r["notes"] = ["PyTorch is not installed: ours only"]
    return r


def test_report_table_has_every_part_relative_to_the_bare_steps():
    lines = be.format_epoch_report(report()).splitlines()
    assert lines[0] == ("Fashion-MNIST: one epoch of 60,000 training images at batch 64, SGD "
                        "with momentum 0.9, lr 0.01; evaluation of 10,000 test images")
    assert "2 threads per process (2 cores available), NumPy 2.4.6, PyTorch 2.13.0" in lines[1]
    assert "| part | seconds | relative to our bare steps |" in lines
    assert "| bare training steps | 5.00 (4.90-5.20) | 1.00 |" in lines
    assert "| data loader alone | 0.05 (0.04-0.06) | 0.01 |" in lines
    assert "| CLI: training seconds it logs | 5.20 (5.10-5.30) | 1.04 |" in lines
    assert "| PyTorch: bare training steps | 3.00 (2.50-3.50) (disturbed) | 0.60 |" in lines
    assert ("CLI epoch (its logged training seconds) / bare steps: 1.04 (1.01-1.06); the goal "
            "is at most 1.15: met") in lines
    assert "our bare steps / PyTorch's: 1.67" in lines
    assert "CLI test accuracy after its epoch: 85.12%, 84.98%" in lines
    assert ("runs left out (other processes took over 10% of the CPU): evaluation of the test "
            "set 1 of 2") in lines
    assert lines[-2].startswith("WARNING: PyTorch: bare training steps: every run was disturbed")
    assert lines[-1].startswith("WARNING: the first losses differ (ours 2.3, PyTorch 2.9)")


def test_report_without_torch_says_so_and_flags_a_missed_limit():
    text = be.format_epoch_report(report(torch=False, overhead=1.31, timed=6_400))
    assert "PyTorch" not in text.replace("PyTorch is not installed: ours only", "")
    assert text.endswith("PyTorch is not installed: ours only")
    assert "/ bare steps: 1.31 (1.01-1.06); the goal is at most 1.15: NOT met" in text
    assert "(parts timed on 6,400 images, scaled to the epoch; the CLI runs it whole)" in text
    assert "WARNING" not in text


# ----------------------------------------------------------------------------- the command

def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinygrad-cnn bench: error: "), err
    return lines[0]


@pytest.mark.parametrize("args, status, message", [
    (["--images", "64"], 2, "--images: only with --epoch"),
    (["--epoch", "--device", "cuda"], 2, "--epoch times training on the CPU only"),
    (["--epoch", "sample", "--images", "5000"], 1,
     "the bundled MNIST sample has 4,000 training images, fewer than the 5,000 asked for"),
    (["--epoch", "sample", "--download"], 1, "--download do not apply to it"),
    (["--epoch", "sample", "--max-other-cpu", "2"], 2, "--max-other-cpu: expected a finite number "
     "from 0 to 1"),
    (["--epoch", "cifar"], 2, "argument --epoch: invalid choice: 'cifar'"),
])
def test_bad_epoch_settings_fail_before_anything_runs(args, status, message, capsys):
    try:
        code = cli.main(["bench", *args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == status and message in err
    assert "Traceback" not in err


def test_a_missing_dataset_is_named_in_one_line_with_how_to_get_it(tmp_path):
    env = dict(os.environ, TINYGRAD_CNN_DATA=str(tmp_path), XDG_CACHE_HOME=str(tmp_path))
    done = run_cli("--epoch", "mnist", env=env)
    line = one_line_error(done.stderr)
    assert done.returncode == 1 and done.stdout == ""
    assert "MNIST train files" in line and "not found in: " + str(tmp_path / "mnist") in line
    assert "--download" in line and "--data-dir" in line


def test_worker_entry_point_without_arguments_prints_usage():
    done = subprocess.run([sys.executable, "-m", "tinygrad_cnn.bench.epoch"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "started by `tinygrad-cnn bench --epoch`" in done.stderr


def test_the_example_is_bench_epoch():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "benchmark_epoch.py"),
                           "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and "usage: tinygrad-cnn bench" in done.stdout
    assert "--epoch [DATASET]" in done.stdout


def test_one_real_round_on_the_sample():
    """Every part measured once on two batches of the sample, the CLI on its 4,000 images."""
    done = run_cli("--epoch", "sample", "--images", "128", "--rounds", "1", "--threads", "1",
                   "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("round 1/1: bare steps ")
    r = json.loads(done.stdout)
    assert (r["dataset"], r["train_images"], r["test_images"], r["timed_images"]) == (
        "sample", 4000, 1000, 128)
    assert r["threads"] == 1 and r["rounds"] == 1
    names = [*be.OURS_PARTS, be.CLI_SECONDS, be.CLI_WALL] + ([be.TORCH_STEPS] if HAS_TORCH
                                                              else [])
    assert list(r["parts"]) == names
    for name, s in r["parts"].items():
        assert 0 < s["min"] == s["median"] == s["max"] == s["seconds"][0], name
        assert s["runs"] + s["left_out"] == 1 and len(s["other_cpu"]) == 1
    parts = r["parts"]
    assert parts[be.CLI_SECONDS]["median"] < parts[be.CLI_WALL]["median"]
    assert r["overhead"]["median"] == pytest.approx(
        parts[be.CLI_SECONDS]["median"] / parts[be.STEPS]["median"])
    assert r["overhead"]["limit"] == 1.15
    assert r["overhead"]["within_limit"] == (r["overhead"]["median"] <= 1.15)
    assert len(r["cli_test_accuracy"]) == 1 and 0.3 < r["cli_test_accuracy"][0] <= 1
    if HAS_TORCH:
        # same weights, same first batch: the first losses agree, near ln(10)
        assert r["same_start"], r["first_loss"]
        assert r["first_loss"]["ours"] == pytest.approx(math.log(10), abs=0.3)
        assert r["ours_over_torch"]["median"] == pytest.approx(
            parts[be.STEPS]["median"] / parts[be.TORCH_STEPS]["median"])
    else:
        assert r["notes"] == ["PyTorch is not installed: ours only"]
    text = be.format_epoch_report(r)  # the text report of real numbers
    assert "the bundled MNIST sample: one epoch of 4,000 training images" in text
    assert "1 thread per process" in text
    assert "| bare training steps | " in text and "the goal is at most 1.15" in text
