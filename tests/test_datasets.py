import gzip
from pathlib import Path

import numpy as np
import pytest

from bayes_sgd.data import datasets
from bayes_sgd.data.idx import IdxError, encode_idx, sha256


def test_mnist5k_loader_and_split():
    images, labels = datasets.read_mnist5k(datasets.mnist5k_path())
    assert images.shape == (5000, 784) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
    splits = datasets.load_mnist5k(images, labels, 100, np.random.default_rng(0))
    assert np.bincount(splits["train"].labels).tolist() == [400] * 10
    assert np.bincount(splits["test"].labels).tolist() == [100] * 10
    # the split is a partition of the 5,000 images: no image is in both
    train_rows = {row.tobytes() for row in splits["train"].images}
    assert not any(row.tobytes() in train_rows for row in splits["test"].images[:200] if row.any())
    again = datasets.load_mnist5k(images, labels, 100, np.random.default_rng(0))
    np.testing.assert_array_equal(again["test"].images, splits["test"].images)
    other = datasets.load_mnist5k(images, labels, 100, np.random.default_rng(1))
    assert not np.array_equal(other["test"].images, splits["test"].images)


def test_table_roundtrip():
    rng = np.random.default_rng(0)
    splits = {
        s: datasets.Split(rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n))
        for s, n in [("train", 7), ("test", 3)]
    }
    table = datasets.to_table(splits).to_pandas()
    assert list(table.columns) == ["split", "index", "label", "pixels"]
    for s in splits:
        images, labels = datasets.split_arrays(table, s)
        np.testing.assert_array_equal(images, splits[s].images)
        np.testing.assert_array_equal(labels, splits[s].labels)


def _fake_idx_dir(directory: Path, n_train=6, n_test=4):
    rng = np.random.default_rng(1)
    arrays = {
        ("train", "images"): rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        ("train", "labels"): rng.integers(0, 10, n_train, dtype=np.uint8),
        ("test", "images"): rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        ("test", "labels"): rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    checksums = {}
    for key, name in datasets.IDX_FILES.items():
        data = encode_idx(arrays[key])
        (directory / name).write_bytes(gzip.compress(data))
        checksums[name] = sha256(data)
    return arrays, checksums


def test_idx_dataset(tmp_path):
    arrays, checksums = _fake_idx_dir(tmp_path)
    splits, digests = datasets.load_idx_dataset(tmp_path, checksums)
    assert digests == checksums
    np.testing.assert_array_equal(splits["test"].images, arrays["test", "images"].reshape(4, 784))
    np.testing.assert_array_equal(splits["train"].labels, arrays["train", "labels"])


def test_idx_dataset_errors_name_the_file(tmp_path):
    _, checksums = _fake_idx_dir(tmp_path)
    bad = dict(checksums, **{"t10k-labels-idx1-ubyte.gz": "f" * 64})
    with pytest.raises(IdxError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        datasets.load_idx_dataset(tmp_path, bad)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(IdxError, match="train-labels-idx1-ubyte.gz: file not found"):
        datasets.load_idx_dataset(tmp_path, checksums)


def test_full_mnist_checksums_and_labels(mnist_dir):
    splits, digests = datasets.load_idx_dataset(mnist_dir, datasets.MNIST_SHA256)
    assert len(splits["train"].labels) == 60_000 and len(splits["test"].labels) == 10_000
    assert digests == datasets.MNIST_SHA256
    # label counts of the canonical MNIST training split (LeCun et al.)
    assert np.bincount(splits["train"].labels).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]


def test_fashion_mnist_checksums():
    directory = Path("/usr/share/datasets/fashion-mnist")
    if not directory.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    splits, _ = datasets.load_idx_dataset(directory, datasets.FASHION_MNIST_SHA256)
    assert np.bincount(splits["test"].labels).tolist() == [1000] * 10
