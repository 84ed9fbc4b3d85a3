"""Tests for tlkeras.fourcase: data splits, the linear probe, the cached source model and the grid runner."""
import numpy as np
import pytest

from tlkeras import fourcase, strategy


def _images(count, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=count)


def test_source_and_target_classes_split_fashion_mnist():
    assert sorted(fourcase.SOURCE_CLASSES + fourcase.TARGET_CLASSES) == list(range(10))


def test_select_classes_relabels_and_scales():
    x, y = _images(200)
    images, labels = fourcase.select_classes(x, y, (7, 2))
    assert images.shape[1:] == (28, 28, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(labels) == {0, 1} and (labels == 0).sum() == (y == 7).sum()
    with pytest.raises(ValueError):
        fourcase.select_classes(x, y, (1, 1))


def test_permute_pixels_is_a_fixed_permutation():
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    once, again = fourcase.permute_pixels(x, seed=4), fourcase.permute_pixels(x, seed=4)
    np.testing.assert_array_equal(once, again)
    assert not np.allclose(once, x)
    np.testing.assert_array_equal(np.sort(once.reshape(3, -1), axis=1), np.sort(x.reshape(3, -1), axis=1))
    assert not np.allclose(once, fourcase.permute_pixels(x, seed=5))


def test_per_class_indices_balances_and_excludes():
    y = np.repeat(np.arange(3), 20)
    first = fourcase.per_class_indices(y, 5, seed=0)
    assert np.bincount(y[first]).tolist() == [5, 5, 5]
    second = fourcase.per_class_indices(y, 10, seed=1, exclude=first)
    assert not set(first) & set(second)
    with pytest.raises(ValueError):
        fourcase.per_class_indices(y, 21, seed=0)


def test_make_task_keeps_train_and_validation_apart():
    x = np.random.default_rng(0).random((60, 28, 28, 1), dtype=np.float32)
    y = np.repeat(np.arange(3), 20)
    task = fourcase.make_task("t", x, y, x[:10], y[:10], per_class=4, val_per_class=3, seed=2, test_size=5)
    assert len(task.x_train) == 12 and len(task.x_val) == 9 and len(task.x_test) == 5
    assert task.num_classes == 3
    train_rows = {row.tobytes() for row in task.x_train}
    assert not train_rows & {row.tobytes() for row in task.x_val}


def test_linear_probe_separates_separable_features_and_checks_shapes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    feats = rng.normal(size=(90, 5)) + 4 * np.eye(3, 5)[y]
    assert fourcase.linear_probe(feats[::2], y[::2], feats[1::2], y[1::2]) > 0.9
    noise = rng.normal(size=(90, 5))
    assert fourcase.linear_probe(noise[::2], y[::2], noise[1::2], y[1::2]) < 0.8
    with pytest.raises(ValueError):
        fourcase.linear_probe(feats, y[:-1], feats, y)


def test_mean_and_spread_groups_rows():
    rows = [dict(cell="a", accuracy=0.5), dict(cell="a", accuracy=0.7), dict(cell="b", accuracy=0.9)]
    summary = fourcase.mean_and_spread(rows, by=("cell",))
    assert summary["a",] == pytest.approx((0.6, 0.1, 2))
    assert summary["b",][0] == pytest.approx(0.9)


def test_run_grid_prints_progress_and_returns_rows(capsys):
    rows = fourcase.run_grid([dict(k=1), dict(k=2)], lambda job: job["k"] / 10, label=lambda j: f"job {j['k']}")
    assert [row["accuracy"] for row in rows] == [0.1, 0.2]
    out = capsys.readouterr().out
    assert "[  1/2] job 1" in out and "[  2/2] job 2" in out


@pytest.fixture()
def tiny_task():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 16)
    x = rng.random((32, 28, 28, 1), dtype=np.float32) * 0.2
    x[y == 1, :14] += 0.8  # class 1 is bright in the top half: learnable in a few steps
    return fourcase.Task("tiny", x, y, x[:8], y[:8], x, y)


@pytest.mark.slow
def test_cached_source_model_trains_once_then_loads(tiny_task, tmp_path, monkeypatch):
    from tlkeras import models

    monkeypatch.setenv("TLKERAS_CACHE", str(tmp_path))
    build = lambda: models.small_cnn(filters=(4,), dense=8, num_classes=2, seed=0)  # noqa: E731
    settings = dict(test="tiny")
    first, info = fourcase.cached_source_model(tiny_task, build, 2, 8, 1e-2, settings, verbose=False)
    assert not info["cached"] and list(tmp_path.glob("fourcase/source_*.keras"))
    second, again = fourcase.cached_source_model(tiny_task, build, 2, 8, 1e-2, settings, verbose=False)
    assert again["cached"] and again["test_accuracy"] == pytest.approx(info["test_accuracy"])
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    _, changed = fourcase.cached_source_model(tiny_task, build, 3, 8, 1e-2, settings, verbose=False)
    assert not changed["cached"]  # new settings -> new file, never a stale model


@pytest.mark.slow
def test_train_recipe_and_similarity_probe_run_end_to_end(tiny_task):
    from tlkeras import models

    source = models.small_cnn(filters=(4,), dense=8, num_classes=2, seed=0)
    accuracy, model = fourcase.train_recipe(source, strategy.fine_tune_all(1e-2), tiny_task, epochs=2,
                                            batch_size=8, seed=0, min_steps=5)
    assert 0.0 <= accuracy <= 1.0 and model.get_layer("head").output.shape[-1] == 2
    random_model = models.small_cnn(filters=(4,), dense=8, num_classes=2, seed=1)
    result = fourcase.similarity_probe(source, random_model, tiny_task, "dense_1", per_class=4, seeds=(0, 1))
    assert set(result) == {"source", "random", "score"}
    assert result["score"] == pytest.approx(result["source"] - result["random"])
