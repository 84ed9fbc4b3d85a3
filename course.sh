#!/usr/bin/env bash
# The course's one entry point. On a fresh Linux or macOS machine with Python 3.10-3.13 (Windows: use WSL2 or Colab):
#   bash course.sh run    [--profile smoke|cpu|full|auto] [--notebooks 01 02 ...] [--out build]
#   bash course.sh doctor [--profile ...] [--notebooks ...]   (where data and weights come from; no run)
#   bash course.sh test   [extra pytest arguments]
#   bash course.sh compat colab|lowest [extra pytest arguments]
# run/doctor/test create a virtual environment (.venv, or $TLKERAS_VENV), install tlkeras into it (run/doctor:
# with JupyterLab and the runner, the [lab] extra; test: also pytest, pytest-xdist, nbval and ruff, the [test]
# extra), point $TLKERAS_MIRROR at ../shared/data when that offline mirror sits beside the checkout, and run.
# compat runs the tests under other package versions, pinned by constraints/<name>.txt: `colab` (Colab's
# preinstalled versions: every notebook in the smoke profile) and `lowest` (the lowest versions pyproject.toml
# declares: the unit tests and notebooks 01 and 03). Its environment lives outside the checkout, in
# ~/.cache/tlkeras/venvs/<name>-<hash of the constraints and pyproject.toml> ($TLKERAS_COMPAT_HOME), is built
# once and reused by every later run and fresh clone; the checkout's tlkeras is imported from the checkout.
set -euo pipefail
cd "$(dirname "$0")"

usage="usage: bash course.sh run [runner options] | doctor [options] | test [pytest options] | compat colab|lowest [pytest options]"
command="${1:-}"
case "$command" in
  run|doctor) shift; extra=lab ;;
  test) shift; extra=test ;;
  compat)
    shift; extra=test; compat="${1:-}"
    [ -f "constraints/$compat.txt" ] || { echo "$usage" >&2; exit 2; }
    shift ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

# TensorFlow publishes wheels for CPython 3.10-3.13 only (TF 2.21); pip would otherwise fail minutes later.
check_python() {
  "$1" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null || {
    echo "tlkeras needs Python 3.10-3.13, for which TensorFlow publishes wheels (found: $("$1" --version 2>&1))." >&2
    echo "Set PYTHON=/path/to/python3.11 (for example from pyenv, uv or conda), or use Colab. On Windows use WSL2 or Colab." >&2
    exit 2; }
}

install() {  # install <python> <what> <pip arguments...>: say what and how big, then let pip show its progress
  local python="$1" what="$2"; shift 2
  echo "== installing $what"
  echo "   (about 150 packages; TensorFlow alone is a 600 MB download; the environment takes about 2.8 GB; a few minutes the first time)"
  "$python" -m pip install --upgrade --progress-bar on pip | grep -v "^Requirement already satisfied" || true
  "$python" -m pip install --progress-bar on "$@"
}

if [ "$command" = compat ]; then
  # The Python named on the constraints file's "# python: X.Y" line, when this machine has it.
  wanted="$(sed -n 's/^# python: *//p' "constraints/$compat.txt")"
  python="${PYTHON:-}"
  if [ -z "$python" ]; then  # python$wanted that runs (a pyenv shim may not), else pyenv's copy, else python3
    for candidate in "python$wanted" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$wanted".*/bin/"python$wanted" python3; do
      if "$candidate" -c "" 2>/dev/null; then python="$candidate"; break; fi
    done
  fi
  check_python "$python"
  found="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  [ "$found" = "$wanted" ] || echo "== note: constraints/$compat.txt names Python $wanted; python$wanted was not found, using $found" >&2
  # The environment changes with the constraints and with what pyproject.toml asks to install (not its other tables).
  spec='import json, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print(json.dumps([project.get(k) for k in ("requires-python", "dependencies", "optional-dependencies")]))'
  hash="$( { cat "constraints/$compat.txt"; "$python" -c "$spec" 2>/dev/null || python3 -c "$spec" 2>/dev/null \
    || cat pyproject.toml; } | sha256sum | cut -c1-12)"
  venv="${TLKERAS_COMPAT_HOME:-$HOME/.cache/tlkeras/venvs}/$compat-py$found-$hash"
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"; flock 9  # one build at a time; a second run waits, then reuses it
  if [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    echo "== creating $venv (Python $found)"
    "$python" -m venv "$venv"
    install "$venv/bin/python" "tlkeras[test]'s dependencies pinned by constraints/$compat.txt" -c "constraints/$compat.txt" ".[test]"
    # Keep the dependencies, drop the installed copy: the tests import tlkeras from this checkout (PYTHONPATH).
    "$venv/bin/python" -m pip uninstall --yes tlkeras
    touch "$venv/.complete"
  fi
  flock -u 9
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  echo "== $compat environment: $venv"
  "$venv/bin/python" -c 'import importlib.metadata as m, sys
print("   python", sys.version.split()[0], *(f"{n} {m.version(n)}" for n in ("tensorflow", "keras", "numpy", "tensorflow-datasets", "matplotlib", "scikit-learn", "pillow")))'
else
  python="${PYTHON:-python3}"
  check_python "$python"
  venv="${TLKERAS_VENV:-.venv}"
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating virtual environment $venv"
    "$python" -m venv "$venv"
  fi
  stamp="$venv/.tlkeras-installed-$extra"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    install "$venv/bin/python" "tlkeras[$extra] (editable) and its dependencies into $venv" -e ".[$extra]"
    touch "$stamp"
  fi
fi

if [ -z "${TLKERAS_MIRROR:-}" ] && [ -d ../shared/data ]; then
  export TLKERAS_MIRROR="$(cd ../shared/data && pwd)"
fi
echo "== offline mirror: ${TLKERAS_MIRROR:-none (data and weights are downloaded)}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"

pytest_in_workers() {
  export TLKERAS_PROFILE="${TLKERAS_PROFILE:-smoke}"
  # Two pytest-xdist workers, each notebook whole on one of them (--dist loadfile keeps a notebook's cells in
  # one kernel), in the order conftest.py gives: longest notebooks first, unit tests last. One small-model
  # TensorFlow process keeps only about one core busy; on 2 cores two workers took the suite from 21.4 to
  # 15.7 minutes before other trims (benchmarks/RESULTS.md, "test suite", has the current time).
  # TLKERAS_TEST_WORKERS=0 runs everything in one process; your own -n/--dist arguments come later and win.
  local workers="${TLKERAS_TEST_WORKERS:-2}" parallel=()
  if [ "$workers" != 0 ] && [ "$workers" != 1 ]; then parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder); fi
  exec "$venv/bin/python" -m pytest ${parallel[@]+"${parallel[@]}"} "$@"
}

case "$command" in
  run) exec "$venv/bin/python" -m tlkeras run "$@" ;;
  doctor) exec "$venv/bin/python" -m tlkeras doctor "$@" ;;
  test)
    echo "== ruff check and ruff format --check"
    "$venv/bin/ruff" check .
    "$venv/bin/ruff" format --check .
    pytest_in_workers "$@" ;;
  compat)
    case "$compat" in
      colab) targets=(notebooks) ;;  # every notebook, smoke profile
      # The unit tests and two notebooks. Not the browser test: it checks JupyterLab's interface, which `test` covers.
      lowest) targets=(tests --ignore=tests/browser notebooks/01_initialization.ipynb notebooks/03_fine_tuning.ipynb) ;;
      *) targets=(tests notebooks) ;;
    esac
    if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then targets=(); fi  # test paths of your own replace the defaults
    pytest_in_workers ${targets[@]+"${targets[@]}"} "$@" ;;
esac
