"""Repository hygiene: clean notebooks, matching dependency lists, the README's two commands."""
import json
import pathlib
import re
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def stored_output_problems(path):
    """Why the committed notebook at `path` is not clean (empty list when it is)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
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
    dirty.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "1", "metadata": {},
                                            "outputs": [{"output_type": "stream", "text": "1"}],
                                            "execution_count": 3}]}))
    assert len(stored_output_problems(dirty)) == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_course_skeleton(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert re.match(r"\d\d_[a-z0-9_]+\.ipynb$", path.name)
    first = "".join(notebook["cells"][0]["source"])
    assert first.startswith("# ") and "colab.research.google.com/github/" in first and path.name in first
    tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "tlk.setup(seed=" in code and "import tlkeras as tlk" in code
    assert "import *" not in code


def _names(requirements):
    return {re.split(r"[<>=!~ \[;]", item.strip(), maxsplit=1)[0].lower() for item in requirements if item.strip()}


def test_pyproject_and_environment_yml_agree():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = _names(pyproject["project"]["dependencies"])
    text = (ROOT / "environment.yml").read_text()
    pip_block = re.search(r"- pip:\n((?:\s+- .+\n?)+)", text)
    assert pip_block, "environment.yml needs a pip: section"
    listed = _names(line.strip()[2:] for line in pip_block.group(1).splitlines())
    assert declared == listed
    assert re.search(r"- python=3\.11", text)


def test_readme_gives_the_two_commands_and_ci_uses_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "bash course.sh run" in readme and "bash course.sh test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash course.sh test" in ci
