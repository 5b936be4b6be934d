"""The ``bench`` harness: its statistics, its memory guard and the report it prints.

Tiny configurations only (a few steps at small batches): these tests check what the
harness computes and reports, never how fast anything is.
"""

import importlib.util
import json
import subprocess
import sys
import tempfile
import time

import pytest

from tinygrad_cnn.bench import harness as benchmark
from tinygrad_cnn.bench import worker as benchmark_worker
from tinygrad_cnn.bench.stats import format_ratio, same_result

HAS_TORCH = importlib.util.find_spec("torch") is not None
TINY = ["--repeat", "1", "--block-seconds", "0.02", "--warmup", "0"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn", "bench", *args],
                          capture_output=True, text=True, timeout=600)


def block(seconds, other, resolution=0.0):
    return {"seconds_per_step": seconds, "other_cpu": other, "resolution": resolution}


def worker_result(blocks, batch_size=10, rss=100 * 2**20):
    return {"batch_size": batch_size, "blocks": blocks, "version": "x", "check": 2.3,
            "threads": 2, "peak_rss_bytes": rss}


def test_other_cpu_share_is_the_part_of_the_cores_time_not_ours():
    # 0.5 s on 2 cores = 1 core-second; the machine was busy 0.9 s, 0.6 of it ours
    assert benchmark_worker.other_cpu_share(0.5, 0.9, 0.6, 2) == pytest.approx(0.3)
    assert benchmark_worker.tick_resolution(1.0, 2) == pytest.approx(
        2 / (2 * benchmark_worker.os.sysconf("SC_CLK_TCK")))


def test_quiet_blocks_allow_for_the_counters_resolution():
    assert benchmark_worker.is_quiet(block(1, 0.10), 0.1)
    assert not benchmark_worker.is_quiet(block(1, 0.11), 0.1)
    assert benchmark_worker.is_quiet(block(1, 0.11, resolution=0.02), 0.1)
    assert benchmark_worker.is_quiet(block(1, None), 0.1)  # not measurable: kept


def test_summarize_leaves_out_disturbed_blocks():
    rounds = [worker_result([block(0.01, 0.0), block(0.02, 0.5), block(0.04, 0.05)]),
              worker_result([block(0.005, 0.9), block(0.02, 0.0)], rss=300 * 2**20)]
    s = benchmark.summarize(rounds, max_other_cpu=0.1)
    # kept: 1000, 250 (round 1) and 500 images/s (round 2)
    assert s["images_per_s"] == {"median": 500.0, "min": 250.0, "max": 1000.0}
    assert s["ms_per_step"] == pytest.approx(20.0)
    assert s["blocks"] == 3 and s["blocks_left_out"] == 2 and not s["disturbed"]
    assert s["round_medians"] == [625.0, 500.0]
    assert s["peak_rss_mb"] == 300.0


def test_summarize_keeps_everything_and_says_so_when_no_block_was_quiet():
    rounds = [worker_result([block(0.01, 0.5)]), worker_result([block(0.02, 0.3)])]
    s = benchmark.summarize(rounds, max_other_cpu=0.1)
    assert s["disturbed"] and s["blocks"] == 2 and s["blocks_left_out"] == 0
    assert s["images_per_s"]["median"] == 750.0
    assert s["round_medians"] == [None, None]
    ratio = benchmark.ratio_stats(s, s)
    assert ratio == {"median": 1.0, "per_round_min": None, "per_round_max": None}


def test_ratio_is_of_medians_and_ranges_over_rounds_quiet_for_both():
    ours = {"images_per_s": {"median": 600.0}, "round_medians": [500.0, 700.0, None]}
    theirs = {"images_per_s": {"median": 1000.0}, "round_medians": [1000.0, 875.0, 900.0]}
    assert benchmark.ratio_stats(ours, theirs) == {
        "median": 0.6, "per_round_min": 0.5, "per_round_max": 0.8}


def sitting(rounds, ours, theirs=None, case=("train", 64)):
    entry = {"task": case[0], "batch_size": case[1], "ours": {"round_medians": ours}}
    if theirs is not None:
        entry["torch"] = {"round_medians": theirs}
    return {"rounds": rounds, "results": [entry]}


def test_sitting_ratios_take_per_process_medians_in_each_sitting_and_all_together():
    from tinygrad_cnn.bench.report import format_sittings, sitting_ratios

    first = sitting(3, [900.0, 1100.0, None], [1000.0, 1000.0, 800.0])
    second = sitting(2, [600.0, 700.0], [1000.0, 1200.0])
    summary = sitting_ratios([first, second])
    assert summary["cases"] == [("train", 64)]
    # each sitting: median of ours' quiet rounds over median of PyTorch's
    assert summary["sittings"] == [(3, [pytest.approx(1000 / 1000)]),
                                   (2, [pytest.approx(650 / 1100)])]
    # together: the medians of all rounds (900, 1100, 600, 700 | 1000, 1000, 800, 1000, 1200),
    # not the median of the sittings' ratios
    assert summary["together"] == (5, [pytest.approx(800 / 1000)])
    table = format_sittings([first, second])
    assert "| 1 | 3 | 1.00 |" in table and "| 2 | 2 | 0.59 |" in table
    assert "| all 2 together | 5 | **0.80** |" in table


def test_sitting_ratios_mark_a_case_a_sitting_lacks_or_ran_without_torch():
    from tinygrad_cnn.bench.report import format_sittings, sitting_ratios

    with_torch = sitting(1, [500.0], [1000.0])
    ours_only = sitting(1, [500.0], case=("infer", 1000))
    summary = sitting_ratios([with_torch, ours_only])
    assert summary["cases"] == [("train", 64), ("infer", 1000)]
    assert summary["sittings"] == [(1, [0.5, None]), (1, [None, None])]
    assert summary["together"] == (2, [0.5, None])
    assert "| 2 | 1 | - | - |" in format_sittings([with_torch, ours_only])


def test_readme_speed_puts_the_sittings_between_the_bench_and_the_epoch_tables():
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "readme_speed.py"
    spec = importlib.util.spec_from_file_location("readme_speed", path)
    readme_speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme_speed)
    bench = {"device": "cpu", "threads": 2, "cores": 2, "numpy": "2", "rounds": 3,
             "blocks_per_round": 5, "block_seconds": 0.3, "warmup_seconds": 0.5,
             "max_other_cpu": 0.1, "notes": [], "results": []}
    epoch = {"busy": 1, "cores": 2, "dataset": "fashion-mnist", "rounds": 3,
             "seconds": {"PyTorch": {"quiet": [4.0], "busy": [12.0]}}}
    alone = readme_speed.render(bench, epoch)
    assert "sitting" not in alone
    text = readme_speed.render(bench, epoch, [sitting(11, [900.0], [1000.0]),
                                              sitting(21, [1200.0], [1000.0])])
    assert "in 2 more of the same code (`tinygrad-cnn bench`, 11, 21 rounds)" in text
    assert "| 2 | 11 | 0.90 |" in text and "| all 3 together | 35 | **1.05** |" in text
    assert text.index("| all 3 together") < text.index("one fashion-mnist epoch")


def test_same_result_allows_float32_reordering_not_another_computation():
    assert same_result(2.302585, 2.3026) and same_result(1e-5, 2e-5)  # near 0: absolute
    assert not same_result(2.30, 2.31)
    assert format_ratio({"median": 0.6, "per_round_min": None, "per_round_max": None}) == "0.60"


def test_memory_guard_refuses_a_batch_that_cannot_fit():
    with pytest.raises(benchmark.BenchmarkError, match=r"batch 100,000 needs about .* GiB"):
        benchmark.check_memory([("train", 100_000)], free_bytes=8 << 30)
    benchmark.check_memory([("train", 64), ("infer", 1000)], free_bytes=8 << 30)
    assert benchmark.estimate_peak_bytes("train", 2000) > benchmark.estimate_peak_bytes(
        "train", 1000)


def test_memory_estimate_covers_what_a_worker_really_uses():
    """Peak memory at two batch sizes: the estimate's bytes per image must cover the growth
    between them, and its total the larger one."""
    cases = [("train", 128), ("train", 768), ("infer", 250), ("infer", 1500)]
    peaks = {}
    with tempfile.TemporaryDirectory() as inputs:
        benchmark_worker.write_inputs(inputs, cases)
        for task, batch_size in cases:
            result = benchmark.run_worker("ours", task, batch_size, inputs, threads=1,
                                          warmup=0, block_seconds=0.001, blocks=1)
            peaks[task, batch_size] = result["peak_rss_bytes"]
            assert peaks[task, batch_size] < benchmark.estimate_peak_bytes(task, batch_size)
    for task, small, large in [("train", 128, 768), ("infer", 250, 1500)]:
        per_image = (peaks[task, large] - peaks[task, small]) / (large - small)
        assert 0 < per_image < benchmark._BYTES_PER_IMAGE[task], (task, per_image)


def test_bench_cli_refuses_an_oversized_batch_in_one_line():
    run = cli("--batch-size", "1000000")
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "batch 1,000,000 needs about" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize("args, status, message", [
    (["--batch-size", "0"], 2, "argument --batch-size: expected an integer from 1 to 1,048,576"),
    (["--rounds", "0"], 2, "argument --rounds: expected an integer from 1 to 100"),
    (["--max-other-cpu", "2"], 2, "argument --max-other-cpu: expected a finite number from 0 "
     "to 1 (a share of the machine's CPU time), got '2'"),
])
def test_bench_cli_rejects_bad_settings(args, status, message):
    run = cli(*args)
    assert run.returncode == status and message in run.stderr
    assert "Traceback" not in run.stderr


def test_bench_json_report_has_every_field():
    run = cli("--batch-size", "16", "--inference-batch-size", "32", "--rounds", "1", "--json",
              "--device", "cpu", *TINY)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["device"] == "cpu" and report["rounds"] == 1
    assert report["threads"] == benchmark.default_threads()
    assert [(e["task"], e["batch_size"]) for e in report["results"]] == [("train", 16),
                                                                         ("infer", 32)]
    libraries = ["ours", "torch"] if HAS_TORCH else ["ours"]
    for entry in report["results"]:
        for lib in libraries:
            stats = entry[lib]
            rate = stats["images_per_s"]
            assert 0 < rate["min"] <= rate["median"] <= rate["max"]
            assert stats["blocks"] + stats["blocks_left_out"] >= 1
            assert len(stats["round_medians"]) == 1
            assert stats["peak_rss_mb"] > 20 and stats["threads"] == report["threads"]
        if HAS_TORCH:
            assert entry["ratio"]["median"] == pytest.approx(
                entry["ours"]["images_per_s"]["median"]
                / entry["torch"]["images_per_s"]["median"])
            # same weights, same batch: the first loss (or mean logit) agrees
            assert entry["same_result"], (entry["ours"]["check"], entry["torch"]["check"])
        else:
            assert "torch" not in entry and "PyTorch is not installed" in report["notes"][0]
    assert report["results"][0]["ours"]["check"] == pytest.approx(2.3, abs=0.3)  # ~ln(10)
    # a real report is what the table of sittings reads (here the same sitting twice)
    from tinygrad_cnn.bench.report import sitting_ratios

    summary = sitting_ratios([report, report])
    assert summary["cases"] == [("train", 16), ("infer", 32)]
    assert summary["together"][0] == 2
    if HAS_TORCH:
        assert summary["together"][1] == pytest.approx(summary["sittings"][0][1])
        assert all(r > 0 for r in summary["together"][1])


def test_bench_text_report_without_torch():
    run = cli("--batch-size", "8", "--inference-batch-size", "0", "--no-torch", "--rounds", "2",
              *TINY)
    assert run.returncode == 0, run.stderr
    assert "| LeNet-5 | tinygrad_cnn | peak RSS MB | our BLAS threads |" in run.stdout
    assert "| training step, batch 8 | " in run.stdout and "inference" not in run.stdout
    assert "round 2/2  training step, batch 8  tinygrad_cnn:" in run.stderr


def test_busy_processes_spin_for_the_block_and_are_always_stopped():
    from tinygrad_cnn.bench.busy import BusyProcesses

    def cpu_ticks(pid):
        with open(f"/proc/{pid}/stat") as stat:
            return sum(int(v) for v in stat.read().rsplit(")", 1)[1].split()[11:13])

    with pytest.raises(KeyboardInterrupt):
        with BusyProcesses(2, seconds=60) as busy:
            spinners = list(busy.processes)
            assert len(spinners) == 2
            deadline = time.monotonic() + 10
            while min(cpu_ticks(p.pid) for p in spinners) < 10:  # 0.1 s of CPU each
                assert time.monotonic() < deadline, "the spinners did not spin"
                time.sleep(0.05)
            raise KeyboardInterrupt  # Ctrl-C in the middle of a timed block
    assert all(p.returncode is not None for p in spinners)


def test_bench_busy_prints_the_busy_table_beside_the_quiet_one():
    run = cli("--batch-size", "8", "--inference-batch-size", "0", "--no-torch", "--rounds", "1",
              "--busy", "1", "--json", *TINY)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    busy = report["busy"]
    assert busy["processes"] == 1
    assert busy["max_other_cpu"] == pytest.approx(
        min(1.0, report["max_other_cpu"] + 1 / benchmark.default_threads()))
    assert [(e["task"], e["batch_size"]) for e in busy["results"]] == [("train", 8)]
    assert busy["results"][0]["ours"]["images_per_s"]["median"] > 0
    assert "training step, batch 8 beside 1 busy  tinygrad_cnn:" in run.stderr
    from tinygrad_cnn.bench.report import format_report

    text = format_report(report)
    assert text.index("quiet:") < text.index("beside 1 busy process:")
    assert text.count("| training step, batch 8 | ") == 2


def test_bench_on_cuda_without_a_gpu_says_what_is_missing():
    from tinygrad_cnn import backend

    if backend.cuda_status()[0]:
        pytest.skip("a GPU is usable here")
    run = cli("--device", "cuda", "--batch-size", "8")
    assert run.returncode == 1 and "device 'cuda' is not available" in run.stderr


def test_worker_entry_point_without_arguments_prints_usage():
    run = subprocess.run([sys.executable, "-m", "tinygrad_cnn.bench.worker"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "started by `tinygrad-cnn bench`" in run.stderr
