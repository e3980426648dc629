import gzip

import numpy as np
import pytest

from bayes_sgd.data.idx import IdxError, encode_idx, parse_idx, read_idx, sha256


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


def test_parse_roundtrip(images):
    data = encode_idx(images)
    assert data[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(parse_idx(data), images)


def test_parse_labels():
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    data = b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + labels.tobytes()
    np.testing.assert_array_equal(parse_idx(data), labels)


@pytest.mark.parametrize("compress", [False, True])
def test_read_gzip_and_plain(tmp_path, images, compress):
    data = encode_idx(images)
    path = tmp_path / ("x.gz" if compress else "x")
    path.write_bytes(gzip.compress(data) if compress else data)
    array, digest = read_idx(path, expected_sha256=sha256(data))
    np.testing.assert_array_equal(array, images)
    assert digest == sha256(data)


def test_wrong_magic(tmp_path, images):
    data = bytearray(encode_idx(images))
    data[0] = 0x12
    path = tmp_path / "bad-magic"
    path.write_bytes(bytes(data))
    with pytest.raises(IdxError, match=r"bad-magic: wrong magic number"):
        read_idx(path)


def test_truncated(tmp_path, images):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(encode_idx(images)[:-10]))
    with pytest.raises(IdxError, match=r"short.gz: truncated"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path, images):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(encode_idx(images))[:-20])
    with pytest.raises(IdxError, match=r"cut.gz: corrupt or truncated gzip"):
        read_idx(path)


def test_wrong_checksum(tmp_path, images):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(encode_idx(images)))
    with pytest.raises(IdxError, match=r"x.gz: checksum mismatch"):
        read_idx(path, expected_sha256="0" * 64)


def test_missing_file(tmp_path):
    with pytest.raises(IdxError, match=r"nothere.gz: file not found"):
        read_idx(tmp_path / "nothere.gz")
