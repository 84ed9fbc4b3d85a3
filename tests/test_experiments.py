"""Tests for tlkeras.experiments: class selection, task draws, the cached model and the grid bookkeeping."""

import numpy as np
import pytest

from tlkeras import experiments


def _images(count, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=count)


def test_source_and_target_selections_share_no_image_and_miss_none():
    x, y = _images(300)
    source_x, source_y = experiments.select_classes(x, y, experiments.SOURCE_CLASSES)
    target_x, target_y = experiments.select_classes(x, y, experiments.TARGET_CLASSES)
    assert len(source_x) + len(target_x) == len(x)
    assert set(source_y) == set(target_y) == set(range(5))


def test_select_classes_relabels_and_scales():
    x, y = _images(200)
    images, labels = experiments.select_classes(x, y, (7, 2))
    assert images.shape[1:] == (28, 28, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(labels) == {0, 1} and (labels == 0).sum() == (y == 7).sum()
    np.testing.assert_allclose(images[labels == 0][0, ..., 0], x[y == 7][0] / 255.0)
    with pytest.raises(ValueError):
        experiments.select_classes(x, y, (1, 1))


def test_make_task_keeps_train_and_validation_apart():
    x = np.random.default_rng(0).random((60, 28, 28, 1), dtype=np.float32)
    y = np.repeat(np.arange(3), 20)
    task = experiments.make_task("t", x, y, x[:10], y[:10], per_class=4, val_per_class=3, seed=2, test_size=5)
    assert len(task.x_train) == 12 and len(task.x_val) == 9 and len(task.x_test) == 5
    assert np.bincount(task.y_train).tolist() == [4, 4, 4] and np.bincount(task.y_val).tolist() == [3, 3, 3]
    train_rows = {row.tobytes() for row in task.x_train}
    assert not train_rows & {row.tobytes() for row in task.x_val}
    other = experiments.make_task("t", x, y, x[:10], y[:10], per_class=4, val_per_class=3, seed=3)
    assert {row.tobytes() for row in other.x_train} != train_rows


def test_repeat_to_steps_gives_enough_batches_and_leaves_big_sets_alone():
    x, y = np.arange(10), np.arange(10)
    repeated_x, repeated_y = experiments.repeat_to_steps(x, y, batch_size=4, min_steps=10)
    assert len(repeated_x) >= 40 and len(repeated_x) % 10 == 0
    np.testing.assert_array_equal(repeated_x, repeated_y)
    assert len(experiments.repeat_to_steps(x, y, batch_size=4, min_steps=0)[0]) == 10


def test_by_seed_groups_rows_in_seed_order_so_groups_pair_by_seed():
    rows = [
        dict(cell="a", seed=2, test_accuracy=0.7),
        dict(cell="b", seed=1, test_accuracy=0.6),
        dict(cell="a", seed=1, test_accuracy=0.5),
        dict(cell="b", seed=2, test_accuracy=0.9),
    ]
    groups = experiments.by_seed(rows, by=("cell",), value="test_accuracy")
    np.testing.assert_array_equal(groups["a",], [0.5, 0.7])
    np.testing.assert_array_equal(groups["b",], [0.6, 0.9])


def test_choose_on_validation_ignores_the_test_split():
    rows = [
        dict(size="s", target="t", strategy="a", seed=0, val_accuracy=0.9, test_accuracy=0.1),
        dict(size="s", target="t", strategy="a", seed=1, val_accuracy=0.7, test_accuracy=0.1),
        dict(size="s", target="t", strategy="b", seed=0, val_accuracy=0.75, test_accuracy=0.99),
        dict(size="l", target="t", strategy="a", seed=0, val_accuracy=0.2, test_accuracy=0.5),
        dict(size="l", target="t", strategy="b", seed=0, val_accuracy=0.6, test_accuracy=0.4),
    ]
    assert experiments.choose_on_validation(rows) == {("s", "t"): "a", ("l", "t"): "b"}


@pytest.fixture()
def tiny_task():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 16)
    x = rng.random((48, 28, 28, 1), dtype=np.float32) * 0.2
    x[y == 1, :14] += 0.8  # class 1 is bright in the top half, class 2 in the bottom half
    x[y == 2, 14:] += 0.8
    return experiments.Task("tiny", x, y, x[:8], y[:8], x, y)


@pytest.mark.slow
def test_cached_model_trains_once_then_reads_the_weights(tiny_task, tmp_path):
    import keras

    from tlkeras import models

    calls = []

    def build():
        model = models.small_cnn(filters=(4,), dense=8, num_classes=3, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        return model

    def train(model):
        calls.append(1)
        model.fit(tiny_task.x_train, tiny_task.y_train, epochs=2, batch_size=8, verbose=0)

    first, entry = experiments.cached_model("src", build, train, dict(epochs=2, filters=(4,)), folder=tmp_path)
    assert entry.status.startswith("computed") and len(calls) == 1
    second, again = experiments.cached_model("src", build, train, dict(epochs=2, filters=(4,)), folder=tmp_path)
    assert again.status == "hit" and len(calls) == 1
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, f) for a, f in zip(second.get_weights(), build().get_weights()))
    _, changed = experiments.cached_model("src", build, train, dict(epochs=3, filters=(4,)), folder=tmp_path)
    assert changed.status.startswith("computed (cache stale") and len(calls) == 2


def test_every_profile_of_notebook_04_fits_fashion_mnist_and_reports_winners_over_three_seeds():
    import pathlib

    from tlkeras import doctor, sampling

    path = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "04_four_case_matrix.ipynb"
    settings, _ = doctor.notebook_settings(path)
    assert set(settings) == {"smoke", "cpu", "full"}
    for name, profile in settings.items():
        sizes = [profile[f"{size}_per_class"] for size in ("small", "medium", "large")]
        assert sizes == sorted(set(sizes)), "small < medium < large"
        wanted = {
            "largest training + validation per class": sizes[-1] + profile["val_per_class"],
            "probe training + validation per class": sizes[0] + profile["probe_val_per_class"],
            "test images": profile["test_size"],
            "source validation images": profile["source_val"],
        }
        # five Fashion-MNIST classes: 6,000 training and 1,000 test images each
        available = dict(zip(wanted, (6000, 6000, 5000, 5 * 6000 - 1)))
        sampling.check_sizes(wanted, available, profile=name)
        assert len(set(profile["seeds"])) >= 3 and len(set(profile["probe_seeds"])) >= 3
