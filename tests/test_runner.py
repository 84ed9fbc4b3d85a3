import json
import os
import pathlib
import shutil
import subprocess
import sys

import nbformat
import pytest

import tlkeras
from tlkeras import config, runner
from tlkeras.__main__ import main

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def write_notebook(folder, name, sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(source)
        if isinstance(source, str)
        else nbformat.v4.new_code_cell(source[0], metadata={"tags": source[1]})
        for source in sources
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / name)


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(
        folder,
        "01_ok.ipynb",
        [
            "import os, tlkeras as tlk",
            ("PROFILE = 'auto'", ["parameters"]),
            "tlk.record('demo/answer', 42)\ntlk.record('demo/profile', tlk.config.resolve_profile(PROFILE))\n"
            "big = bytearray(300 * 2**20)",
        ],
    )
    write_notebook(folder, "02_broken.ipynb", ["import tlkeras as tlk\ntlk.record('demo/before', 1.5)", "1 / 0"])
    return folder


def test_find_notebooks_by_prefix_and_errors(course):
    assert [p.name for p in runner.find_notebooks(["02"], course)] == ["02_broken.ipynb"]
    assert len(runner.find_notebooks(None, course)) == 2
    with pytest.raises(ValueError, match="available: 01_ok, 02_broken"):
        runner.find_notebooks(["07"], course)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no course notebooks"):
        runner.find_notebooks(None, tmp_path)


@pytest.mark.slow
def test_run_writes_executed_notebooks_html_and_results(course, tmp_path, monkeypatch):
    out = tmp_path / "build"
    monkeypatch.delenv("TLKERAS_PROFILE", raising=False)
    monkeypatch.delenv("TLKERAS_RESULTS", raising=False)
    code = runner.run(profile="smoke", notebooks=None, out=str(out), folder=course)
    # the settings reach the kernels only: this process (and later tests) must not inherit them
    assert "TLKERAS_PROFILE" not in os.environ and "TLKERAS_RESULTS" not in os.environ
    assert code == 1  # the broken notebook fails the run ...
    summary = json.loads((out / "results.json").read_text())
    assert summary["demo/answer"] == 42 and summary["demo/profile"] == "smoke"
    assert summary["demo/before"] == 1.5  # ... but what it recorded before failing is kept
    statuses = {stem: info["status"] for stem, info in summary["_run"]["notebooks"].items()}
    first = summary["_run"]["notebooks"]["01_ok"]
    assert 300 < first["peak_rss_mb"] < 2000, "the kernel's 300 MB buffer shows in its peak memory"
    assert first["seconds"] > 0 and "peak memory (MB)" in (out / "results.md").read_text()
    assert statuses == {"01_ok": "ok", "02_broken": "failed"}
    assert "ZeroDivisionError" in summary["_run"]["notebooks"]["02_broken"]["error"]
    executed = nbformat.read(out / "01_ok.ipynb", as_version=4)
    assert (
        executed.cells[2].metadata["tags"] == ["injected-parameters"]
        and "PROFILE = 'smoke'" in executed.cells[2].source
    )
    assert executed.cells[3].outputs, "the executed copy keeps its outputs"
    assert (out / "01_ok.html").read_text().lstrip().lower().startswith("<!doctype html>")
    markdown = (out / "results.md").read_text()
    assert "`demo/answer` | 42" in markdown and "failed" in markdown


@pytest.mark.parametrize("command", ["run", "doctor"])
def test_cli_rejects_unknown_notebook_before_running_anything(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--notebooks", "99"])
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and "no notebook matches '99'" in err
    assert out == ""  # neither the doctor's table nor the runner's banner: the name was checked first


def test_cli_rejects_an_unknown_profile_with_the_config_choices(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["doctor", "--profile", "gpu"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "invalid choice: 'gpu'" in err
    assert all(f"'{name}'" in err for name in (*config.PROFILES, "auto"))


def test_cli_version_is_the_package_version():  # also runs `python -m tlkeras` itself
    result = subprocess.run([sys.executable, "-m", "tlkeras", "--version"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == f"tlkeras {tlkeras.__version__}"


def test_a_runtime_only_install_names_the_extra_to_install():
    # as after `pip install tlkeras` without [lab]: the runner's packages cannot be imported
    code = (
        "import sys\nsys.modules['nbformat'] = None\nfrom tlkeras.__main__ import main\n"
        "sys.exit(main(['run', '--notebooks', '01']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert 'nbformat is not installed): pip install "tlkeras[lab]"' in result.stderr


def test_cli_takes_a_notebook_folder(course, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["run", "--folder", str(course), "--notebooks", "03"])
    assert exit.value.code == 2 and "available: 01_ok, 02_broken" in capsys.readouterr().err


def test_an_installed_copy_finds_the_notebooks_it_ships(tmp_path):
    # Lay the package out as its wheel does (pyproject: notebooks/ -> tlkeras/notebooks) away from any checkout.
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"tlkeras.notebooks": "notebooks"}
    assert setuptools["package-data"]["tlkeras.notebooks"] == ["*.ipynb"]
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "tlkeras", site / "tlkeras", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", site / "tlkeras" / "notebooks", ignore=shutil.ignore_patterns(".*"))
    code = (
        f"import sys\nsys.path.insert(0, {str(site)!r})\nimport tlkeras\nprint(tlkeras.__file__)\n"
        "from tlkeras.__main__ import main\nsys.exit(main(['run', '--notebooks', '99']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.stdout.strip() == str(site / "tlkeras" / "__init__.py")
    shipped = ", ".join(p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    assert result.returncode == 2 and f"available: {shipped}" in result.stderr


def test_injection_follows_the_parameters_cell_or_goes_first():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import x"),
        nbformat.v4.new_code_cell("PROFILE = 'auto'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("use(PROFILE)"),
    ]
    runner.inject_parameters(notebook, PROFILE="cpu")
    assert [c.source.splitlines()[-1] for c in notebook.cells] == [
        "import x",
        "PROFILE = 'auto'",
        "PROFILE = 'cpu'",
        "use(PROFILE)",
    ]
    with pytest.raises(ValueError, match="does not set SEED"):  # an injected name must be a parameter
        runner.inject_parameters(notebook, SEED=1)
    bare = nbformat.v4.new_notebook()
    bare.cells = [nbformat.v4.new_code_cell("print(1)")]
    runner.inject_parameters(bare, PROFILE="full")
    assert bare.cells[0].metadata["tags"] == ["injected-parameters"]


def test_parameters_are_the_literals_of_the_tagged_cell():
    def notebook(source):
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})])

    assert runner.parameters(notebook('"""doc"""\nPROFILE = "auto"  # note\nSIZES = (1, 2)')) == {
        "PROFILE": "auto",
        "SIZES": (1, 2),
    }
    assert runner.parameters(nbformat.v4.new_notebook()) == {}
    with pytest.raises(ValueError, match="line 2: tlk.config.choose\\(PROFILE\\) is not a literal"):
        runner.parameters(notebook('PROFILE = "auto"\nP = tlk.config.choose(PROFILE)'))
    with pytest.raises(ValueError, match="line 1: not an assignment to one name"):
        runner.parameters(notebook("print(1)"))


def test_read_gives_the_code_cells_in_order(course):
    notebook = runner.read(course / "01_ok.ipynb")
    assert runner.code_sources(notebook)[:2] == ["import os, tlkeras as tlk", "PROFILE = 'auto'"]


@pytest.mark.slow
def test_relative_out_folder_collects_results(course, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.run(profile="smoke", notebooks=["01"], out="relative-build", folder=course) == 0
    summary = json.loads((tmp_path / "relative-build" / "results.json").read_text())
    assert summary["demo/answer"] == 42
    assert not (course / "relative-build").exists()
