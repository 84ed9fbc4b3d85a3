"""Tests for tlkeras.strategy: the rule-of-thumb recipes and applying them to a Keras model."""

import numpy as np
import pytest

from tlkeras import strategy


@pytest.fixture(scope="module")
def source():
    from tlkeras import models

    return models.small_cnn(filters=(4, 8), dense=8, num_classes=3, seed=0)


@pytest.mark.parametrize(
    "per_class, similarity, expected",
    [
        (20, "similar", "freeze_all_but_head"),
        (20, "different", "cut_early"),
        (100, "similar", "fine_tune_all"),
        (100, "different", "cut_early"),
        (5000, "similar", "fine_tune_all"),
        (5000, "different", "scratch"),
        (20, 0.9, "freeze_all_but_head"),
        (5000, 0.1, "scratch"),
        (5000, -0.01, "scratch"),
    ],
)
def test_recommend_follows_the_rule_of_thumb_table(per_class, similarity, expected):
    recipe = strategy.recommend(per_class, similarity)
    assert recipe.name == expected
    assert recipe.from_scratch == (expected == "scratch")
    assert recipe.reason and "seed" not in recipe.reason.lower()  # learner-facing text names primary sources


def test_every_cell_has_its_own_reason():
    reasons = {strategy.recommend(n, s).reason for n in (10, 100, 1000) for s in strategy.SIMILARITIES}
    assert len(reasons) == 6
    assert all("CS231n" in reason or "Ng" in reason for reason in reasons)


def test_thresholds_are_arguments():
    assert strategy.case(100, 0.3) == ("medium", "different")
    assert strategy.case(100, 0.3, medium_from=200) == ("small", "different")
    assert strategy.case(100, 0.3, large_from=100, similar_from=0.2) == ("large", "similar")
    with pytest.raises(ValueError):
        strategy.case(100, 0.3, medium_from=600, large_from=500)


@pytest.mark.parametrize(
    "per_class, similarity",
    [
        (0, "similar"),
        (-5, "similar"),
        ("many", "similar"),
        (True, "similar"),
        (20, "alike"),
        (20, 1.5),
        (20, -1.5),
        (20, None),
        (20, True),
    ],
)
def test_recommend_rejects_bad_arguments(per_class, similarity):
    with pytest.raises(ValueError):
        strategy.recommend(per_class, similarity)


def test_recipe_rejects_bad_fields():
    with pytest.raises(ValueError):
        strategy.Recipe("x", keep=-1, cut=False, freeze=False, learning_rate=1e-3)
    with pytest.raises(ValueError):
        strategy.Recipe("x", keep=None, cut=False, freeze=False, learning_rate=0)
    with pytest.raises(ValueError):
        strategy.cut_early(0)
    with pytest.raises(ValueError):
        strategy.transfer_layers(-1, fine_tune=True)


def test_plan_names_the_layers(source):
    assert strategy.plan(source, strategy.freeze_all_but_head()) == {
        "reused": ["conv_1", "conv_2", "dense_1"],
        "frozen": ["conv_1", "conv_2", "dense_1"],
        "reinitialized": [],
        "dropped": ["output"],
        "new": ["head"],
    }
    early = strategy.plan(source, strategy.cut_early(1))
    assert early["frozen"] == ["conv_1"] and early["reinitialized"] == ["conv_2", "dense_1"]
    assert early["dropped"] == ["output"]
    assert strategy.plan(source, strategy.cut_early(1, cut=True))["dropped"] == ["conv_2", "dense_1", "output"]
    assert strategy.plan(source, strategy.transfer_layers(1, fine_tune=False)) == early
    assert strategy.plan(source, strategy.transfer_layers(2, fine_tune=True))["frozen"] == []
    assert strategy.plan(source, strategy.scratch())["reinitialized"] == ["conv_1", "conv_2", "dense_1"]
    with pytest.raises(ValueError):
        strategy.plan(source, strategy.cut_early(4))
    with pytest.raises(ValueError):
        strategy.plan(source, "fine_tune_all")


def _kernel(model, name):
    return model.get_layer(name).get_weights()[0]


def test_apply_freezes_and_copies_without_touching_the_source(source):
    before = [w.copy() for w in source.get_weights()]
    model = strategy.apply(source, strategy.freeze_all_but_head(), num_classes=5)
    assert model.output.shape[-1] == 5
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["head"]
    for name in ("conv_1", "conv_2", "dense_1"):
        np.testing.assert_array_equal(_kernel(model, name), _kernel(source, name))
        assert model.get_layer(name) is not source.get_layer(name)
    assert all(layer.trainable for layer in source.layers)
    for old, new in zip(before, source.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_apply_cut_early_keeps_the_common_head_and_matches_a_model_built_by_hand(source):
    import keras

    from tlkeras import inits, models

    model = strategy.apply(source, strategy.cut_early(1), num_classes=4)
    names = [layer.name for layer in model.layers]
    assert names[-2:] == ["dense_1", "head"] and not model.get_layer("conv_1").trainable
    assert model.get_layer("conv_2").trainable
    clone = keras.models.clone_model(source)
    clone.set_weights(source.get_weights())
    inits.reinitialize([clone.get_layer("conv_2"), clone.get_layer("dense_1")], seed=1)
    head = models.new_head(clone.get_layer("dense_1").output.shape[1:], num_classes=4, dropout=0.0)
    by_hand = keras.Model(clone.inputs, head(clone.get_layer("dense_1").output))
    by_hand.get_layer("conv_1").trainable = False
    assert [w.shape for w in by_hand.trainable_weights] == [w.shape for w in model.trainable_weights]
    wide = strategy.apply(source, strategy.cut_early(1, cut=True), num_classes=4)
    assert [layer.name for layer in wide.layers][-3:] == ["pool_1", "head_flatten", "head"]
    assert "conv_2" not in [layer.name for layer in wide.layers]


def test_apply_outputs_logits_and_works_on_a_model_it_built(source):
    model = strategy.apply(source, strategy.scratch(), num_classes=3, seed=2)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    out = model.predict(x, verbose=0)
    assert out.shape == (4, 3) and not np.allclose(out.sum(axis=1), 1.0)  # logits, not probabilities
    again = strategy.apply(model, strategy.transfer_layers(2, fine_tune=False), num_classes=3, seed=3)
    np.testing.assert_array_equal(_kernel(again, "conv_2"), _kernel(model, "conv_2"))
    assert not again.get_layer("conv_2").trainable and again.get_layer("dense_1").trainable
    assert not np.allclose(_kernel(again, "dense_1"), _kernel(model, "dense_1"))


def test_apply_reinitializes_upper_layers_with_new_random_weights(source):
    model = strategy.apply(source, strategy.transfer_layers(1, fine_tune=True), num_classes=3, seed=7)
    np.testing.assert_array_equal(_kernel(model, "conv_1"), _kernel(source, "conv_1"))
    assert model.get_layer("conv_1").trainable
    assert not np.allclose(_kernel(model, "conv_2"), _kernel(source, "conv_2"))
    other_seed = strategy.apply(source, strategy.transfer_layers(1, fine_tune=True), num_classes=3, seed=8)
    assert not np.allclose(_kernel(model, "conv_2"), _kernel(other_seed, "conv_2"))
    scale = _kernel(source, "conv_2").std()
    assert 0.5 * scale < _kernel(model, "conv_2").std() < 2 * scale  # same initializer family (He normal)


@pytest.mark.slow
def test_apply_scratch_keeps_nothing_and_trains(source):
    model = strategy.apply(source, strategy.scratch(), num_classes=3, seed=1)
    for name in ("conv_1", "conv_2", "dense_1"):
        assert not np.allclose(_kernel(model, name), _kernel(source, name))
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    x = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(int)
    history = model.fit(x, y, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_apply_rejects_bad_num_classes(source):
    for bad in (1, 0, 2.5, "3", True):
        with pytest.raises(ValueError):
            strategy.apply(source, strategy.fine_tune_all(), num_classes=bad)
