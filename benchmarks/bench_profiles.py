"""Benchmark: images per second of the course's real backbones on this machine, and what each profile costs.

Compute does not depend on weight values, so every architecture runs at its real input size with random
weights (no download needed). Run from the repository root:

    python benchmarks/bench_profiles.py

It measures inference and training-step throughput per backbone, counts the images each notebook sends
through its backbone in each profile (from the notebook's own settings), and writes the predicted minutes
per notebook and profile into the "profiles" section of benchmarks/RESULTS.md. Notebooks 01, 04 and 06
train small Fashion-MNIST models only; their minutes come from timed runs (`python -m tlkeras run`).
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from results_file import write_section  # noqa: E402

BACKBONES = {"mobilenet_0.25": 224, "mobilenet_v2": 224, "resnet50": 224, "inceptionv3": 299}


def build(name, size):
    import keras

    shape = (size, size, 3)
    if name == "mobilenet_0.25":
        return keras.applications.MobileNet(
            alpha=0.25, weights=None, include_top=False, pooling="avg", input_shape=shape
        )
    if name == "mobilenet_v2":
        return keras.applications.MobileNetV2(weights=None, include_top=False, pooling="avg", input_shape=shape)
    if name == "resnet50":
        return keras.applications.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=shape)
    if name == "inceptionv3":
        return keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg", input_shape=shape)
    raise ValueError(name)


def rates(name, size, batch=32, batches=3):
    """(inference images/s, training images/s) of backbone `name` with a Dense head, random weights."""
    import keras
    import numpy as np

    base = build(name, size)
    images = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    base.predict_on_batch(images)  # build and trace once
    started = time.perf_counter()
    for _ in range(batches):
        base.predict_on_batch(images)
    inference = batch * batches / (time.perf_counter() - started)
    model = keras.Sequential([base, keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e-4), keras.losses.BinaryCrossentropy(from_logits=True))
    labels = np.zeros((batch, 1), "float32")
    model.train_on_batch(images, labels)
    started = time.perf_counter()
    for _ in range(max(1, batches - 1)):
        model.train_on_batch(images, labels)
    training = batch * max(1, batches - 1) / (time.perf_counter() - started)
    keras.backend.clear_session()
    return inference, training


def runs_table(runs, measured):
    """Markdown rows: per notebook, measured minutes and peak memory of each given run, and what the images
    that run sent through its backbone would cost with the full profile's backbones at the measured rates."""
    if not runs:
        return []
    loaded = {profile: json.loads(pathlib.Path(path).read_text()) for profile, path in runs.items()}
    stems = sorted({stem for summary in loaded.values() for stem in summary["_run"]["notebooks"]})
    lines = [
        "",
        "### Measured runs on this machine (2 CPU cores)",
        "",
        "| notebook | " + " | ".join(f"{p}: minutes (peak MB)" for p in loaded) + " |",
        "|---|" + "---|" * len(loaded),
    ]
    for stem in stems:
        cells = []
        for summary in loaded.values():
            info = summary["_run"]["notebooks"].get(stem)
            cells.append(
                f"{info['seconds'] / 60:.1f} ({info['peak_rss_mb']:.0f}){'' if info['status'] == 'ok' else ' FAILED'}"
                if info
                else "not run"
            )
        lines.append(f"| {stem} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Images each run sent through a backbone once (feature extraction), and the minutes that one pass",
        "takes at the inference rates above with MobileNet 0.25 (what smoke and cpu use) and with the full",
        "profile's ResNet50 / InceptionV3 on this CPU (why `cpu` names MobileNet 0.25):",
        "",
        "| run | notebook | images | MobileNet 0.25 min | ResNet50 min | InceptionV3 min |",
        "|---|---|---|---|---|---|",
    ]
    for profile, summary in loaded.items():
        for key, prefix in (
            ("02_feature_extraction", "fe/"),
            ("03_fine_tuning", "ft/"),
            ("05_skin_lesion_inceptionv3", "skin/"),
        ):
            counts = [
                v for k, v in summary.items() if k.startswith(prefix) and k.endswith(("n_train", "n_val", "n_test"))
            ]
            if not counts:
                continue
            n = sum(counts)
            minutes = [
                n / measured[b]["inference"] / 60 if b in measured else float("nan")
                for b in ("mobilenet_0.25", "resnet50", "inceptionv3")
            ]
            lines.append(f"| {profile} | {key} | {n} | " + " | ".join(f"{m:.1f}" for m in minutes) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5, help="timed batches of 32 per backbone")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--json", default=None, help="also write the measured rates to this JSON file")
    parser.add_argument(
        "--runs",
        nargs="*",
        default=[],
        metavar="PROFILE=RESULTS_JSON",
        help="results.json of `python -m tlkeras run --profile PROFILE` runs to tabulate, e.g. cpu=build-cpu/results.json",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    measured = {}
    for name in args.backbones:
        inference, training = rates(name, BACKBONES[name], batches=args.batches)
        measured[name] = {"size": BACKBONES[name], "inference": inference, "training": training}
        print(
            f"{name} at {BACKBONES[name]} px: inference {inference:.1f} images/s, training {training:.1f} images/s",
            flush=True,
        )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(measured, indent=2))
    load = os.getloadavg()
    lines = [
        "## Profiles: backbone throughput on this machine",
        "",
        f"Generated by `python benchmarks/bench_profiles.py --batches {args.batches}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end; "
        f"keras {keras.__version__}. Random weights, batch 32 (compute does not depend on weight values).",
        "",
        "| backbone | input | inference images/s | training images/s (all layers) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {m['size']} px | {m['inference']:.1f} | {m['training']:.1f} |" for name, m in measured.items()
    ]
    lines += runs_table(dict(item.split("=", 1) for item in args.runs), measured)
    write_section("bench_profiles", "\n".join(lines))
    print("wrote the bench_profiles section of benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
