import numpy as np
import pytest

from tlkeras import sampling


def test_split_is_stratified_seeded_and_disjoint():
    labels = np.array([0] * 80 + [1] * 20)
    train, val = sampling.split(labels, (0.8, 0.2), seed=1)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100
    assert np.bincount(labels[val]).tolist() == [16, 4]
    assert [a.tolist() for a in sampling.split(labels, (0.8, 0.2), seed=1)] == [train.tolist(), val.tolist()]
    assert sampling.split(labels, (0.8, 0.2), seed=2)[1].tolist() != val.tolist()


def test_grouped_split_keeps_groups_whole():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), rng.integers(1, 4, 60))
    labels = groups % 3
    parts = sampling.split(labels, (0.7, 0.15, 0.15), seed=0, groups=groups)
    owners = [set(groups[part].tolist()) for part in parts]
    assert not (owners[0] & owners[1]) and not (owners[0] & owners[2]) and not (owners[1] & owners[2])
    assert sum(len(p) for p in parts) == len(labels)
    assert all(len(set(labels[p].tolist())) == 3 for p in parts), "every part sees every class"


@pytest.mark.parametrize("fractions", [(0.5,), (0.7, 0.2), (1.2, -0.2)])
def test_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        sampling.split(np.zeros(10), fractions)


def test_cap_per_class_caps_every_class_and_keeps_groups():
    labels = np.array([0] * 50 + [1] * 5)
    kept = sampling.cap_per_class(labels, 10, seed=0)
    assert np.bincount(labels[kept]).tolist() == [10, 5]
    labels = np.array([0] * 51 + [1] * 6)
    groups = np.repeat(np.arange(19), 3)  # groups of three, each within one class
    kept = sampling.cap_per_class(labels, 10, seed=0, groups=groups)
    assert np.bincount(labels[kept]).tolist() == [12, 6], "whole groups: 4 groups of 3 reach the cap of 10"
    for group in set(groups[kept].tolist()):
        assert set(np.flatnonzero(groups == group)) <= set(kept.tolist()), "a group is kept whole"
    assert len(sampling.cap_per_class(labels, None)) == 57
    with pytest.raises(ValueError, match="positive"):
        sampling.cap_per_class(labels, 0)


def test_per_class_draws_exactly_and_names_the_short_class():
    labels = np.array([0] * 30 + [1] * 8)
    chosen = sampling.per_class(labels, 5, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [5, 5] and len(set(chosen.tolist())) == 10
    more = sampling.per_class(labels, 3, seed=3, exclude=chosen)
    assert not set(more.tolist()) & set(chosen.tolist())
    with pytest.raises(ValueError, match="class 1 has only 3 examples left, 4 requested"):
        sampling.per_class(labels, 4, seed=0, exclude=chosen)


def test_class_weights_equalise_total_weight():
    labels = np.array([0] * 90 + [1] * 10)
    weights = sampling.class_weights(labels, 3)
    totals = [weights[c] * np.sum(labels == c) for c in (0, 1)]
    assert totals[0] == pytest.approx(totals[1]) and weights[2] == 0.0
    # n / (k * n_c) worked by hand: 100 / (2 * 90) and 100 / (2 * 10)
    assert weights[0] == pytest.approx(100 / 180) and weights[1] == pytest.approx(5.0)


def test_balanced_and_proportions():
    labels = np.array([0] * 90 + [1] * 10)
    picks = sampling.balanced(labels, seed=0)
    assert np.bincount(labels[picks]).tolist() == [90, 90]
    kept = sampling.to_proportions(labels, [0.5, 0.5], seed=0)
    assert np.bincount(labels[kept]).tolist() == [10, 10]
    kept = sampling.to_proportions(np.array([0] * 50 + [1] * 50), [0.8, 0.2], seed=0)
    assert np.bincount(np.array([0] * 50 + [1] * 50)[kept]).tolist() == [50, 12]


def test_subset_is_seeded_nested_and_drawn_from_the_given_positions():
    pool = np.arange(100, 200)
    small, large = sampling.subset(pool, 10, seed=3), sampling.subset(pool, 30, seed=3)
    assert np.all(np.diff(small) > 0) and np.isin(small, pool).all() and np.isin(small, large).all()
    np.testing.assert_array_equal(small, sampling.subset(pool, 10, seed=3))
    assert not np.array_equal(small, sampling.subset(pool, 10, seed=4))
    shuffled = sampling.subset(50, None, seed=0, sort=False)
    assert sorted(shuffled.tolist()) == list(range(50)) and not np.all(np.diff(shuffled) > 0)
    with pytest.raises(ValueError, match="11 of 10"):
        sampling.subset(10, 11)


def test_check_sizes_names_every_shortfall():
    sampling.check_sizes({"train": 10, "test": 5}, {"train": 10, "test": 9})
    with pytest.raises(ValueError) as error:
        sampling.check_sizes({"train": 11, "val": 3, "test": 20}, {"train": 10, "val": 3, "test": 9}, profile="full")
    assert (
        "'full'" in str(error.value)
        and "train: 11 wanted, 10 available" in str(error.value)
        and "test: 20" in str(error.value)
    )
    assert "val" not in str(error.value) and "smaller profile" in str(error.value)
