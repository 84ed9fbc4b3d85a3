"""Tests for tlkeras.strategy: the rule-of-thumb recipes and applying them to a Keras model."""

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
        (20, "different", "linear_on_early"),
        (100, "similar", "fine_tune_all"),
        (100, "different", "cut_early"),
        (5000, "similar", "fine_tune_all"),
        (5000, "different", "scratch"),
        (49, "different", "linear_on_early"),
        (50, "different", "cut_early"),
        (500, "similar", "fine_tune_all"),
    ],
)
def test_recommend_follows_the_rule_of_thumb_table(per_class, similarity, expected):
    recipe = strategy.recommend(per_class, similarity)
    assert recipe.name == expected
    assert (recipe.keep == 0) == (expected == "scratch")


def test_the_small_different_recipe_is_a_linear_classifier_on_frozen_early_layers():
    recipe = strategy.recommend(10, "different")
    assert recipe.cut and recipe.freeze and recipe.keep == 1
    course_variant = strategy.recommend(100, "different")
    assert not course_variant.cut and course_variant.freeze and course_variant.keep == 1


def test_medium_threshold_is_an_argument():
    assert strategy.case(100, "different") == ("medium", "different")
    assert strategy.case(100, "different", medium_from=200) == ("small", "different")
    assert strategy.recommend(100, "similar", medium_from=200).name == "freeze_all_but_head"
    with pytest.raises(ValueError):
        strategy.case(100, "similar", medium_from=600)


@pytest.mark.parametrize(
    "per_class, similarity",
    [
        (0, "similar"),
        (-5, "similar"),
        ("many", "similar"),
        (True, "similar"),
        (20, "alike"),
        (20, 0.9),
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
        strategy.linear_on_early(0)
    with pytest.raises(ValueError):
        strategy.transfer_layers(-1, fine_tune=True)


def test_plan_names_the_layers(source):
    assert strategy.plan(source, strategy.freeze_all_but_head()) == {
        "reused": ["conv_1", "conv_2", "dense_1"],
        "frozen": ["conv_1", "conv_2", "dense_1"],
        "reinitialized": [],
        "dropped": ["output"],
        "head_reads": "dense_1",
    }
    early = strategy.plan(source, strategy.cut_early(1))
    assert early["frozen"] == ["conv_1"] and early["reinitialized"] == ["conv_2", "dense_1"]
    assert early["dropped"] == ["output"] and early["head_reads"] == "dense_1"
    linear = strategy.plan(source, strategy.linear_on_early(1))
    assert linear["dropped"] == ["conv_2", "dense_1", "output"] and linear["reinitialized"] == []
    assert linear["head_reads"] == "pool_1"  # the pooled output of the last kept convolution
    assert strategy.plan(source, strategy.linear_on_early(2))["head_reads"] == "gap"
    assert strategy.plan(source, strategy.transfer_layers(1, fine_tune=False)) == early
    assert strategy.plan(source, strategy.transfer_layers(2, fine_tune=True))["frozen"] == []
    assert strategy.plan(source, strategy.scratch())["reinitialized"] == ["conv_1", "conv_2", "dense_1"]
    with pytest.raises(ValueError):
        strategy.plan(source, strategy.cut_early(4))
    with pytest.raises(ValueError):
        strategy.plan(source, "fine_tune_all")


def test_transfer_layers_fine_tunes_at_the_smaller_rate_only_when_it_copies_layers():
    assert strategy.transfer_layers(2, fine_tune=True).learning_rate < strategy.scratch().learning_rate
    assert strategy.transfer_layers(0, fine_tune=True).learning_rate == strategy.scratch().learning_rate
    assert strategy.transfer_layers(2, fine_tune=False).freeze
