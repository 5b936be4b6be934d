"""Every number a user types is finite and within a bound that says why: training settings
(TrainConfig and ``tinygrad-cnn train``), seeds as PyTorch takes them, the benchmark's
settings (the harness and ``tinygrad-cnn bench``), ``evaluate --count`` and
``graph --batch-size``."""

import os

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import backend
from tinygrad_cnn.bench import harness
from tinygrad_cnn.bench.epoch import run_epoch
from tinygrad_cnn.data import ArrayDataset, MNISTSample
from tinygrad_cnn.train import TrainConfig, fit, read_checkpoint
from tinygrad_cnn.train.config import ConfigError


@pytest.fixture(scope="module")
def tiny_sets():
    train, test = MNISTSample(train=True), MNISTSample(train=False)
    return (ArrayDataset(train.images[:64], train.labels[:64], train.classes),
            ArrayDataset(test.images[:32], test.labels[:32], test.classes))


# ----------------------------------------------------------------------------- seeds

def test_negative_seeds_are_their_unsigned_64_bit_twins_as_in_pytorch():
    draws = {}
    for seed in (-1, 2**64 - 1, -(2**63), 2**63, np.int64(-7), 2**64 - 7):
        tg.manual_seed(seed)
        draws[int(seed)] = backend.host_rng().random(4)
    np.testing.assert_array_equal(draws[-1], draws[2**64 - 1])
    np.testing.assert_array_equal(draws[-(2**63)], draws[2**63])
    np.testing.assert_array_equal(draws[-7], draws[2**64 - 7])
    assert not np.array_equal(draws[-1], draws[-7])
    assert backend.canonical_seed(-1) == 2**64 - 1  # torch.initial_seed() after manual_seed(-1)


def test_pytorch_maps_negative_seeds_the_same_way():
    torch = pytest.importorskip("torch")
    for seed in (-1, -(2**63), -12345):
        torch.manual_seed(seed)
        assert torch.initial_seed() == backend.canonical_seed(seed)
    for seed in (2**64, -(2**63) - 1):
        with pytest.raises((ValueError, RuntimeError)):
            torch.manual_seed(seed)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 1.5, True, "3", None])
def test_seeds_outside_pytorchs_range_are_refused_in_one_line(seed):
    with pytest.raises(ValueError, match=r"seed must be an integer from -2\*\*63 to 2\*\*64 - 1"):
        tg.manual_seed(seed)


def test_a_negative_seed_trains_deterministically_and_resumes_as_its_twin(tmp_path, tiny_sets):
    out = open(os.devnull, "w")
    runs = []
    for name, seed in (("a", -1), ("b", -1), ("c", 2**64 - 1)):
        config = TrainConfig(dataset="sample", epochs=1, batch_size=32, seed=seed,
                             schedule="constant",
                             checkpoint=str(tmp_path / f"{name}.npz"))
        model, _ = fit(config, out=out, datasets=tiny_sets)
        runs.append(model.state_dict())
    for other in runs[1:]:
        for key in runs[0]:
            np.testing.assert_array_equal(runs[0][key], other[key], err_msg=key)
    # the checkpoint of the run seeded -1 continues with either spelling of its seed
    assert read_checkpoint(tmp_path / "a.npz")["config"]["seed"] == 2**64 - 1
    for seed in (-1, 2**64 - 1):
        config = TrainConfig(dataset="sample", epochs=2, batch_size=32, seed=seed, resume=True,
                             schedule="constant", checkpoint=str(tmp_path / "a.npz"))
        fit(config, out=out, datasets=tiny_sets)
    config = TrainConfig(dataset="sample", epochs=3, batch_size=32, seed=-2, resume=True,
                         schedule="constant", checkpoint=str(tmp_path / "a.npz"))
    with pytest.raises(ValueError, match="seed: checkpoint 18446744073709551615, now "
                                         "18446744073709551614"):
        fit(config, out=out, datasets=tiny_sets)


def test_cli_seed_minus_one_trains(main, tmp_path):
    status, out, err = main("train", "--dataset", "sample", "--epochs", "1", "--seed", "-1",
                            "--checkpoint", "")
    assert status == 0 and "Traceback" not in err and "done:" in out
    status, _, err = main("train", "--seed", str(2**64))
    assert status == 2 and "argument --seed: expected an integer from -2**63 to 2**64 - 1" in err


# ----------------------------------------------------------------------------- training

@pytest.mark.parametrize("setting, value, message", [
    ("augment", 30, "augment must be an integer from 0 to 7 (a shift beyond a quarter of "
                    "LeNet-5's 28-pixel side"),
    ("augment", 1_000_000, "augment must be an integer from 0 to 7"),
    ("momentum", 1e308, "momentum must be a finite number from 0 to below 1 (SGD's velocity"),
    ("momentum", 1.0, "momentum must be a finite number from 0 to below 1"),
    ("momentum", float("nan"), "momentum must be a finite number"),
    ("weight_decay", 1e308, "weight_decay must be a finite number from 0 to 1"),
    ("epochs", 10**23, "epochs must be an integer from 1 to 1,000,000"),
    ("batch_size", 10**20, "batch_size must be an integer from 1 to 1,048,576"),
    ("seed", 2**64, "seed must be an integer from -2**63 to 2**64 - 1"),
    ("seed", 0.5, "seed must be an integer"),
])
def test_config_refuses_settings_out_of_bounds_naming_them(setting, value, message):
    config = TrainConfig(dataset="sample", **{setting: value})
    with pytest.raises(ConfigError) as info:
        config.resolved("sample")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_config_accepts_the_bounds_themselves():
    config = TrainConfig(dataset="sample", epochs=1_000_000, batch_size=1 << 20, augment=7,
                         momentum=0.999, weight_decay=1.0, seed=-(2**63)).resolved("sample")
    assert config.augment == 7 and config.seed == 2**63


@pytest.mark.parametrize("args, message", [
    (["--augment", "30"], "argument --augment: expected an integer from 0 to 7 (a shift "
                          "beyond a quarter of LeNet-5's 28-pixel side"),
    (["--augment", "1000000"], "argument --augment: expected an integer from 0 to 7"),
    (["--momentum", "1e308"], "argument --momentum: expected a finite number from 0 to below 1 "
                              "(SGD's velocity"),
    (["--momentum", "1"], "argument --momentum: expected a finite number from 0 to below 1"),
    (["--momentum", "nan"], "argument --momentum: expected a finite number"),
    (["--weight-decay", "1e308"], "argument --weight-decay: expected a finite number from 0 "
                                  "to 1"),
    (["--weight-decay", "inf"], "argument --weight-decay: expected a finite number"),
    (["--epochs", "100000000000000000000000"], "argument --epochs: expected an integer from 1 "
                                               "to 1,000,000"),
    (["--batch-size", "100000000000000000000"], "argument --batch-size: expected an integer "
                                                "from 1 to 1,048,576"),
    (["--seed", "1.5"], "argument --seed: expected an integer"),
])
def test_train_refuses_numbers_out_of_bounds_as_usage_errors(main, args, message):
    status, out, err = main("train", *args)
    assert status == 2 and message in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize("command, args, message", [
    ("evaluate", ["--count", "100000"], "argument --count: expected an integer from 1 to 256"),
    ("evaluate", ["--count", "0"], "argument --count: expected an integer from 1 to 256"),
    ("graph", ["--batch-size", "1000000000"], "argument --batch-size: expected an integer from "
                                              "1 to 1,024"),
])
def test_other_commands_bound_their_numbers(main, command, args, message):
    status, _, err = main(command, *args)
    assert status == 2 and message in err


# ----------------------------------------------------------------------------- benchmarks

@pytest.mark.parametrize("args, message", [
    (["--warmup", "inf"], "argument --warmup: expected a finite number from 0 to 60"),
    (["--warmup", "1e9"], "argument --warmup: expected a finite number from 0 to 60"),
    (["--block-seconds", "nan"], "argument --block-seconds: expected a finite number from "
                                 "0.001 to 10"),
    (["--block-seconds", "0"], "argument --block-seconds: expected a finite number"),
    (["--max-other-cpu", "nan"], "argument --max-other-cpu: expected a finite number from 0 "
                                 "to 1"),
    (["--rounds", "1000000"], "argument --rounds: expected an integer from 1 to 100"),
    (["--repeat", "1000000"], "argument --repeat: expected an integer from 1 to 100"),
    (["--threads", "100000"], "argument --threads: expected an integer from 1 to "),
    (["--inference-batch-size", "-1"], "argument --inference-batch-size: expected an integer "
                                       "from 0 to 1,048,576"),
    (["--seed=-1e3"], "argument --seed: expected an integer"),
    (["--epoch", "sample", "--rounds", "inf"], "argument --rounds: expected an integer"),
])
def test_bench_refuses_numbers_out_of_bounds_as_usage_errors(main, args, message):
    status, out, err = main("bench", *args)
    assert status == 2 and message in err and out == ""


def test_bench_refuses_a_worker_asked_to_time_too_long(main):
    status, out, err = main("bench", "--warmup", "60", "--repeat", "100", "--block-seconds", "10")
    line = err.strip()
    assert status == 1 and "\n" not in line and out == ""
    assert "a worker would time up to 3,060 s" in line and "more than the 600 s" in line


@pytest.mark.parametrize("kwargs, message", [
    (dict(warmup=float("inf")), "warm-up must be a finite number from 0 to 60"),
    (dict(block_seconds=float("nan")), "block seconds must be a finite number"),
    (dict(max_other_cpu=float("nan")), "max-other-cpu must be a finite number from 0 to 1"),
    (dict(rounds=10**9), "rounds must be an integer from 1 to 100"),
    (dict(blocks=2.5), "repeat must be an integer"),
    (dict(threads=10**6), "threads must be an integer from 1 to"),
    (dict(batch_sizes=[0]), "batch size must be an integer from 1 to 1,048,576"),
    (dict(seed=2**64), "seed must be an integer from -2**63 to 2**64 - 1"),
])
def test_the_harness_checks_library_callers_before_anything_runs(kwargs, message):
    with pytest.raises(harness.BenchmarkError, match=message.replace("*", r"\*")):
        harness.run(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_other_cpu=float("nan")), "max-other-cpu must be a finite number from 0 to 1"),
    (dict(max_other_cpu=2), "max-other-cpu must be a finite number from 0 to 1"),
    (dict(rounds=float("inf")), "rounds must be an integer"),
    (dict(threads=10**6), "threads must be an integer from 1 to"),
    (dict(images=0), "images must be a positive integer"),
])
def test_the_epoch_benchmark_checks_library_callers(kwargs, message):
    with pytest.raises(harness.BenchmarkError, match=message):
        run_epoch(dataset="sample", **kwargs)


def test_bench_with_a_negative_seed_runs(main):
    status, out, err = main("bench", "--batch-size", "8", "--inference-batch-size", "0",
                            "--rounds", "1", "--repeat", "1", "--block-seconds", "0.02",
                            "--warmup", "0", "--no-torch", "--seed", "-1")
    assert status == 0 and "images/s" in out, err
