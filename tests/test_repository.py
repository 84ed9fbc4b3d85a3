"""Repository hygiene: clean notebooks, the course skeleton, declared dependencies, the README's commands."""

import pathlib
import re

import nbformat
import pytest

from tlkeras import runner

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(path):
    """{name: version} of the ``name==version`` lines of a constraints file (names lower-cased, "_" -> "-")."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


# What Colab's GPU runtime has preinstalled (constraints/colab.txt, from googlecolab/backend-info): runtime lower
# bounds must not exceed it, so installing tlkeras on Colab upgrades nothing big.
COLAB = pins(ROOT / "constraints" / "colab.txt")
DEV_ONLY = {"jupyterlab", "nbval", "pytest", "nbclient", "nbconvert", "nbformat", "ruff", "ipykernel", "psutil"}


def stored_output_problems(path):
    """Why the committed notebook at `path` is not clean (empty list when it is)."""
    problems = []
    for index, cell in enumerate(runner.read(path).cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has stored outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has an execution count")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path):
    assert stored_output_problems(path) == []


def test_the_check_catches_a_dirty_notebook(tmp_path):
    dirty = tmp_path / "dirty.ipynb"
    cell = nbformat.v4.new_code_cell("1", execution_count=3, outputs=[nbformat.v4.new_output("stream", text="1")])
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), cell]), dirty)
    assert stored_output_problems(dirty) == ["cell 1 has stored outputs", "cell 1 has an execution count"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_course_skeleton(path):
    assert re.match(r"\d\d_[a-z0-9_]+\.ipynb$", path.name)
    notebook = runner.read(path)
    first = notebook.cells[0].source
    assert first.startswith("# ") and "colab.research.google.com/github/" in first and path.name in first
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "PROFILE" in runner.parameters(notebook)  # literals only (else ValueError): the runner overrides them
    code = "\n".join(runner.code_sources(notebook))
    assert "tlk.setup(seed=" in code and "import tlkeras as tlk" in code and "import *" not in code
    assert "tlk.config.choose(PROFILE" in code
    last = [c.source for c in notebook.cells if c.cell_type == "markdown"][-1]
    assert re.search(r"^#+ References", last, re.M), "the last markdown cell is the References section"


def test_no_learner_facing_text_mentions_the_internal_notes():
    pattern = re.compile(r"seed 00[0-4]|seeds'", re.I)
    files = list(NOTEBOOKS) + list((ROOT / "tlkeras").glob("*.py")) + [ROOT / "README.md"]
    hits = [f"{p.name}: {m.group(0)}" for p in files for m in pattern.finditer(p.read_text(encoding="utf-8"))]
    assert hits == []


def test_the_keras_lesson_is_visible_in_the_notebooks():
    def compiles(stem):
        path = next(p for p in NOTEBOOKS if p.name.startswith(stem))
        return sum(source.count(".compile(") for source in runner.code_sources(runner.read(path)))

    assert compiles("02") >= 1 and compiles("03") >= 3


def _requirements(items):
    found = {}
    for item in items:
        name = re.split(r"[<>=!~ \[;]", item.strip(), maxsplit=1)[0].lower()
        bound = re.search(r">=\s*([\d.]+)", item)
        found[name] = bound.group(1) if bound else None
    return found


def _version(text):
    return tuple(int(part) for part in text.split("."))


def test_runtime_dependencies_are_what_the_notebooks_import_and_fit_colab():
    runtime = {
        name.replace("_", "-"): bound for name, bound in _requirements(PYPROJECT["project"]["dependencies"]).items()
    }
    assert not set(runtime) & DEV_ONLY, "tools for developers belong in the [lab]/[test] extras"
    assert set(runtime) <= set(COLAB), "constraints/colab.txt pins every runtime dependency"
    too_new = {name: bound for name, bound in runtime.items() if bound and _version(bound) > _version(COLAB[name])}
    assert too_new == {}, "a lower bound above Colab's preinstalled version makes pip upgrade it"
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"jupyterlab", "nbclient", "nbconvert"} <= set(_requirements(extras["lab"]))
    assert {"pytest", "nbval", "ruff"} <= set(_requirements(extras["test"]))


def test_environment_yml_installs_the_same_packages():
    declared = set(_requirements(PYPROJECT["project"]["dependencies"]))
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        declared |= set(_requirements(extra)) - {"tlkeras"}
    text = (ROOT / "environment.yml").read_text()
    pip_block = re.search(r"- pip:\n((?:\s+- .+\n?)+)", text)
    assert pip_block, "environment.yml needs a pip: section"
    listed = set(_requirements(line.strip()[2:] for line in pip_block.group(1).splitlines()))
    assert declared == listed
    assert re.search(r"- python=3\.11", text)


def test_readme_gives_the_commands_and_ci_uses_the_test_one():
    readme = (ROOT / "README.md").read_text()
    for command in ("bash course.sh run", "bash course.sh test", "python -m tlkeras doctor"):
        assert command in readme
    assert "bash course.sh test" in (ROOT / ".ci" / "run").read_text()
    course = (ROOT / "course.sh").read_text()
    assert "ruff check" in course and "ruff format --check" in course


def test_lowest_constraints_are_the_declared_lower_bounds():
    runtime = {
        name.replace("_", "-"): bound for name, bound in _requirements(PYPROJECT["project"]["dependencies"]).items()
    }
    lowest = pins(ROOT / "constraints" / "lowest.txt")
    assert set(lowest) == set(runtime)
    # the pin is the bound itself, or its first release when the bound names none (tensorflow 2.16 -> 2.16.1)
    drift = {
        name: (bound, lowest[name])
        for name, bound in runtime.items()
        if _version(lowest[name])[: len(_version(bound))] != _version(bound)
    }
    assert drift == {}
    python = re.search(r"^# python: (\S+)", (ROOT / "constraints" / "lowest.txt").read_text(), re.M).group(1)
    assert PYPROJECT["project"]["requires-python"] == f">={python}"


def test_readme_module_table_matches_the_package():
    """README's "The package" table lists every module of tlkeras/ with its current line count."""
    rows = re.findall(r"^\| `tlk\.(\w+)` \| (\d+) \|", (ROOT / "README.md").read_text(), flags=re.M)
    listed = {name: int(lines) for name, lines in rows}
    actual = {
        path.stem: len(path.read_text().splitlines())
        for path in (ROOT / "tlkeras").glob("*.py")
        if not path.stem.startswith("_")
    }
    assert listed == actual, "update the README's module table (module: lines)"
