"""Downloads against a local HTTP server on 127.0.0.1: mirrors, checksums, atomic writes.

No test reaches the internet: every URL points at a server started here or at a closed port.
"""

import functools
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest
from test_data import swap_dataset  # noqa: F401  (a fixture)

from tinygrad_cnn.data import MNIST, DownloadError, download_dataset, download_file
from tinygrad_cnn.data import download as ds
from tinygrad_cnn.fileio import TEMP_SUFFIX

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return gzip.compress(header + array.tobytes())


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture(autouse=True)
def no_proxy_for_localhost(monkeypatch):
    """A proxy configured on the machine must not intercept requests to 127.0.0.1."""
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/'www' over HTTP; yields (base URL, folder, list of requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, handler.requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_port():
    """A local port nobody listens on, so connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(TEMP_SUFFIX))


def test_download_success_verifies_hash(server, tmp_path, capsys):
    base, www, _ = server
    (www / "f.bin").write_bytes(b"payload" * 1000)
    dest = tmp_path / "out" / "sub" / "f.bin"
    assert download_file(f"{base}/f.bin", dest, sha256(b"payload" * 1000).upper()) == dest
    assert dest.read_bytes() == b"payload" * 1000
    assert leftovers(dest.parent) == []
    assert f"{base}/f.bin" in capsys.readouterr().err


def test_first_mirror_404_then_second(server, tmp_path):
    base, www, requests = server
    (www / "good").mkdir()
    (www / "good" / "f.bin").write_bytes(b"abc")
    dest = tmp_path / "f.bin"
    download_file([f"{base}/missing/f.bin", f"{base}/good/f.bin"], dest, sha256(b"abc"),
                  progress=False)
    assert dest.read_bytes() == b"abc" and requests == ["/missing/f.bin", "/good/f.bin"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, www, _ = server
    (www / "f.bin").write_bytes(b"tampered")
    dest = tmp_path / "f.bin"
    expected = sha256(b"original")
    with pytest.raises(ValueError) as info:
        download_file(f"{base}/f.bin", dest, expected, progress=False)
    message = str(info.value)
    assert "f.bin" in message and expected in message and sha256(b"tampered") in message
    assert not dest.exists() and leftovers(tmp_path) == []


def test_mismatch_keeps_existing_file(server, tmp_path):
    base, www, _ = server
    (www / "f.bin").write_bytes(b"tampered")
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"previous good copy")
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_file(f"{base}/f.bin", dest, sha256(b"original"), progress=False)
    assert dest.read_bytes() == b"previous good copy" and leftovers(tmp_path) == []


def test_mismatch_then_good_mirror(server, tmp_path):
    base, www, _ = server
    (www / "bad").mkdir()
    (www / "bad" / "f.bin").write_bytes(b"tampered")
    (www / "f.bin").write_bytes(b"original")
    dest = tmp_path / "f.bin"
    download_file([f"{base}/bad/f.bin", f"{base}/f.bin"], dest, sha256(b"original"),
                  progress=False)
    assert dest.read_bytes() == b"original"


def test_all_mirrors_fail_lists_each(server, tmp_path, closed_port):
    base, _, _ = server
    urls = [f"http://127.0.0.1:{closed_port}/f.bin", f"{base}/nothing.bin"]
    with pytest.raises(DownloadError) as info:
        download_file(urls, tmp_path / "f.bin", sha256(b""), timeout=2, progress=False)
    message = str(info.value)
    assert urls[0] in message and urls[1] in message and "404" in message
    assert isinstance(info.value, OSError)
    assert not (tmp_path / "f.bin").exists() and leftovers(tmp_path) == []


def test_timeout_is_reported(tmp_path):
    # A listening socket that never answers: the connection succeeds, the read times out.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/f.bin"
        with pytest.raises(DownloadError, match="timed out") as info:
            download_file(url, tmp_path / "f.bin", sha256(b""), timeout=0.2, progress=False)
    assert url in str(info.value) and leftovers(tmp_path) == []


def publish_fake_mnist(www, n=5):
    """Serve four small, valid gz IDX files; return their SHA-256 table."""
    rng = np.random.default_rng(0)
    content = {}
    for prefix in ("train", "t10k"):
        content[f"{prefix}-images-idx3-ubyte.gz"] = idx_gz(
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        content[f"{prefix}-labels-idx1-ubyte.gz"] = idx_gz(
            rng.integers(0, 10, n, dtype=np.uint8))
    for name, data in content.items():
        (www / name).write_bytes(data)
    return {name: sha256(data) for name, data in content.items()}


def test_download_dataset_and_skip_existing(server, tmp_path, closed_port):
    base, www, requests = server
    hashes = publish_fake_mnist(www)
    mirrors = [f"http://127.0.0.1:{closed_port}/", base + "/"]
    target = download_dataset("MNIST", tmp_path / "data", mirrors=mirrors, sha256=hashes,
                              progress=False)
    assert target == tmp_path / "data" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    assert len(requests) == 4
    (target / FILES[3]).write_bytes(b"corrupt")  # a bad copy is fetched again
    download_dataset("mnist", tmp_path / "data", mirrors=mirrors, sha256=hashes, progress=False)
    assert requests[4:] == ["/" + FILES[3]]
    assert len(MNIST(root=tmp_path / "data", train=False)) == 5


def test_mnist_download_true_uses_the_record(server, tmp_path, monkeypatch, swap_dataset):  # noqa: F811
    base, www, _ = server
    swap_dataset("mnist", mirrors=[base], sha256=publish_fake_mnist(www, n=3))
    monkeypatch.delenv("TINYGRAD_CNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert len(MNIST(root=tmp_path / "r", download=True, train=False)) == 3
    assert (tmp_path / "r" / "mnist" / FILES[2]).is_file()
    data = MNIST(download=True)  # no root: into the user cache
    assert len(data) == 3
    assert data.root == tmp_path / "xdg" / "tinygrad_cnn" / "mnist"


def test_known_hash_tables_are_complete():
    for key in ("mnist", "fashion-mnist"):
        assert sorted(ds.SHA256[key]) == sorted(FILES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in ds.SHA256[key].values())
        assert len(ds.MIRRORS[key]) >= 2
    with pytest.raises(ValueError, match="unknown dataset"):
        download_dataset("cifar10", "/nonexistent")


def test_cli_download_flag_fetches_into_the_data_dir(server, tmp_path, monkeypatch, capsys,
                                                     closed_port, swap_dataset):  # noqa: F811
    from tinygrad_cnn.cli import main

    base, www, requests = server
    swap_dataset("mnist", mirrors=[f"http://127.0.0.1:{closed_port}/"])
    assert main(["train", "--data-dir", str(tmp_path / "d"), "--download", "--checkpoint",
                 str(tmp_path / "x.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tinygrad-cnn train: error: could not download "
                              "train-images-idx3-ubyte.gz from any mirror: http://127.0.0.1:")
    assert all(line.startswith("downloading ") for line in err[:-1])
    swap_dataset("mnist", mirrors=[base], sha256=publish_fake_mnist(www, n=6))
    monkeypatch.setenv("TINYGRAD_CNN_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    data, ckpt = tmp_path / "data", tmp_path / "c.npz"
    assert main(["train", "--data-dir", str(data), "--epochs", "1", "--batch-size", "3",
                 "--checkpoint", str(ckpt)]) == 1
    assert "--download" in capsys.readouterr().err and requests == []
    assert main(["train", "--data-dir", str(data), "--download", "--epochs", "1",
                 "--batch-size", "3", "--checkpoint", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "on MNIST (6 train / 6 test images)" in out and "done:" in out
    assert sorted(p.name for p in (data / "mnist").iterdir()) == sorted(FILES)
    assert len(requests) == 4
    assert main(["evaluate", "--checkpoint", str(ckpt), "--download"]) == 0
    assert "mnist test set, 6 images" in capsys.readouterr().out
    assert len(requests) == 4  # already there: nothing fetched again
