"""save/load: checkpoint round trips, the file format, atomic writes and clear errors."""

import os
import zipfile

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, backend, optim, serialization
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.serialization import MARKER, CheckpointError, load, save


def assert_same(a, b, where="root"):
    """Equal structure, types, values and dtypes."""
    assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}/{i}")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), where


def make_checkpoint():
    tg.manual_seed(0)
    model = LeNet5()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    for p in model.parameters():
        p.grad = Tensor(np.full(p.shape, 0.01, dtype=np.float32))
    opt.step()
    return model, opt, {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "rng": backend.get_state(),
        "config": {"lr": 0.001, "betas": (0.9, 0.999), "name": "lenet5", "amp": False,
                   "note": None, "nan": float("nan"), "history": [0.5, 0.25]},
        "counts": np.arange(4, dtype=np.int64),
        "mask": np.array([True, False]),
        "half": np.ones((2, 2), dtype=np.float16),
        "scalar": np.float32(1.5),
    }


def test_checkpoint_round_trip(tmp_path):
    model, opt, ckpt = make_checkpoint()
    save(ckpt, tmp_path / "ckpt.npz")
    back = load(tmp_path / "ckpt.npz")
    expected = {**ckpt, "model": dict(ckpt["model"])}  # OrderedDict comes back as a dict
    assert_same(back, expected)
    assert sorted(back["optimizer"]["state"]) == list(range(10))  # int keys stay ints
    # resume: weights, optimizer and RNG all restored
    tg.manual_seed(123)
    fresh = LeNet5()
    fresh.load_state_dict(back["model"])
    for (name, p), q in zip(model.named_parameters(), fresh.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    opt2 = optim.Adam(fresh.parameters())
    opt2.load_state_dict(back["optimizer"])
    assert opt2.state[next(fresh.parameters())]["step"] == 1
    backend.set_state(back["rng"])
    first = backend.host_rng().random(3)
    backend.set_state(ckpt["rng"])
    np.testing.assert_array_equal(first, backend.host_rng().random(3))


def test_file_is_a_plain_npz_with_readable_keys(tmp_path):
    _, _, ckpt = make_checkpoint()
    save(ckpt, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as f:
        names = set(f.files)
        assert {MARKER, "model/conv1.weight", "model/fc3.bias", "optimizer/state/0/exp_avg",
                "counts"} <= names
        np.testing.assert_array_equal(f["model/conv1.weight"], ckpt["model"]["conv1.weight"])
    # non-array leaves live in the JSON marker entry, not as members of their own
    assert "epoch" not in names and "config/lr" not in names


def test_tensors_and_bare_values(tmp_path):
    t = Tensor([[1.0, 2.0]], requires_grad=True)
    save({"t": t, "nested": [t, (1, "a")]}, tmp_path / "t")
    back = load(tmp_path / "t")
    assert os.path.exists(tmp_path / "t")  # written exactly as named, no suffix added
    assert isinstance(back["t"], np.ndarray) and back["t"].dtype == np.float32
    assert back["nested"][1] == (1, "a")
    save(np.arange(3), tmp_path / "a.npz")
    np.testing.assert_array_equal(load(tmp_path / "a.npz"), np.arange(3))
    save(7, tmp_path / "s.npz")
    assert load(tmp_path / "s.npz") == 7


def test_colliding_paths_stay_apart(tmp_path):
    obj = {"a/b": np.zeros(1), "a": {"b": np.ones(1)}, MARKER: np.full(1, 2.0)}
    save(obj, tmp_path / "c.npz")
    assert_same(load(tmp_path / "c.npz"), obj)


@pytest.mark.parametrize("key", ["a\x00b", "\x00", "x" * 65_536, "\u00e9" * 40_000, "a\\b",
                                 "\ud800", "~0", "c" * 65_000 + "/d"])
def test_any_str_key_round_trips_as_in_pytorch(key, tmp_path):
    """Zip member names cannot hold these keys whole (a NUL ends a name, 65,535 bytes at
    most, UTF-8 only); the keys live in the header and their arrays in numbered members."""
    obj = {"model": {key: np.arange(3.0), "next": np.ones(2)}, key: 5, "~1": np.zeros(1)}
    save(obj, tmp_path / "k.npz")
    assert_same(load(tmp_path / "k.npz"), obj)
    assert serialization.describe(tmp_path / "k.npz")["model"][key].shape == (3,)


def test_a_file_whose_nul_key_cut_its_member_name_loads(tmp_path, monkeypatch):
    """Files saved before keys were kept out of member names: ``a\x00b`` was stored as a
    member named ``a``, without ``.npy``, which load refused as unexpected."""
    monkeypatch.setattr(serialization, "_member_name",
                        lambda path, taken: serialization._unique_name("/".join(path), taken))
    obj = {"model": {"a\x00b": np.arange(3.0), "w": np.ones(2)}}
    save(obj, tmp_path / "old.npz")
    assert "model/a" in zipfile.ZipFile(tmp_path / "old.npz").namelist()
    monkeypatch.undo()
    assert_same(load(tmp_path / "old.npz"), obj)


def test_big_integers_survive(tmp_path):
    obj = {"big": 2**127 + 12345, "neg": -(2**100)}
    save(obj, tmp_path / "b.npz")
    assert load(tmp_path / "b.npz") == obj


@pytest.mark.parametrize("obj,key", [
    ({"a": {"b": object()}}, "a/b"),
    ({"a": [1, {2, 3}]}, "a/1"),
    ({"a": {(1, 2): 3}}, "a"),
    ({"arr": np.array([None, 1], dtype=object)}, "arr"),
])
def test_unsupported_values_name_their_key(obj, key, tmp_path):
    with pytest.raises(TypeError, match=f"'{key}'"):
        save(obj, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_saving_a_module_suggests_state_dict(tmp_path):
    with pytest.raises(TypeError, match="state_dict"):
        save({"model": LeNet5()}, tmp_path / "x.npz")


def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1, "w": np.zeros(1000)}, path)
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def failing_write(fp, array, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the header is written, then the disk "fills up"
            fp.write(b"\0" * 100)
            raise OSError(28, "No space left on device")
        return real_write(fp, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="No space left"):
        save({"epoch": 2, "w": np.ones(1000)}, path)
    monkeypatch.undo()
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1}, path)
    save({"epoch": 2}, path)
    assert load(path) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_missing_file_and_new_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load(tmp_path / "nope.npz")
    save({"a": 1}, tmp_path / "runs" / "one" / "x.npz")  # parents are created
    assert load(tmp_path / "runs" / "one" / "x.npz") == {"a": 1}


def test_foreign_npz(tmp_path):
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(CheckpointError, match=MARKER):
        load(tmp_path / "foreign.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match="not an .npz"):
        load(tmp_path / "array.npy")


def test_garbage_and_empty_files(tmp_path):
    (tmp_path / "garbage.npz").write_bytes(os.urandom(300))
    (tmp_path / "empty.npz").write_bytes(b"")
    for name in ("garbage.npz", "empty.npz"):
        with pytest.raises(CheckpointError, match=name):
            load(tmp_path / name)


def test_truncated_file(tmp_path):
    _, _, ckpt = make_checkpoint()
    save(ckpt, tmp_path / "c.npz")
    data = (tmp_path / "c.npz").read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        (tmp_path / "t.npz").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="corrupt or truncated"):
            load(tmp_path / "t.npz")


def test_flipped_bytes_are_caught_by_the_checksum(tmp_path):
    save({"w": np.zeros(1000)}, tmp_path / "c.npz")
    data = bytearray((tmp_path / "c.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        info = z.getinfo("w.npy")
    data[info.header_offset + 200] ^= 0xFF  # inside the array data
    (tmp_path / "c.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load(tmp_path / "c.npz")


def test_newer_format_version_is_refused(tmp_path):
    header = '{"format": "tinygrad_cnn", "version": 99, "tree": {"value": 1}}'
    with zipfile.ZipFile(tmp_path / "v.npz", "w") as z, z.open(MARKER + ".npy", "w") as m:
        np.lib.format.write_array(m, np.array(header))
    with pytest.raises(CheckpointError, match="version 99"):
        load(tmp_path / "v.npz")


# ----------------------------------------------------------------------------- crafted archives

def write_members(path, members):
    """A zip of raw members (name -> bytes), compressed, as an attacker could write it."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def npy_bytes(array=None, header_shape=None, dtype="<f4"):
    """An .npy member whose header may lie about the shape that follows."""
    import io

    buffer = io.BytesIO()
    shape = header_shape if header_shape is not None else array.shape
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    if array is not None:
        buffer.write(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return buffer.getvalue()


def marker(tree):
    import json

    return npy_bytes(np.array(json.dumps({"format": "tinygrad_cnn", "version": 1,
                                          "tree": tree})),
                     dtype=np.array(json.dumps({"format": "tinygrad_cnn", "version": 1,
                                                "tree": tree})).dtype.str)


def test_a_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path, monkeypatch):
    # 3 GB declared by the .npy header, a few bytes in the member
    tree = {"dict": [["w", {"array": "w"}]]}
    path = tmp_path / "crafted.npz"
    write_members(path, {MARKER + ".npy": marker(tree),
                         "w.npy": npy_bytes(np.zeros(4), header_shape=(750_000_000,))})

    real_read = np.lib.format.read_array

    def read_only_the_marker(fp, **kwargs):
        if getattr(fp, "name", None) != MARKER + ".npy":
            raise AssertionError("an array was read before the archive was validated")
        return real_read(fp, **kwargs)

    monkeypatch.setattr(np.lib.format, "read_array", read_only_the_marker)
    with pytest.raises(CheckpointError, match=r"crafted.npz.*'w'.*\(750000000,\)"):
        load(path)


def test_members_declaring_more_than_the_limit_are_refused(tmp_path):
    # an honest but highly compressed member: 4 MB of zeros in a few kB
    tree = {"dict": [["w", {"array": "w"}]]}
    path = tmp_path / "bomb.npz"
    write_members(path, {MARKER + ".npy": marker(tree),
                         "w.npy": npy_bytes(np.zeros(1_000_000))})
    assert path.stat().st_size < 50_000
    with pytest.raises(CheckpointError, match="more than the limit of 1,000,000"):
        load(path, max_bytes=1_000_000)
    assert load(path)["w"].shape == (1_000_000,)  # the default limit allows 256 MiB
    assert serialization.MIN_ARRAY_BYTES_LIMIT == 256 << 20


def test_unexpected_and_unnamed_members_are_refused(tmp_path):
    tree = {"dict": [["w", {"array": "w"}]]}
    path = tmp_path / "extra.npz"
    write_members(path, {MARKER + ".npy": marker(tree), "w.npy": npy_bytes(np.zeros(2)),
                         "stowaway.npy": npy_bytes(np.zeros(2))})
    with pytest.raises(CheckpointError, match="stowaway"):
        load(path)
    write_members(path, {MARKER + ".npy": marker(tree), "w.npy": npy_bytes(np.zeros(2)),
                         "script.py": b"print('hi')"})
    with pytest.raises(CheckpointError, match="script.py"):
        load(path)
    write_members(path, {MARKER + ".npy": marker(tree)})
    with pytest.raises(CheckpointError, match="missing entries"):
        load(path)


def test_object_arrays_are_refused_from_the_header(tmp_path):
    tree = {"dict": [["w", {"array": "w"}]]}
    path = tmp_path / "objects.npz"
    write_members(path, {MARKER + ".npy": marker(tree),
                         "w.npy": npy_bytes(header_shape=(2,), dtype="|O")})
    with pytest.raises(CheckpointError, match="objects.npz.*Python objects"):
        load(path)


def test_describe_reads_shapes_without_arrays(tmp_path):
    _, _, ckpt = make_checkpoint()
    save(ckpt, tmp_path / "c.npz")
    info = serialization.describe(tmp_path / "c.npz")
    assert info["model"]["conv1.weight"] == serialization.ArrayInfo((6, 1, 5, 5),
                                                                    np.dtype(np.float32))
    assert info["epoch"] == 3 and info["config"]["betas"] == (0.9, 0.999)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_load_refuses_a_fifo_without_opening_it(tmp_path):
    """`tg.load` (and so `tinygrad-cnn filters`) checks the file is regular first: opening
    a FIFO to read would wait for a writer forever."""
    import signal

    def blocked(signum, frame):
        raise TimeoutError("blocked: the FIFO was opened")

    os.mkfifo(tmp_path / "pipe.npz")
    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)
    try:
        with pytest.raises(OSError, match="FIFO"):
            load(tmp_path / "pipe.npz")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
