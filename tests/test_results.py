import json

import numpy as np
import pytest

from tlkeras import results


def test_record_returns_value_and_writes_file(monkeypatch, tmp_path):
    target = tmp_path / "out" / "nb.json"
    monkeypatch.setenv(results.RESULTS_ENV, str(target))
    assert results.record("test_accuracy/he_normal", np.float32(0.85), verbose=False) == np.float32(0.85)
    results.record("backbone", "mobilenet", verbose=False)
    stored = json.loads(target.read_text())
    assert stored["test_accuracy/he_normal"] == pytest.approx(0.85)
    assert stored["backbone"] == "mobilenet"
    assert results.recorded()["backbone"] == "mobilenet"


def test_record_without_runner_keeps_in_memory(monkeypatch):
    monkeypatch.delenv(results.RESULTS_ENV, raising=False)
    results.record("x/y", 3, verbose=False)
    assert results.recorded()["x/y"] == 3


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), [1, 2], {"a": 1}])
def test_record_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        results.record("bad", bad, verbose=False)


def test_record_rejects_empty_name():
    with pytest.raises(ValueError, match="non-empty"):
        results.record("", 1.0)
