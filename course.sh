#!/usr/bin/env bash
# The course's one entry point. On a fresh Linux or macOS machine with Python >= 3.10:
#   bash course.sh run    [--profile smoke|cpu|full|auto] [--notebooks 01 02 ...] [--out build]
#   bash course.sh doctor [--profile ...] [--notebooks ...]   (where data and weights come from; no run)
#   bash course.sh test   [extra pytest arguments]
# Each creates a virtual environment (.venv, or $TLKERAS_VENV), installs tlkeras into it (run/doctor: with
# JupyterLab and the runner, the [lab] extra; test: also pytest, pytest-xdist, nbval and ruff, the [test]
# extra), points $TLKERAS_MIRROR at ../shared/data when that offline mirror sits beside the checkout, and runs.
set -euo pipefail
cd "$(dirname "$0")"

command="${1:-}"
case "$command" in
  run|doctor) shift; extra=lab ;;
  test) shift; extra=test ;;
  *) echo "usage: bash course.sh run [runner options] | bash course.sh doctor | bash course.sh test [pytest options]" >&2; exit 2 ;;
esac

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "tlkeras needs Python >= 3.10 (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 2; }

venv="${TLKERAS_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.tlkeras-installed-$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing tlkeras[$extra] and its dependencies (TensorFlow is large: a few minutes the first time)"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e ".[$extra]"
  touch "$stamp"
fi

if [ -z "${TLKERAS_MIRROR:-}" ] && [ -d ../shared/data ]; then
  export TLKERAS_MIRROR="$(cd ../shared/data && pwd)"
fi
echo "== offline mirror: ${TLKERAS_MIRROR:-none (data and weights are downloaded)}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"

case "$command" in
  run) exec "$venv/bin/python" -m tlkeras run "$@" ;;
  doctor) exec "$venv/bin/python" -m tlkeras doctor "$@" ;;
  test)
    echo "== ruff check and ruff format --check"
    "$venv/bin/ruff" check .
    "$venv/bin/ruff" format --check .
    export TLKERAS_PROFILE="${TLKERAS_PROFILE:-smoke}"
    # Two pytest-xdist workers, each notebook whole on one of them (--dist loadfile keeps a notebook's cells in
    # one kernel), in the order conftest.py gives: longest notebooks first, unit tests last. One small-model
    # TensorFlow process keeps only about one core busy; on 2 cores two workers took the suite from 21.4 to
    # 15.7 minutes before other trims (benchmarks/RESULTS.md, "test suite", has the current time).
    # TLKERAS_TEST_WORKERS=0 runs everything in one process; your own -n/--dist arguments come later and win.
    workers="${TLKERAS_TEST_WORKERS:-2}"
    parallel=()
    if [ "$workers" != 0 ] && [ "$workers" != 1 ]; then parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder); fi
    exec "$venv/bin/python" -m pytest ${parallel[@]+"${parallel[@]}"} "$@" ;;
esac
