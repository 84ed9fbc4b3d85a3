"""One on-disk cache for computed arrays (frozen-base features, trained source models). Notebooks 02 to 05.

An entry is ``<name>.npz`` (the arrays) plus ``<name>.json`` (what produced them), each written atomically and the
JSON last, so an interrupted save is never read back as a hit; any change in the metadata recomputes the entry.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile
import time

import numpy as np

from tlkeras import config

FORMAT = 2


@dataclasses.dataclass
class Entry:
    """Arrays from the cache (or just computed), their metadata, "hit" or why they were computed, and the time."""

    arrays: dict
    metadata: dict
    status: str
    seconds: float
    path: pathlib.Path

    def __getitem__(self, key):
        return self.arrays[key]


def fingerprint(*items):
    """A short hash of strings, numbers, paths (their names, sizes and times) and arrays, in order."""
    digest = hashlib.sha256()
    for item in items:
        if isinstance(item, np.ndarray) or hasattr(item, "__array__") and not isinstance(item, (str, bytes)):
            array = np.ascontiguousarray(np.asarray(item))
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        elif isinstance(item, pathlib.Path):
            stat = item.stat()
            digest.update(f"{item}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        elif isinstance(item, (list, tuple)):
            digest.update(fingerprint(*item).encode())
        else:
            digest.update(repr(item).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def atomic_write(path, write):
    """Call ``write(temporary)`` on a file beside `path`, then rename it to `path`: complete or absent, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a cache is readable like any other file
        os.replace(temporary, path)
    finally:
        pathlib.Path(temporary).unlink(missing_ok=True)


def cached(name, metadata, compute, folder=None):
    """The `Entry` of the arrays ``compute()`` returns ({name: array}), read from ``<folder>/<name>.npz`` instead
    when `metadata` (JSON: everything they depend on) matches. `folder`: ``tlk.config.cache_dir("arrays")``."""
    folder = pathlib.Path(folder) if folder else config.cache_dir("arrays")
    # as JSON will store it (tuples become lists); fails now, before a long computation, if it cannot be stored
    wanted = json.loads(json.dumps(dict(metadata, format=FORMAT)))
    meta_path, array_path = folder / f"{name}.json", folder / f"{name}.npz"
    started, status = time.perf_counter(), "computed (no cache yet)"
    if meta_path.exists() and array_path.exists():
        try:
            stored = json.loads(meta_path.read_text())
            changed = "; ".join(
                f"{key}: {stored.get(key)!r} -> {value!r}" for key, value in wanted.items() if stored.get(key) != value
            )
            if not changed:
                with np.load(array_path) as stored_arrays:
                    arrays = {key: stored_arrays[key] for key in stored_arrays.files}
                print(f"cache hit: {array_path.name} " + ", ".join(f"{k}{v.shape}" for k, v in arrays.items()))
                return Entry(arrays, stored, "hit", time.perf_counter() - started, array_path)
            status = f"computed (cache stale: {changed})"
        except (OSError, ValueError, KeyError) as error:  # an unreadable entry is recomputed, never fatal
            status = f"computed (cache unreadable: {error.__class__.__name__})"
    meta_path.unlink(missing_ok=True)  # until the new arrays are saved, nothing here is valid
    arrays = {key: np.asarray(value) for key, value in compute().items()}

    def save_arrays(temporary):
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(array_path, save_arrays)
    atomic_write(meta_path, lambda temporary: pathlib.Path(temporary).write_text(json.dumps(wanted, indent=2)))
    seconds = time.perf_counter() - started
    print(f"{status}: {array_path.name} in {seconds:.1f} s")
    return Entry(arrays, wanted, status, seconds, array_path)
