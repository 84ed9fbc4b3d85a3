"""Benchmark: cached-feature head training vs training through the frozen base, and pipeline vs backbone speed.

Run from the repository root (uses the offline mirror when $TLKERAS_MIRROR is set):

    TLKERAS_MIRROR=../shared/data python benchmarks/bench_feature_cache.py --epochs 5

Writes its section of benchmarks/RESULTS.md. Targets (issue 3): over E epochs the cached path is at least 0.9 x E times
faster than the frozen-base path (extraction included), and the input pipeline delivers at least 3x the
images per second the backbone consumes.
"""

import argparse
import datetime
import os
import pathlib
import platform
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from results_file import RESULTS, write_section  # noqa: E402


def images_per_second(dataset, count):
    """Iterate a batched dataset once; return images per second."""
    start = time.perf_counter()
    for _ in dataset:
        pass
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="for both paths (a linear head on cached vectors is dominated by per-step overhead at small batches)",
    )
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()

    import keras

    import tlkeras as tlk

    tlk.setup(seed=0)
    splits = tlk.images.load_cats_vs_dogs(seed=0)
    backbone = tlk.backbones.load(args.backbone, "smoke")
    base, size, n_train = backbone.model, backbone.input_size, splits.count("train")
    epochs = args.epochs

    # Both paths start from the same decoded, resized images in memory (decoding is a one-off cost, measured
    # separately below as the pipeline's first pass), so the comparison is backbone work vs backbone work.
    train = splits.dataset("train", size, backbone.preprocess, batch_size=args.batch_size).cache()
    for _ in train:
        pass  # fill the in-memory image cache

    # 1. Frozen-base path: the head trains on images pushed through the frozen base every epoch.
    base.trainable = False
    inputs = keras.Input((size, size, 3))
    head = tlk.models.new_head(base.output_shape[1:])
    frozen = keras.Model(inputs, head(base(inputs, training=False)))
    frozen.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    start = time.perf_counter()
    frozen.fit(train, epochs=epochs, verbose=0)
    frozen_seconds = time.perf_counter() - start

    # 2. Cached path: run the base once over the same cached images, then the same head trains on the vectors.
    start = time.perf_counter()
    features = base.predict(train.map(lambda x, _: x), verbose=0)
    labels = splits.labels("train")
    extract_seconds = time.perf_counter() - start
    head = tlk.models.new_head(base.output_shape[1:])
    head.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    start = time.perf_counter()
    head.fit(features, labels, batch_size=args.batch_size, epochs=epochs, verbose=0)
    head_seconds = time.perf_counter() - start
    speedup = frozen_seconds / (extract_seconds + head_seconds)

    # End to end from JPEG files (fresh pipelines, decoding included on both sides), for reference.
    start = time.perf_counter()
    fresh = splits.dataset("train", size, backbone.preprocess, batch_size=args.batch_size, shuffle=True)
    frozen.fit(fresh, epochs=epochs, verbose=0)
    frozen_e2e = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        found = tlk.backbones.features(
            backbone,
            splits.paths("train"),
            splits.labels("train"),
            "cats_vs_dogs-train",
            folder=cache,
        )
        head.fit(found["features"], found["labels"], batch_size=args.batch_size, epochs=epochs, verbose=0)
        cached_e2e = time.perf_counter() - start

    # 3. Input pipeline vs backbone, in images per second.
    pipeline = splits.dataset("train", size, backbone.preprocess, batch_size=args.batch_size).cache()
    decode_rate = images_per_second(pipeline, n_train)  # first pass: read, decode, resize, fill the cache
    cached_rate = images_per_second(pipeline, n_train)  # later epochs: from the in-memory cache
    batch = next(iter(pipeline))[0]
    infer = base.predict_on_batch if hasattr(base, "predict_on_batch") else base.predict
    infer(batch)
    start, repeats = time.perf_counter(), max(1, n_train // args.batch_size)
    for _ in range(repeats):
        infer(batch)
    backbone_rate = repeats * args.batch_size / (time.perf_counter() - start)

    load = os.getloadavg()
    rows = [
        ("frozen-base path, E epochs (s)", f"{frozen_seconds:.1f}"),
        ("feature extraction, once (s)", f"{extract_seconds:.1f}"),
        ("cached head, E epochs (s)", f"{head_seconds:.2f}"),
        ("speedup over E epochs (target >= 0.9 x E = %.1f)" % (0.9 * epochs), f"{speedup:.2f}"),
        ("end to end from JPEG files: frozen-base path, E epochs (s)", f"{frozen_e2e:.1f}"),
        ("end to end from JPEG files: extract + cached head, E epochs (s)", f"{cached_e2e:.1f}"),
        ("end-to-end speedup (decoding included on both sides)", f"{frozen_e2e / cached_e2e:.2f}"),
        ("cached head seconds/epoch vs frozen seconds/epoch", f"{frozen_seconds / head_seconds:.0f}x"),
        ("pipeline images/s, first pass (decode + resize)", f"{decode_rate:.0f}"),
        ("pipeline images/s, cached epochs", f"{cached_rate:.0f}"),
        ("backbone images/s (inference)", f"{backbone_rate:.0f}"),
        ("pipeline / backbone, cached epochs (target >= 3)", f"{cached_rate / backbone_rate:.1f}"),
        ("pipeline / backbone, first pass", f"{decode_rate / backbone_rate:.1f}"),
    ]
    verdict = [
        f"cache speedup {'meets' if speedup >= 0.9 * epochs else 'MISSES'} the 0.9 x E target",
        f"pipeline {'meets' if cached_rate >= 3 * backbone_rate else 'MISSES'} the 3x target in cached epochs",
    ]
    text = [
        "# Benchmark: feature cache and input pipeline",
        "",
        f"Generated by `benchmarks/bench_feature_cache.py --epochs {epochs}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min; a shared machine inflates all times)",
        f"- keras {keras.__version__}, backend {keras.backend.backend()}, GPU: {tlk.config.gpu_available()}",
        f"- data: {splits.summary()}",
        f"- backbone: {backbone.label} at {size} px (requested {backbone.requested}; pretrained "
        f"{backbone.pretrained}), batch size {args.batch_size}, E = {epochs} epochs, head = dropout + Dense(1)",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        *[f"- {line}" for line in verdict],
        "",
        "The frozen-base path runs every image through the backbone each epoch; the cached path runs it once "
        "and then trains the head on stored vectors, so over E epochs it approaches an E-fold saving. "
        "The main speedup row starts both paths from the same decoded images in memory; the end-to-end rows "
        "include JPEG decoding, which with a backbone as small as MobileNet 0.25 costs about as much as the "
        "backbone itself and is paid by both paths, so it dilutes the ratio; with ResNet50 it would not. "
        "The first pipeline pass decodes JPEGs; later epochs read resized images from the in-memory cache, "
        "which is what keeps the pipeline ahead of the backbone.",
        "",
    ]
    text[0] = "## Feature cache and input pipeline"
    write_section("bench_feature_cache", "\n".join(text), args.output)
    print("\n".join(text))


if __name__ == "__main__":
    main()
