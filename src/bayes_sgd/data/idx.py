"""The IDX file format of MNIST and Fashion-MNIST, parsed and verified.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the data in C order (http://yann.lecun.com/exdb/mnist/). Images are
``0x00000803`` (uint8, 3 dimensions), labels ``0x00000801`` (uint8, 1 dimension).

Checksums are computed on the **decompressed** bytes: the gzip wrappers of the same files
differ between mirrors, the contents do not.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxError(ValueError):
    """An IDX file is missing, corrupt or not the file we expected; the message names it."""


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the (decompressed) bytes of one IDX file into an array.

    Raises :class:`IdxError` naming ``name`` on a wrong magic number, an unknown data type or a
    size that does not match the header (a truncated or padded file).
    """
    if len(data) < 4:
        raise IdxError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, dtype_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or dtype_code not in _DTYPES or ndim == 0:
        raise IdxError(f"{name}: wrong magic number 0x{data[:4].hex()} (expected 0x0000 <type> <ndim>)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _DTYPES[dtype_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        raise IdxError(f"{name}: {kind}: {len(data)} bytes, header {shape} implies {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_bytes(path: str | os.PathLike) -> bytes:
    """The decompressed bytes of ``path`` (gzip if it starts with the gzip magic, else plain)."""
    path = Path(path)
    if not path.is_file():
        raise IdxError(f"{path}: file not found")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise IdxError(f"{path}: corrupt or truncated gzip stream ({err})") from err
    return raw


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_idx(path: str | os.PathLike, expected_sha256: str | None = None) -> tuple[np.ndarray, str]:
    """Read, verify and parse one IDX file (gzip or plain).

    Returns ``(array, sha256 of the decompressed bytes)``. When ``expected_sha256`` is given a
    mismatch raises :class:`IdxError` naming the file and both checksums.
    """
    data = read_bytes(path)
    digest = sha256(data)
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise IdxError(
            f"{path}: checksum mismatch: sha256 of the decompressed bytes is {digest}, "
            f"expected {expected_sha256}"
        )
    return parse_idx(data, name=str(path)), digest


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array (the inverse of :func:`parse_idx`; used by tests)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()
