"""Parquet tables with their provenance, written atomically.

Every table this project writes carries, in its Parquet schema metadata under the key
``bayes_sgd``, a JSON record with the parameters that produced it (configuration, seed), its
status and the versions of the packages that computed it. Tables are written to a temporary
file in the destination directory and renamed into place, so a crash never leaves a
half-written table under the final name.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"bayes_sgd"

_VERSIONED_PACKAGES = ("bayes-sgd", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "snakemake")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that compute our numbers."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _jsonable(value: Any) -> Any:
    """Turn NumPy scalars and arrays, tuples and paths into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy scalar or array
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def _umask() -> int:
    """The process's umask: from /proc on Linux; elsewhere by setting it and putting it back
    (there is no getter; the two calls are not atomic, which only matters to threads that create
    files at the same moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` and rename the result to ``path``.

    The temporary file lives in the destination directory (same file system), so the final
    ``os.replace`` is atomic. On any error the temporary file is removed and nothing appears
    under ``path``. The file gets the permissions the user's umask gives a new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates the file private (0600); give it the mode a plain open() would have
        # (0666 less the umask), so that a group sharing the results can read them.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_table(
    table: pd.DataFrame | pa.Table,
    path: str | os.PathLike,
    provenance: dict[str, Any] | None = None,
) -> None:
    """Write ``table`` to ``path`` as Parquet, atomically, with provenance metadata.

    ``provenance`` (configuration, seed, status, sources, ...) is stored as JSON together with
    :func:`package_versions` under the schema metadata key ``bayes_sgd``.
    """
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    record = {"provenance": _jsonable(provenance or {}), "versions": package_versions()}
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(record, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


class DamagedTableError(ValueError):
    """A table file exists but cannot be read as Parquet (truncated, overwritten, not Parquet)."""


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table` as a DataFrame.

    A file that exists but is not a readable Parquet table (a full disk, a killed copy, a hand
    edit) raises :class:`DamagedTableError` naming the file and what to do, instead of a
    reader's traceback: the workflow's own writes are atomic, so such a file was damaged after
    it was written, and Snakemake cannot tell (it sees only that the file exists).
    """
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except (pa.ArrowException, OSError) as err:
        if not Path(path).is_file():
            raise
        raise DamagedTableError(
            f"{path}: not a readable Parquet table ({err}). It was damaged after it was written "
            f"(a full disk, an interrupted copy, an edit). Delete it and run snakemake again: the job "
            f"that writes it reruns, and so does every job that reads it "
            f"(or: snakemake --forcerun {path})"
        ) from None


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance record (``{"provenance": ..., "versions": ...}``) of a table."""
    meta = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in meta:
        raise ValueError(f"{path}: no bayes_sgd provenance in the Parquet metadata")
    return json.loads(meta[METADATA_KEY])
