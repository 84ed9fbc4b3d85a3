"""Choosing examples: random subsets, size checks, stratified and grouped splits, per-class caps and draws,
class weights and balanced resampling. Every notebook that picks a subset of a data set uses these."""

import collections

import numpy as np


def subset(indices_or_n, size=None, seed=0, sort=True):
    """`size` positions drawn without replacement from `indices_or_n` (an array of positions, or n for 0..n-1).

    The draw is the first `size` of one seeded shuffle, so with the same seed a smaller subset lies inside a
    larger one. Sorted by default; ``sort=False`` keeps the shuffled order. `size=None` takes them all.
    """
    pool = np.arange(indices_or_n) if np.ndim(indices_or_n) == 0 else np.asarray(indices_or_n)
    size = len(pool) if size is None else int(size)
    if not 0 <= size <= len(pool):
        raise ValueError(f"cannot draw {size} of {len(pool)} positions")
    chosen = np.random.default_rng(seed).permutation(pool)[:size]
    return np.sort(chosen) if sort else chosen


def check_sizes(wanted, available, profile=""):
    """Raise ValueError naming every shortfall when `wanted[name]` exceeds `available[name]` (dicts name -> int):
    run before training, a profile asking for more examples than the data hold fails in seconds."""
    short = [f"{name}: {n} wanted, {available[name]} available" for name, n in wanted.items() if n > available[name]]
    if short:
        raise ValueError(f"profile {profile!r}: " + "; ".join(short) + "; use a smaller profile or lower these sizes")


def split(labels, fractions=(0.8, 0.2), seed=0, groups=None):
    """Seeded split of positions 0..n-1 into one sorted index array per fraction, stratified by label.

    With `groups` (for example lesion ids) every group lands whole in one part, assigned by its majority label,
    so no group is seen in training and again at test time.
    """
    labels, fractions = np.asarray(labels), np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or len(fractions) < 2 or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be two or more non-negative numbers summing to 1, got {fractions.tolist()}")
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} group ids but {len(labels)} labels")
    members = collections.defaultdict(list)
    for position, group in enumerate(groups.tolist()):
        members[group].append(position)
    group_label = {
        group: collections.Counter(labels[idx].tolist()).most_common(1)[0][0] for group, idx in members.items()
    }
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    edges = np.cumsum(fractions)
    for label in sorted(set(group_label.values())):
        chosen = sorted((g for g, lab in group_label.items() if lab == label), key=str)
        chosen = [chosen[j] for j in rng.permutation(len(chosen))]
        total, done = sum(len(members[g]) for g in chosen), 0
        for group in chosen:  # a group goes to the part its middle falls in: parts fill in proportion
            middle = (done + len(members[group]) / 2) / total
            parts[min(int(np.searchsorted(edges, middle)), len(parts) - 1)].extend(members[group])
            done += len(members[group])
    return tuple(np.sort(np.array(part, dtype=int)) for part in parts)


def cap_per_class(labels, cap, seed=0, groups=None):
    """Sorted positions keeping at most `cap` examples of each class (whole groups when `groups` is given);
    `cap=None` keeps everything."""
    labels = np.asarray(labels)
    if cap is None:
        return np.arange(len(labels))
    if int(cap) < 1:
        raise ValueError(f"cap must be a positive number of examples per class, got {cap}")
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        members = collections.defaultdict(list)
        for position in np.flatnonzero(labels == label):
            members[groups[position].item()].append(position)
        order = sorted(members, key=str)
        taken = []
        for j in rng.permutation(len(order)):
            if len(taken) >= cap:
                break
            taken += members[order[j]]
        keep += taken
    return np.sort(np.array(keep, dtype=int))


def per_class(labels, count, seed=0, exclude=None):
    """Shuffled positions of exactly `count` examples of every class, drawn without replacement; ValueError names
    a class with too few examples left (after `exclude`)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    allowed = np.ones(len(labels), bool)
    if exclude is not None:
        allowed[np.asarray(exclude, dtype=int)] = False
    chosen = []
    for label in np.unique(labels):
        pool = np.flatnonzero((labels == label) & allowed)
        if len(pool) < count:
            raise ValueError(f"class {label} has only {len(pool)} examples left, {count} requested")
        chosen.append(rng.choice(pool, count, replace=False))
    return rng.permutation(np.concatenate(chosen))


def class_weights(labels, num_classes):
    """Keras ``class_weight`` dict from sklearn's ``compute_class_weight("balanced")``: n / (k * n_c), so every
    present class contributes equally to the loss; 0.0 for classes absent from `labels`."""
    from sklearn.utils import class_weight  # imported here: sklearn adds seconds to every `import tlkeras.images`

    labels = np.asarray(labels)
    present = np.unique(labels)
    weights = dict(zip(present.tolist(), class_weight.compute_class_weight("balanced", classes=present, y=labels)))
    return {c: float(weights.get(c, 0.0)) for c in range(num_classes)}


def balanced(labels, seed=0):
    """Shuffled positions resampled with replacement so every present class appears as often as the largest."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    count = max(int(np.sum(labels == c)) for c in classes)
    picks = [rng.choice(np.flatnonzero(labels == c), count, replace=True) for c in classes]
    return rng.permutation(np.concatenate(picks))


def to_proportions(labels, proportions, seed=0):
    """Sorted positions whose class shares follow `proportions` (one number per class), keeping as many
    examples as the data allow (at least one of every class given a positive proportion)."""
    labels = np.asarray(labels)
    share = np.asarray(proportions, dtype=float) / np.sum(proportions)
    counts = np.bincount(labels, minlength=len(share))
    usable = (share > 0) & (counts > 0)
    if not usable.any():
        raise ValueError("no class is both present and given a positive proportion")
    total = np.min(counts[usable] / share[usable])
    wanted = np.where(usable, np.maximum(1, np.floor(share * total)), 0).astype(int)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), wanted[c], replace=False) for c in np.flatnonzero(wanted)]
    return np.sort(np.concatenate(picks))
