"""The dataset registry: one record per dataset, read by the CLI, the loaders, downloads and
the training recipe. A made-up dataset, registered here and nowhere else, trains through the
CLI like MNIST does: that is what "adding a dataset is one record" means.

Everything runs on small IDX files written into tmp_path; downloads come from a ``file://``
mirror, so nothing touches the network.
"""

import gzip
import hashlib
import json

import numpy as np
import pytest
from test_data import idx_bytes

from tinygrad_cnn import data
from tinygrad_cnn.data import (
    DatasetError,
    DatasetInfo,
    Recipe,
    check_data_source,
    dataset_names,
    download_dataset,
    get_dataset,
    load_datasets,
    register_dataset,
    unregister_dataset,
)

NAME = "tiny-bars"
CLASSES = ("bar at the top", "bar in the middle", "bar at the bottom")


def bars(n: int, seed: int):
    """``n`` noisy 28x28 uint8 images of a bright horizontal bar whose height is the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels):
        image[4 + 8 * label:8 + 8 * label] = 250
    return images, labels


@pytest.fixture
def made_up(tmp_path):
    """A dataset of 300 + 60 images published as ``.gz`` IDX files in ``tmp_path/mirror``,
    registered under NAME for one test; yields ``(record, mirror folder)``."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    splits = {"train": bars(300, seed=1), "t10k": bars(60, seed=2)}
    sha256 = {}
    for prefix, (images, labels) in splits.items():
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte.gz"
            (mirror / name).write_bytes(gzip.compress(idx_bytes(array), mtime=0))
            sha256[name] = hashlib.sha256((mirror / name).read_bytes()).hexdigest()
    pixels = splits["train"][0] / 255.0
    info = register_dataset(DatasetInfo(
        name=NAME, title="Tiny bars", classes=CLASSES,
        mean=float(pixels.mean()), std=float(pixels.std()),
        recipe=Recipe(optimizer="adam", lr=3e-3, epochs=4, schedule="constant", augment=0),
        sha256=sha256, mirrors=(mirror.as_uri() + "/",),
    ))
    yield info, mirror
    unregister_dataset(NAME)
    assert NAME not in dataset_names()


def test_a_made_up_dataset_trains_through_the_cli(made_up, tmp_path, main):
    info, mirror = made_up
    folder = tmp_path / "data" / NAME  # the files where --data-dir finds them
    folder.mkdir(parents=True)
    for path in mirror.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    checkpoint, log = tmp_path / "bars.npz", tmp_path / "bars.jsonl"
    status, out, err = main("train", "--dataset", NAME, "--data-dir", tmp_path / "data",
                            "--epochs", "1", "--checkpoint", checkpoint, "--log", log)
    assert status == 0, err
    # the record's title, sizes and recipe (adam at 3e-3, not the sample's 2e-3 cosine)
    assert "training LeNet-5 on Tiny bars (300 train / 60 test images) with adam lr 0.003 " \
           "(constant), batch 64, 1 epochs" in out
    assert "epoch  1/1  train loss" in out and "done: test accuracy" in out
    assert checkpoint.is_file()
    metrics = json.loads(log.read_text().splitlines()[0])
    assert metrics["epoch"] == 1 and 0 <= metrics["test_accuracy"] <= 1

    from tinygrad_cnn import serialization
    from tinygrad_cnn.train import inspect_checkpoint

    state = serialization.load(checkpoint)
    assert state["model"]["fc3.weight"].shape == (3, 84)  # one output per class of the record
    assert inspect_checkpoint(checkpoint)["config"]["dataset"] == NAME

    status, out, err = main("evaluate", "--checkpoint", checkpoint)
    assert status == 0, err
    assert f"{NAME} test set, 60 images, epoch 1" in out and "bar at " in out


def test_a_made_up_dataset_downloads_from_its_mirror_checked(made_up, tmp_path):
    info, mirror = made_up
    target = download_dataset(NAME, tmp_path / "data", progress=False)
    assert target == tmp_path / "data" / NAME
    assert sorted(p.name for p in target.iterdir()) == sorted(info.sha256)
    train, test, name = load_datasets(NAME, tmp_path / "data")
    assert (len(train), len(test), name) == (300, 60, NAME)
    assert train.classes == list(CLASSES) and type(train).__name__ == "IdxDataset"
    assert abs(float(train.images.mean())) < 1e-3  # standardised with the record's mean/std
    (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="checksum mismatch for t10k-labels-idx1-ubyte.gz"):
        download_dataset(NAME, tmp_path / "data", progress=False)


def test_the_cli_offers_what_is_registered(made_up):
    from tinygrad_cnn.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "--dataset", NAME])
    assert args.dataset == NAME
    assert NAME in data.MIRRORS and NAME in data.SHA256
    from tinygrad_cnn.train import RECIPES

    assert RECIPES[NAME] == {"optimizer": "adam", "lr": 3e-3, "epochs": 4,
                             "schedule": "constant", "augment": 0}


# ----------------------------------------------------------------------------- the registry

def test_names_and_spellings():
    assert dataset_names()[:3] == ("mnist", "fashion-mnist", "sample")
    for spelling in ("fashion-mnist", "Fashion_MNIST", "fashionmnist", "fashion"):
        assert get_dataset(spelling).name == "fashion-mnist"
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'; choose one of mnist, "
                       "fashion-mnist, sample"):
        get_dataset("cifar")


def test_a_name_is_registered_once(made_up):
    info, _ = made_up
    with pytest.raises(ValueError, match="'tiny-bars' already names a registered dataset"):
        register_dataset(info)
    with pytest.raises(ValueError, match="'fashion' already names"):
        register_dataset(DatasetInfo(name="other", title="Other", classes=("a",), mean=0.5,
                                     std=0.5, recipe=info.recipe, aliases=("fashion",)))
    assert register_dataset(info, replace=True) is info


def test_a_record_gives_the_hash_of_every_file():
    with pytest.raises(ValueError, match="sha256 must give the hash of each"):
        DatasetInfo(name="half", title="Half", classes=("a",), mean=0.5, std=0.5,
                    recipe=Recipe("sgd", 0.1, 1), sha256={"train-images-idx3-ubyte.gz": "0"})


def test_records_are_frozen():
    info = get_dataset("mnist")
    with pytest.raises(AttributeError):
        info.mean = 0.5
    with pytest.raises(TypeError):
        info.sha256["train-images-idx3-ubyte.gz"] = "0"


def test_the_bundled_rule_is_stated_once():
    check_data_source("mnist", "/somewhere", True)  # kept in files: anything goes
    check_data_source("auto", "/somewhere", True)  # not a record: resolved elsewhere
    check_data_source("sample")
    with pytest.raises(DatasetError) as info:
        check_data_source("sample", download=True, named_by="--dataset")
    assert str(info.value) == ("the bundled sample is part of the package: --data-dir and "
                               "--download do not apply to --dataset sample")
    with pytest.raises(KeyError, match="do not apply to it"):
        check_data_source("sample", "", error=KeyError)  # an empty directory is still named
