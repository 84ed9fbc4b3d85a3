"""The full profile's code path for notebooks 02, 03 and 05, run on a CPU before a learner runs it on a GPU.

It builds the architectures the full profile names (ResNet50 at 224 px, InceptionV3 at 299 px) with random
weights (compute, shapes and memory do not depend on weight values), checks every layer name the notebooks cut
or unfreeze at and every sample size against the real data sets, and runs one training step of each stage
(head, top blocks, all layers) at the full profile's batch size, measuring the step's peak resident memory.
The settings come from the notebooks' own settings cells, so this test follows them.

    TLKERAS_FULL_MEMORY=out.json python -m pytest tests/test_full_profile.py -v -s   # also writes the figures
"""

import json
import os
import pathlib
import threading

import numpy as np
import pytest

from tlkeras import backbones, doctor, ham10000, models, sampling

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.name[:2]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
# cats_vs_dogs in tensorflow-datasets: Microsoft's PetImages release has 12,500 cats and 12,500 dogs; tfds skips
# 1,738 corrupt files and keeps 23,262. Its per-class counts are not published with it, so the checks use the
# smallest a class can have: 12,500 - 1,738.
CATS_VS_DOGS = 23_262
CATS_VS_DOGS_SMALLEST_CLASS = 12_500 - 1_738
CATS_VS_DOGS_FRACTIONS = (0.8, 0.2)  # tlk.images.load_cats_vs_dogs's train/validation split of the tfds data
HAM10000 = 10_015
HAM10000_FRACTIONS = (0.7, 0.15, 0.15)  # notebook 05's lesion-grouped train/validation/test split
T4_GB = 15.0  # a 16 GB T4 shows about 15 GB to TensorFlow
MEASURED = {}  # stage -> figures, written to $TLKERAS_FULL_MEMORY at the end (benchmarks/RESULTS.md quotes them)

pytestmark = pytest.mark.slow


def full_settings(number):
    settings, _ = doctor.notebook_settings(NOTEBOOKS[number])
    return settings["full"]


def rss_mb():
    with open(f"/proc/{os.getpid()}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_step(stage, model, batch_size, size, classes, loss):
    """One `train_on_batch` at `batch_size`; records the step's peak resident memory (sampled every 20 ms)."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1.0, 1.0, (batch_size, size, size, 3)).astype("float32")
    labels = rng.integers(0, classes, batch_size)
    labels = labels.reshape(-1, 1).astype("float32") if classes == 2 else labels
    before, peak, done = rss_mb(), [0.0], threading.Event()

    def watch():
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mb())

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        value = float(np.asarray(model.train_on_batch(images, labels)).ravel()[0])
    finally:
        done.set()
        thread.join()
    peak[0] = max(peak[0], rss_mb())
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    MEASURED[stage] = dict(batch_size=batch_size, image_size=size, trainable_weights=trainable,
                           rss_before_mb=round(before), step_peak_mb=round(peak[0]), step_growth_mb=round(peak[0] - before))  # fmt: skip
    print(f"{stage}: batch {batch_size} at {size} px, {trainable:,} trainable weights, loss {value:.3f}, "
          f"resident {before:.0f} -> peak {peak[0]:.0f} MB")  # fmt: skip
    assert np.isfinite(value)
    assert peak[0] / 1024 < T4_GB, f"{stage}: {peak[0]:.0f} MB resident would not fit a T4's memory"
    return trainable


@pytest.fixture(scope="module", autouse=True)
def write_measurements():
    yield
    target = os.environ.get("TLKERAS_FULL_MEMORY")
    if target and MEASURED:
        pathlib.Path(target).write_text(json.dumps(MEASURED, indent=2))


def test_cats_vs_dogs_sample_sizes_fit_the_real_data():
    p02, p03 = full_settings("02"), full_settings("03")
    assert p02["backbone"] == p03["backbone"] == "resnet50"
    per_class = [cap for cap in (p02["max_per_class"], p03["per_class"]) if cap is not None]
    assert all(cap <= CATS_VS_DOGS_SMALLEST_CLASS for cap in per_class), "a cap above the smallest class"
    smallest = min([CATS_VS_DOGS_SMALLEST_CLASS, *[p03["per_class"] or CATS_VS_DOGS_SMALLEST_CLASS]])
    smallest_train = int(smallest * 0.6)  # 03 splits 0.6 / 0.2 / 0.2 (train / validation / test)
    smallest_val = int(CATS_VS_DOGS_SMALLEST_CLASS * CATS_VS_DOGS_FRACTIONS[1])
    n_train = 2 * smallest_train  # at least this many training images in 03 whatever the class balance
    assert p02["scratch_per_class"] <= smallest_val
    for batches, size in (("demo_batches", "batch_size"), ("bn_steps", "bn_batch_size"), ("distributed_batches", "batch_size")):  # fmt: skip
        assert p03[batches] * p03[size] <= n_train, (batches, size)
    assert p03.get("rate_images", 0) <= n_train
    assert CATS_VS_DOGS * CATS_VS_DOGS_FRACTIONS[0] >= n_train
    # 03's distant target: Fashion-MNIST per class (train, validation from the training images, test)
    train, validation, test = p03["distant_per_class"]
    assert train + validation <= 6000 and test <= 1000, p03["distant_per_class"]


def test_ham10000_lesion_grouped_split_fits_the_settings(mirror):
    problems = {}
    rows = ham10000.read_metadata(mirror / ham10000.NAME / "HAM10000_metadata.csv", problems)
    assert len(rows) == HAM10000 and problems == {}
    labels = np.array([ham10000.CLASSES.index(dx) for _, dx in rows.values()])
    lesions = np.array([lesion for lesion, _ in rows.values()])
    parts = sampling.split(labels, HAM10000_FRACTIONS, seed=0, groups=lesions)
    sizes = [len(part) for part in parts]
    MEASURED["ham10000_split"] = dict(zip(("train", "validation", "test"), sizes), lesions=len(set(lesions)))
    print(f"HAM10000: {len(set(lesions))} lesions; lesion-grouped split {sizes}")
    assert sum(sizes) == HAM10000 and all(
        not set(lesions[parts[a]]) & set(lesions[parts[b]]) for a, b in ((0, 1), (0, 2), (1, 2))
    )
    assert all(np.bincount(labels[part], minlength=7).min() > 0 for part in parts), "every class in every part"
    p05 = full_settings("05")
    assert p05["max_per_class"] is None and p05.get("finetune_images") is None  # the whole training split
    assert p05["transfusion_images"] <= sizes[0] and max(p05["batch_size"], p05["head_batch_size"]) <= min(sizes)


def test_resnet50_stages_of_02_and_03():
    import keras

    p02, p03 = full_settings("02"), full_settings("03")
    base = backbones.load(p03["backbone"], "full", weights=None).model
    size = base.input_shape[1]
    assert size == 224 and base.output_shape == (None, 2048)
    names = [layer.name for layer in base.layers]
    assert p03["cut"] in names, f"03 cuts at {p03['cut']!r}, which ResNet50 does not have"
    models.submodel(base, p03["cut"])  # 03's bottom part: image -> activations at the cut
    maps = [layer for layer in base.layers if isinstance(layer, (keras.layers.ReLU, keras.layers.Activation))]
    assert len(maps) >= 4 and models.first_conv(base).name == "conv1_conv"  # 02's feature maps and filters
    head = models.new_head(base.output_shape[1:], seed=0)
    inputs = keras.Input((size, size, 3))
    model = keras.Model(inputs, head(base(inputs, training=False)))
    loss = keras.losses.BinaryCrossentropy(from_logits=True)

    base.trainable = False  # 02: a frozen base and a new head
    head_only = one_step("02 head (frozen ResNet50)", model, p02["batch_size"], size, 2, loss)
    cut = names.index(p03["cut"])
    base.trainable = True  # 03: the layers after the cut, BatchNorm kept frozen
    for index, layer in enumerate(base.layers):
        layer.trainable = index > cut and not isinstance(layer, keras.layers.BatchNormalization)
    top = one_step(f"03 top blocks (after {p03['cut']})", model, p03["batch_size"], size, 2, loss)
    for layer in base.layers:  # 03: every layer but BatchNorm
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    everything = one_step("03 all layers", model, p03["batch_size"], size, 2, loss)
    assert head_only < top < everything


def test_inception_v3_stages_of_05():
    import keras

    p05 = full_settings("05")
    base = backbones.load(p05["backbone"], "full", input_size=p05["image_size"], weights=None).model
    size = base.input_shape[1]
    assert size == 299 and base.output_shape == (None, 2048) and models.first_conv(base).kernel.shape[-2] == 3
    if p05.get("frozen_until"):  # 05 fine-tunes the layers after this one
        assert p05["frozen_until"] in [layer.name for layer in base.layers], p05["frozen_until"]
    head = models.new_head(base.output_shape[1:], num_classes=7, dropout=p05["dropout"], hidden=p05["hidden"])
    inputs = keras.Input((size, size, 3))
    model = keras.Model(inputs, head(base(inputs, training=False)))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    base.trainable = False
    head_only = one_step("05 head (frozen InceptionV3)", model, p05["batch_size"], size, 7, loss)
    base.trainable = True
    for layer in base.layers:  # 05 fine-tunes every layer but BatchNorm
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    everything = one_step("05 all layers", model, p05["batch_size"], size, 7, loss)
    assert head_only < everything
