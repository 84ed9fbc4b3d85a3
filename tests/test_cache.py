import json
import os

import numpy as np
import pytest

from tlkeras import cache


def test_miss_then_hit_then_stale(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"features": np.arange(6).reshape(3, 2), "labels": np.array([0, 1, 0])}

    first = cache.cached("part", {"backbone": "b", "size": 96, "shape": (7, 7)}, compute, folder=tmp_path)
    assert first.status == "computed (no cache yet)" and len(calls) == 1
    second = cache.cached("part", {"backbone": "b", "size": 96, "shape": (7, 7)}, compute, folder=tmp_path)
    assert second.status == "hit" and len(calls) == 1
    np.testing.assert_array_equal(second["features"], first["features"])
    third = cache.cached("part", {"backbone": "b", "size": 128, "shape": (7, 7)}, compute, folder=tmp_path)
    assert third.status == "computed (cache stale: size: 96 -> 128)" and len(calls) == 2


def test_interrupted_compute_leaves_no_valid_entry(tmp_path):
    cache.cached("x", {"v": 1}, lambda: {"a": np.ones(2)}, folder=tmp_path)

    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached("x", {"v": 2}, boom, folder=tmp_path)
    assert not (tmp_path / "x.json").exists(), "metadata of the old entry must be gone once it is being replaced"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary files left"
    again = cache.cached("x", {"v": 2}, lambda: {"a": np.zeros(2)}, folder=tmp_path)
    assert again.status.startswith("computed")


def test_corrupt_entry_is_recomputed_not_fatal(tmp_path):
    cache.cached("y", {"v": 1}, lambda: {"a": np.ones(3)}, folder=tmp_path)
    (tmp_path / "y.npz").write_bytes(b"not a zip")
    entry = cache.cached("y", {"v": 1}, lambda: {"a": np.full(3, 2.0)}, folder=tmp_path)
    assert entry.status.startswith("computed (cache unreadable") and entry["a"][0] == 2.0
    assert json.loads((tmp_path / "y.json").read_text())["v"] == 1
    assert oct(os.stat(tmp_path / "y.npz").st_mode)[-3:] == "644"


def test_metadata_must_be_json_before_any_work(tmp_path):
    with pytest.raises(TypeError):
        cache.cached(
            "z", {"model": object()}, lambda: pytest.fail("computed before checking metadata"), folder=tmp_path
        )


def test_fingerprint_changes_with_content(tmp_path):
    a = np.arange(4)
    assert cache.fingerprint(a, "x") != cache.fingerprint(a + 1, "x")
    assert cache.fingerprint(a, "x") != cache.fingerprint(a, "y")
    assert cache.fingerprint(a.astype("int32")) != cache.fingerprint(a.astype("int64"))
    path = tmp_path / "f.txt"
    path.write_text("one")
    before = cache.fingerprint(path)
    path.write_text("three")
    assert cache.fingerprint(path) != before
    assert cache.fingerprint([1, 2], 3) != cache.fingerprint([1], 2, 3)
