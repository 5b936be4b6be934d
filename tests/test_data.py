"""tinygrad_cnn.data: IDX reader, dataset search and loading, bundled sample, DataLoader.

Everything runs on tiny IDX files written into tmp_path; nothing touches the network or $HOME.
"""

import collections
import gzip
import re
from dataclasses import replace

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import backend
from tinygrad_cnn.data import (
    MNIST,
    ArrayDataset,
    DataLoader,
    FashionMNIST,
    MNISTSample,
    default_collate,
    get_dataset,
    load_idx,
    register_dataset,
    search_dirs,
)
from tinygrad_cnn.data import datasets as ds

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array, type_code=None, ndim=None, dims=None):
    """IDX encoding of ``array``, written from the format description (not via the reader)."""
    array = np.asarray(array)
    code = IDX_CODES[array.dtype.type] if type_code is None else type_code
    dims = array.shape if dims is None else dims
    ndim = len(dims) if ndim is None else ndim
    header = bytes([0, 0, code, ndim]) + np.asarray(dims, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=False, **kw):
    data = idx_bytes(array, **kw)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_fake_set(directory, n_train=6, n_test=4, gz=False, seed=0):
    """The four MNIST files with random images; returns the train (images, labels)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", labels, gz=gz)
        out[split] = (images, labels)
    return out["train"]


@pytest.fixture
def swap_dataset():
    """``swap(name, **fields)``: the registered record of ``name`` with other fields, for one
    test (e.g. mirrors on a local server); every swapped record is restored afterwards."""
    originals = []

    def swap(name, **fields):
        original = get_dataset(name)
        originals.append(original)
        return register_dataset(replace(original, **fields), replace=True)

    yield swap
    for original in reversed(originals):
        register_dataset(original, replace=True)


@pytest.fixture
def clean_env(tmp_path, monkeypatch, swap_dataset):
    """No $TINYGRAD_CNN_DATA, the user cache and $HOME inside tmp_path, no Debian dir."""
    monkeypatch.delenv("TINYGRAD_CNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    swap_dataset("fashion-mnist", system_dirs=(str(tmp_path / "debian"),))
    return tmp_path


# ----------------------------------------------------------------------------- IDX reader

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((3, 4, 5)) * 1000).astype(dtype)
    out = load_idx(write_idx(tmp_path / "a.idx", array, gz=gz))
    assert out.dtype == np.dtype(dtype).newbyteorder("=") and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable and out.dtype.isnative


def test_idx_big_endian_and_1d(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE]))
    np.testing.assert_array_equal(load_idx(path), [258, -2])


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_named_raw = tmp_path / "raw.gz"
    gz_named_raw.write_bytes(idx_bytes(array))
    raw_named_gz = tmp_path / "compressed.idx"
    raw_named_gz.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(load_idx(gz_named_raw), array)
    np.testing.assert_array_equal(load_idx(str(raw_named_gz)), array)


BAD_FILES = {
    "wrong magic": (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "not an IDX file"),
    "unknown type code": (b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", "type code"),
    "too short": (b"\x00\x00", "truncated"),
    "header cut": (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
    "data cut": (idx_bytes(np.zeros((2, 3), np.uint8))[:-1], "truncated IDX data"),
    "trailing bytes": (idx_bytes(np.zeros((2, 3), np.uint8)) + b"\x00\x00", "trailing"),
    "dims disagree with data": (idx_bytes(np.zeros(6, np.int32), dims=(2, 4)), "truncated"),
    "zero dims": (b"\x00\x00\x08\x00", "zero dimensions"),
}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_idx_malformed_raises_value_error_naming_file(tmp_path, case, gz):
    content, message = BAD_FILES[case]
    path = tmp_path / "bad-file-idx3-ubyte"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(ValueError, match=message) as info:
        load_idx(path)
    assert str(path) in str(info.value)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 50), np.uint8)))[:-10])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*gzip"):
        load_idx(path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope-idx1-ubyte"):
        load_idx(tmp_path / "nope-idx1-ubyte")


# ----------------------------------------------------------------------------- datasets

@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_root(clean_env, gz):
    images, labels = write_fake_set(clean_env / "data", n_train=6, gz=gz)
    train = MNIST(root=clean_env / "data")
    assert train.images.shape == (6, 1, 28, 28) and train.images.dtype == np.float32
    assert train.labels.dtype == np.int64 and len(train) == 6
    np.testing.assert_allclose(train.images[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(train.labels, labels)
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    assert len(MNIST(root=str(clean_env / "data"), train=False)) == 4
    assert train.classes == [str(d) for d in range(10)]


def test_getitem_int_slice_array(clean_env):
    write_fake_set(clean_env / "d")
    data = MNIST(root=clean_env / "d")
    x, y = data[2]
    assert x.shape == (1, 28, 28) and y == data.labels[2]
    x, y = data[1:4]
    assert x.shape == (3, 1, 28, 28) and y.shape == (3,)
    x, y = data[np.array([5, 0])]
    np.testing.assert_array_equal(y, data.labels[[5, 0]])


def test_normalize(clean_env):
    images, _ = write_fake_set(clean_env / "d")
    data = MNIST(root=clean_env / "d", normalize=True)
    np.testing.assert_allclose(data.images[:, 0], (images / 255.0 - 0.1307) / 0.3081,
                               rtol=1e-5, atol=1e-5)
    fashion = FashionMNIST(root=clean_env / "d", normalize=True)
    np.testing.assert_allclose(fashion.images[:, 0], (images / 255.0 - 0.2860) / 0.3530,
                               rtol=1e-5, atol=1e-5)


def test_search_order_root_env_cache(clean_env, monkeypatch):
    root, env, cache = clean_env / "root", clean_env / "env", clean_env / "xdg"
    write_fake_set(cache / "tinygrad_cnn" / "mnist", n_train=3)
    assert len(MNIST()) == 3
    write_fake_set(env, n_train=4)
    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(env))
    assert len(MNIST()) == 4
    write_fake_set(root, n_train=5)
    assert len(MNIST(root=root)) == 5


def test_a_named_root_is_the_only_place_searched(clean_env, monkeypatch):
    # The data exist elsewhere (env var and cache), but the user named another directory:
    # that directory must exist and hold the data; nothing else is quietly used instead.
    write_fake_set(clean_env / "env", n_train=4)
    write_fake_set(clean_env / "xdg" / "tinygrad_cnn" / "mnist", n_train=3)
    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(clean_env / "env"))
    with pytest.raises(FileNotFoundError) as info:
        MNIST(root=clean_env / "missing")
    assert info.value.filename == str(clean_env / "missing")
    assert "does not exist" in str(info.value)
    (clean_env / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        MNIST(root=clean_env / "empty")
    message = str(info.value)
    assert str(clean_env / "empty" / "mnist") in message
    assert str(clean_env / "env") not in message and "xdg" not in message
    assert search_dirs("mnist", clean_env / "r") == [
        clean_env / "r" / "mnist", clean_env / "r" / "MNIST" / "raw", clean_env / "r"]


def test_subfolders_preferred_and_torchvision_layout(clean_env):
    root = clean_env / "shared"
    write_fake_set(root, n_train=2)
    write_fake_set(root / "FashionMNIST" / "raw", n_train=3)
    write_fake_set(root / "mnist", n_train=4)
    assert len(MNIST(root=root)) == 4
    assert len(FashionMNIST(root=root)) == 3


def test_raw_preferred_over_gz_and_mixed(clean_env):
    d = clean_env / "d"
    write_fake_set(d, n_train=3, gz=True)
    write_fake_set(d, n_train=5, gz=False)
    assert len(MNIST(root=d)) == 5
    (d / "train-labels-idx1-ubyte").unlink()  # images raw, labels .gz: counts differ now
    with pytest.raises(ValueError, match="count mismatch"):
        MNIST(root=d)


def test_xdg_relative_value_ignored(clean_env, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    dirs = search_dirs("mnist")
    assert dirs[-1] == clean_env / "home" / ".cache" / "tinygrad_cnn" / "mnist"


def test_debian_fashion_location_is_searched():
    assert "/usr/share/datasets/fashion-mnist" in get_dataset("fashion-mnist").system_dirs


def test_debian_fashion_location(clean_env):
    write_fake_set(clean_env / "debian", n_train=7, gz=True)
    assert len(FashionMNIST()) == 7
    assert FashionMNIST().classes[9] == "Ankle boot"
    with pytest.raises(FileNotFoundError):
        MNIST()  # the Fashion-MNIST package is never taken for MNIST


def test_count_mismatch_names_both_files(clean_env):
    d = clean_env / "d"
    write_fake_set(d)
    write_idx(d / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))  # 6 images, 5 labels
    with pytest.raises(ValueError) as info:
        MNIST(root=d)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "6" in message and "5" in message


def test_bad_labels_and_image_rank(clean_env):
    d = clean_env / "d"
    write_fake_set(d)
    write_idx(d / "train-labels-idx1-ubyte", np.full(6, 10, np.uint8))
    with pytest.raises(ValueError, match="labels must lie in"):
        MNIST(root=d)
    write_idx(d / "t10k-images-idx3-ubyte", np.zeros((4, 784), np.uint8))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        MNIST(root=d, train=False)


def test_not_found_message_lists_places_and_remedies(clean_env, monkeypatch):
    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(clean_env / "envdir"))
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(train=False)
    message = str(info.value)
    for place in search_dirs("fashion-mnist"):
        assert str(place) in message
    assert str(clean_env / "envdir") in message and str(clean_env / "debian") in message
    assert "t10k-images-idx3-ubyte" in message
    for remedy in ("download=True", "--download", "--data-dir", "TINYGRAD_CNN_DATA",
                   "apt-get install dataset-fashion-mnist"):
        assert remedy in message
    (clean_env / "mine").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(root=clean_env / "mine", train=False)
    message = str(info.value)
    for place in search_dirs("fashion-mnist", clean_env / "mine"):
        assert str(place) in message
    assert str(clean_env / "envdir") not in message
    with pytest.raises(FileNotFoundError) as info:
        MNIST()
    assert "apt-get" not in str(info.value)


def test_files_with_no_images_are_refused(clean_env):
    d = clean_env / "d"
    write_fake_set(d, n_train=0)
    with pytest.raises(ds.DataFormatError, match="train-images-idx3-ubyte.*holds no images"):
        MNIST(root=d)
    assert len(MNIST(root=d, train=False)) == 4


def test_search_dirs_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset"):
        search_dirs("cifar")


def test_array_dataset_validates_and_casts():
    data = ArrayDataset(np.zeros((3, 2), np.float32), np.array([1, 2, 0], np.uint8))
    assert data.labels.dtype == np.int64 and len(data) == 3
    with pytest.raises(ValueError, match="same length"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(4, np.int64))


# ----------------------------------------------------------------------------- bundled sample

@pytest.mark.parametrize("train, n, per_class", [(True, 4000, 400), (False, 1000, 100)])
def test_sample(train, n, per_class):
    data = MNISTSample(train=train)
    assert data.images.shape == (n, 1, 28, 28) and data.images.dtype == np.float32
    assert data.labels.shape == (n,) and data.labels.dtype == np.int64
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    np.testing.assert_array_equal(np.bincount(data.labels, minlength=10), [per_class] * 10)
    assert 0.1 < data.images.mean() < 0.16  # real digits: ~13% ink, as full MNIST
    assert len(data.classes) == 10


def test_sample_parts_are_disjoint_and_normalizable():
    with np.load(get_dataset("sample").bundled, allow_pickle=False) as npz:
        train_rows, test_rows = npz["train_source_rows"], npz["test_source_rows"]
    assert len(np.union1d(train_rows, test_rows)) == 5000
    normed = MNISTSample(train=True, normalize=True).images
    assert abs(normed.mean()) < 0.2 and 0.8 < normed.std() < 1.2


# ----------------------------------------------------------------------------- DataLoader

def numbered(n):
    """A dataset whose label is each sample's index, so batches reveal the order."""
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    return ArrayDataset(images, np.arange(n))


def labels_of(loader):
    return [y.numpy().tolist() for _, y in loader]


def test_loader_batches_in_order():
    loader = DataLoader(numbered(10), batch_size=4)
    assert len(loader) == 3
    assert labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, y = next(iter(loader))
    assert isinstance(x, tg.Tensor) and x.dtype == np.float32 and x.shape == (4, 1, 1, 1)
    assert y.dtype == np.int64 and not y.requires_grad and not x.requires_grad
    assert x.device == backend.default_device()


def test_loader_drop_last():
    loader = DataLoader(numbered(10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(numbered(3), batch_size=4, drop_last=True)) == 0
    assert labels_of(DataLoader(numbered(0), batch_size=4)) == []


def test_loader_shuffle_covers_everything_once():
    loader = DataLoader(numbered(23), batch_size=5, shuffle=True)
    batches = labels_of(loader)
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert sorted(sum(batches, [])) == list(range(23))
    dropped = sum(labels_of(DataLoader(numbered(23), batch_size=5, shuffle=True,
                                       drop_last=True)), [])
    assert len(dropped) == 20 and len(set(dropped)) == 20


def test_loader_shuffle_follows_manual_seed():
    loader = DataLoader(numbered(50), batch_size=7, shuffle=True)
    tg.manual_seed(123)
    first_epoch, second_epoch = labels_of(loader), labels_of(loader)
    assert first_epoch != second_epoch  # a fresh order every epoch
    tg.manual_seed(123)
    assert labels_of(loader) == first_epoch and labels_of(loader) == second_epoch
    assert sum(first_epoch, []) != list(range(50))


def test_loader_private_seed():
    a = DataLoader(numbered(30), batch_size=8, shuffle=True, seed=7)
    b = DataLoader(numbered(30), batch_size=8, shuffle=True, seed=7)
    tg.manual_seed(1)
    epoch_a = labels_of(a)
    tg.manual_seed(2)  # the global seed does not matter when seed= is given
    assert labels_of(b) == epoch_a


def test_loader_batch_is_a_copy():
    data = numbered(4)
    x, _ = next(iter(DataLoader(data, batch_size=2)))
    x.data[...] = -1
    assert data.images.min() == 0


class TorchStyle:
    """A PyTorch map-style dataset: one (image, label) per integer index, nothing else."""

    def __init__(self, n=5):
        self.n, self.calls = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls.append(i)
        if not isinstance(i, int) or not 0 <= i < self.n:
            raise IndexError(f"index {i!r}")
        return np.full((1, 2, 2), i, np.float64), i


def test_loader_takes_pytorch_map_style_datasets():
    data = TorchStyle(5)
    batches = list(DataLoader(data, batch_size=2))
    assert [tuple(y.numpy()) for _, y in batches] == [(0, 1), (2, 3), (4,)]
    x, y = batches[0]
    assert isinstance(batches[0], tuple) and x.shape == (2, 1, 2, 2)
    assert x.dtype == np.float32 and y.dtype == np.int64 and not y.requires_grad
    np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], [0, 1])
    assert data.calls == [0, 1, 2, 3, 4] and all(type(i) is int for i in data.calls)
    assert len(list(DataLoader(data, batch_size=2, drop_last=True))) == 2


def test_loader_honours_a_subclass_getitem():
    class Normalised(ArrayDataset):
        def __getitem__(self, i):
            image, label = super().__getitem__(i)
            return (image - 5.0) / 2.0, label

    data = Normalised(np.full((4, 1, 2, 2), 7.0, np.float32), np.arange(4))
    x, y = next(iter(DataLoader(data, batch_size=4)))
    np.testing.assert_array_equal(x.numpy(), np.ones((4, 1, 2, 2), np.float32))
    assert y.numpy().tolist() == [0, 1, 2, 3]


def test_loader_uses_getitems_and_collate_fn():
    class Batched(TorchStyle):
        def __getitems__(self, indices):
            self.batches = getattr(self, "batches", []) + [list(indices)]
            return [(np.array([i, -i]), i) for i in indices]

    data = Batched(5)
    loader = DataLoader(data, batch_size=3, shuffle=True, seed=0)
    seen = sorted(int(v) for _, y in loader for v in y.numpy())
    assert seen == [0, 1, 2, 3, 4] and data.calls == []  # never one by one
    assert [len(b) for b in data.batches] == [3, 2]

    def pairs_as_dict(samples):
        return {"x": np.stack([s[0] for s in samples]), "n": len(samples)}

    batch = next(iter(DataLoader(TorchStyle(3), batch_size=3, collate_fn=pairs_as_dict)))
    assert batch["n"] == 3 and isinstance(batch["x"], tg.Tensor)
    assert batch["x"].shape == (3, 1, 2, 2)


def test_array_dataset_with_collate_fn_goes_sample_by_sample():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return default_collate(samples)

    x, y = next(iter(DataLoader(numbered(5), batch_size=4, collate_fn=collate)))
    assert seen == [4] and y.numpy().tolist() == [0, 1, 2, 3]


def test_default_collate_structures():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([
        {"image": np.zeros((2, 3), np.uint8), "label": 1, "weight": 0.5, "name": "a",
         "flag": True, "pair": (np.int16(1), [1.5, 2]), "point": Point(1, 2)},
        {"image": np.ones((2, 3), np.uint8), "label": 2, "weight": 1.0, "name": "b",
         "flag": False, "pair": (np.int16(3), [2.5, 4]), "point": Point(3, 4)},
    ])
    assert batch["image"].shape == (2, 2, 3) and batch["image"].dtype == np.uint8
    assert batch["label"].dtype == np.int64 and batch["label"].tolist() == [1, 2]
    assert batch["weight"].dtype == np.float64 and batch["flag"].dtype == np.bool_
    assert batch["name"] == ["a", "b"]
    assert isinstance(batch["pair"], tuple) and batch["pair"][0].dtype == np.int16
    assert isinstance(batch["pair"][1], list) and batch["pair"][1][1].tolist() == [2, 4]
    assert batch["point"] == Point(batch["point"].x, batch["point"].y)
    assert batch["point"].y.tolist() == [2, 4]
    with pytest.raises(ValueError, match=r"different shapes.*\(2,\).*\(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="cannot batch samples of type object"):
        default_collate([object(), object()])


def test_default_collate_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    samples = [(np.full((1, 2), i, np.float32), i, 0.5 * i, {"k": np.int32(i)})
               for i in range(3)]
    ours, theirs = default_collate(samples), torch_collate(samples)
    for a, b in zip((ours[0], ours[1], ours[2], ours[3]["k"]),
                    (theirs[0], theirs[1], theirs[2], theirs[3]["k"])):
        assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).split(".")[-1]
        np.testing.assert_array_equal(a, b.numpy())
    assert isinstance(theirs[3]["k"], torch.Tensor)


def test_loader_transform_applies_to_collated_pairs():
    def double(images, labels):
        return images * 2, labels

    x, _ = next(iter(DataLoader(TorchStyle(2), batch_size=2, transform=double)))
    np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], [0, 2])
    with pytest.raises(TypeError, match="transform= takes"):
        next(iter(DataLoader(TorchStyle(2), batch_size=2, transform=double,
                             collate_fn=lambda s: {"x": np.zeros(1)})))


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError),
                                        (2.5, TypeError), (True, TypeError), ("4", TypeError)])
def test_loader_rejects_bad_batch_size(bad, error):
    with pytest.raises(error, match="batch_size must be a positive integer"):
        DataLoader(numbered(3), batch_size=bad)


def test_loader_on_sample():
    loader = DataLoader(MNISTSample(train=False), batch_size=256, shuffle=True)
    assert len(loader) == 4
    sizes = [x.shape for x, _ in loader]
    assert sizes[0] == (256, 1, 28, 28) and sizes[-1] == (232, 1, 28, 28)
