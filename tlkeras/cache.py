"""One on-disk cache for computed arrays (frozen-base features, resized images, trained source models).

An entry is ``<name>.npz`` (the arrays) plus ``<name>.json`` (what produced them). The JSON is written
last and both are written atomically, so an interrupted save is never read back as a hit; any change in
the metadata (backbone, weights, image size, data fingerprint, settings) recomputes the entry.
Introduced in notebook 02 and used by 03, 04 and 05.
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
    """Arrays from the cache (or just computed), their metadata, how they were obtained, and the time taken."""

    arrays: dict
    metadata: dict
    status: str  # "hit", or "computed (<why>)"
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


def weights_hash(model):
    """A short hash of all of `model`'s weight values (changes if any weight changes)."""
    return fingerprint(*[value for weight in model.weights for value in (weight.path, weight.numpy())])


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


def _stale_reason(stored, wanted):
    changed = [f"{key}: {stored.get(key)!r} -> {value!r}" for key, value in wanted.items() if stored.get(key) != value]
    return "; ".join(changed)


def cached(name, metadata, compute, folder=None, verbose=True):
    """The arrays `compute()` returns (a dict of NumPy arrays), from the cache when `metadata` matches.

    Args:
        name: file stem of the entry, unique per thing cached (e.g. "resnet50-224-train").
        metadata: JSON-serialisable dict of everything the arrays depend on.
        compute: called only on a miss; returns {array name: array}.
        folder: cache folder (default ``tlk.config.cache_dir("arrays")``).
    Returns:
        `Entry`; its `status` is "hit" or says why the arrays were computed.
    """
    folder = pathlib.Path(folder) if folder else config.cache_dir("arrays")
    # As JSON will store it (tuples become lists), so a stored entry compares equal; fails now, before any
    # long computation, if the metadata cannot be stored at all.
    wanted = json.loads(json.dumps(dict(metadata, format=FORMAT)))
    meta_path, array_path = folder / f"{name}.json", folder / f"{name}.npz"
    started = time.perf_counter()
    status = "computed (no cache yet)"
    if meta_path.exists() and array_path.exists():
        try:
            stored = json.loads(meta_path.read_text())
            reason = _stale_reason(stored, wanted)
            if not reason:
                with np.load(array_path) as stored_arrays:
                    arrays = {key: stored_arrays[key] for key in stored_arrays.files}
                if verbose:
                    print(f"cache hit: {array_path.name} " + ", ".join(f"{k}{v.shape}" for k, v in arrays.items()))
                return Entry(arrays, stored, "hit", time.perf_counter() - started, array_path)
            status = f"computed (cache stale: {reason})"
        except (OSError, ValueError, KeyError) as error:  # unreadable entry: recompute, never crash
            status = f"computed (cache unreadable: {error.__class__.__name__})"
    meta_path.unlink(missing_ok=True)  # until the new arrays are saved, nothing here is valid
    arrays = {key: np.asarray(value) for key, value in compute().items()}

    def save_arrays(temporary):
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(array_path, save_arrays)
    atomic_write(meta_path, lambda tmp: pathlib.Path(tmp).write_text(json.dumps(wanted, indent=2)))
    seconds = time.perf_counter() - started
    if verbose:
        print(f"{status}: {array_path.name} in {seconds:.1f} s")
    return Entry(arrays, wanted, status, seconds, array_path)
