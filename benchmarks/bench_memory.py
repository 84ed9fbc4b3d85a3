"""Benchmark: peak memory and time of notebook 05's data + feature path on an N-image HAM10000 set.

    python benchmarks/bench_memory.py --images N --image-size S [--data DIR] [--backbone NAME] [--feature-limit K]

Unless ``--data`` names a folder in any layout `tlk.ham10000.load` reads, it builds an N-image set in the
official HAM10000 layout (``HAM10000_metadata.csv`` + ``HAM10000_images_part_1/``) in a temporary folder by
hard-linking the mirror's images under new, distinct image and lesion ids (two images per lesion, like the
release's 1.3). Then, in a fresh Python process, it runs what notebook 05 runs before training: `load`
(scan, metadata, checked files), the lesion-grouped split, and `tlk.backbones.features` for the train,
validation and test parts (streamed from the files, batch by batch, into a fresh feature cache). The parent
reads the child's peak resident memory from the kernel (``getrusage(RUSAGE_CHILDREN).ru_maxrss``), and the
last line printed is ``peak_rss_mb=<n> seconds=<n>``.

``--backbone`` is ``inception_v3`` (notebook 05's full profile; with ``--weights none`` the real
architecture with random weights: compute and memory do not depend on the weights' values) or
``mobilenet_0.25`` (the smoke/cpu profiles, ImageNet weights from the mirror). ``--feature-limit K`` sends only
the first K images of each part through the backbone (the scan and check still cover all N).
"""

import argparse
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SOURCES = {"224": "skin_lesion/ham10000_224", "600x450": "skin_lesion/ham10000_600x450_sample"}


def build(folder, count, source):
    """An official-layout set of `count` images: hard links (copies across file systems) of the source images."""
    import csv

    with open(source / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    files = {path.stem: path for path in source.rglob("*.jpg")}
    rows = [row for row in rows if row["image_id"] in files]
    images = folder / "HAM10000_images_part_1"
    images.mkdir(parents=True)
    with open(folder / "HAM10000_metadata.csv", "w", newline="") as handle:
        handle.write("lesion_id,image_id,dx,dx_type,age,sex,localization\n")
        for number in range(count):
            image_id, lesion_id = f"ISIC_{number:07d}", f"HAM_{number // 2:07d}"
            row = rows[(number // 2) % len(rows)]  # both images of a lesion share its diagnosis
            target = images / f"{image_id}.jpg"
            try:
                os.link(files[row["image_id"]], target)
            except OSError:
                shutil.copyfile(files[row["image_id"]], target)
            handle.write(f"{lesion_id},{image_id},{row['dx']},histo,50.0,male,back\n")
    return folder


def child(args):
    """Notebook 05's data + feature path (the same calls as its cells), in this fresh process."""
    import numpy as np

    import tlkeras as tlk
    from tlkeras import ham10000

    tlk.setup(seed=0, verbose=False)
    name, alpha = ("mobilenet", 0.25) if args.backbone == "mobilenet_0.25" else (args.backbone, None)
    weights = None if args.weights == "none" else "imagenet"
    started = time.perf_counter()
    data = ham10000.load(args.data, download=False, verbose=False)
    scanned = time.perf_counter()
    train, val, test = tlk.sampling.split(data.labels, (0.7, 0.15, 0.15), seed=0, groups=data.lesion_ids)
    backbone = tlk.backbones.load(name, profile="smoke", input_size=args.image_size, alpha=alpha, weights=weights)
    paths, sent = np.array(data.paths), 0
    for part, index in (("train", train), ("validation", val), ("test", test)):
        index = index[: args.feature_limit] if args.feature_limit else index
        entry = tlk.backbones.features(backbone, paths[index], data.labels[index], f"bench-{part}")
        sent += len(entry["features"])
    done = time.perf_counter()
    print(
        f"images {len(data)} (scan + check {scanned - started:.1f} s); backbone {backbone.label} at "
        f"{backbone.input_size} px, pretrained={backbone.pretrained}; {sent} images through it in "
        f"{done - scanned:.1f} s ({sent / (done - scanned):.1f} img/s incl. model build)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=299)
    parser.add_argument("--data", help="an existing HAM10000 folder in any layout (skips building one)")
    parser.add_argument("--backbone", default="inception_v3", choices=("inception_v3", "mobilenet_0.25"))
    parser.add_argument("--weights", default="imagenet", choices=("imagenet", "none"))
    parser.add_argument("--feature-limit", type=int, default=0, help="images per part sent through the backbone")
    parser.add_argument("--source", default="224", choices=sorted(SOURCES), help="mirror images to replicate")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        scratch = pathlib.Path(scratch)
        if args.data is None:
            mirror = os.environ.get("TLKERAS_MIRROR")
            if not mirror:
                sys.exit("set TLKERAS_MIRROR (the offline mirror's images are replicated) or pass --data DIR")
            args.data = str(build(scratch / "ham10000", args.images, pathlib.Path(mirror) / SOURCES[args.source]))
        command = [
            sys.executable,
            __file__,
            "--child",
            "--data",
            args.data,
            "--image-size",
            str(args.image_size),
            "--backbone",
            args.backbone,
            "--weights",
            args.weights,
            "--feature-limit",
            str(args.feature_limit),
        ]
        env = dict(os.environ, TLKERAS_CACHE=str(scratch / "cache"), TF_CPP_MIN_LOG_LEVEL="2")
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    print(f"peak_rss_mb={peak_mb:.0f} seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
