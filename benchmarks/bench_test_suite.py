"""Time `bash course.sh test` (ruff, unit tests, every notebook in smoke) against the 15-minute target.

    python benchmarks/bench_test_suite.py                 # two xdist workers, the course.sh default
    python benchmarks/bench_test_suite.py --workers 0 2   # also one process, for comparison

Each run is the user's test command with TLKERAS_TEST_WORKERS set; the script records its wall time, the
CPU time of everything it started, the load average before and after, and pytest's summary line, and
writes the "test_suite" section of benchmarks/RESULTS.md. Run it on an otherwise idle machine: the
target is about an idle 2-core machine, and other jobs inflate the wall time.
"""

import argparse
import datetime
import os
import pathlib
import platform
import re
import resource
import subprocess
import sys
import time

from results_file import write_section

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET_MINUTES = 15


def run_suite(workers, extra):
    """Run the test command once; return a dict of what was measured."""
    env = dict(os.environ, TLKERAS_TEST_WORKERS=str(workers))
    before_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    completed = subprocess.run(
        ["bash", "course.sh", "test", "-q", "-p", "no:cacheprovider", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = [line for line in completed.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return {
        "workers": workers,
        "returncode": completed.returncode,
        "wall_minutes": wall / 60,
        "cpu_minutes": (after_cpu.ru_utime + after_cpu.ru_stime - before_cpu.ru_utime - before_cpu.ru_stime) / 60,
        "load": (load_before, os.getloadavg()[0]),
        "summary": summary[-1].strip("= ") if summary else completed.stdout[-300:],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="TLKERAS_TEST_WORKERS values to time")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    runs = []
    for workers in args.workers:
        print(f"timing bash course.sh test with TLKERAS_TEST_WORKERS={workers} ...", flush=True)
        runs.append(run_suite(workers, args.pytest_args))
        print(runs[-1], flush=True)
    rows = "\n".join(
        f"| {r['workers'] or 1} | {r['wall_minutes']:.1f} | {r['cpu_minutes']:.1f} | "
        f"{r['cpu_minutes'] / r['wall_minutes']:.2f} | {r['load'][0]:.1f} / {r['load'][1]:.1f} | "
        f"{'yes' if r['wall_minutes'] <= TARGET_MINUTES and r['returncode'] == 0 else 'NO'} | {r['summary']} |"
        for r in runs
    )
    body = f"""## Test suite: `bash course.sh test` against the {TARGET_MINUTES}-minute target

Measured on {datetime.date.today().isoformat()} on {platform.machine()} with {os.cpu_count()} CPU cores
(Python {platform.python_version()}), with the virtual environment already installed (a first run adds the
install, a few minutes). CPU minutes count every process the command started; cores busy = CPU / wall.

| processes | wall minutes | CPU minutes | cores busy | load before / after | within target | pytest |
|---|---|---|---|---|---|---|
{rows}

Regenerate: `python benchmarks/bench_test_suite.py --workers 2` (add `0` to time one process too)."""
    write_section("test_suite", body)
    print(body)
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
