"""The Colab route: the badge asks for a GPU runtime, the Setup cell installs the release that matches the package,
works outside Colab, and KEEP_ON_DRIVE keeps caches on Google Drive (tools/colab_notebooks.py writes all of it)."""

import json
import os
import pathlib
import re
import sys
import types

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import tlkeras
from tlkeras import config

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TAG = f"v{tlkeras.__version__}"


def code_cells(path):
    return [
        "".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"
    ]


def setup_cell(path):
    (cell,) = [source for source in code_cells(path) if "google.colab" in source]
    return cell


def test_the_package_version_is_the_one_pyproject_declares():
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == tlkeras.__version__


def test_all_six_notebooks_are_checked():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_badge_opens_a_gpu_runtime(path):
    metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert metadata.get("accelerator") == "GPU"
    assert metadata.get("colab", {}).get("gpuType") == "T4"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_installs_the_release_tag_of_this_version(path):
    installs = re.findall(r"%pip install .*tlkeras.*", setup_cell(path))
    assert len(installs) == 1 and installs[0].rstrip('"').endswith(f"@{TAG}"), installs
    title = json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]
    badges = re.findall(r"colab\.research\.google\.com/github/[^)]+", "".join(title))
    assert badges == [f"colab.research.google.com/github/tlkeras-course/tlkeras/blob/{TAG}/notebooks/{path.name}"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_keep_on_drive_is_a_parameter_the_settings_use(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    (parameters,) = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert re.search(r"^KEEP_ON_DRIVE = False\b", "".join(parameters["source"]), re.M)
    settings = [s for s in code_cells(path) if "tlk.config.choose(PROFILE" in s]
    assert len(settings) == 1 and "tlk.config.use_drive(KEEP_ON_DRIVE)" in settings[0]
    assert settings[0].index("use_drive") < settings[0].index("choose(")


def _install_block(path):
    """The Setup cell up to its own `import tlkeras` check, as IPython would run it (magics become calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    source = setup_cell(path)
    end = source.index("    raise\n") + len("    raise\n")
    return TransformerManager().transform_cell(source[:end])


class FakeIPython:
    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line, *_):
        self.magics.append(f"%{name} {line}")


def test_on_colab_the_setup_cell_installs_the_pinned_release(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    shell = FakeIPython()
    exec(_install_block(NOTEBOOKS[0]), {"get_ipython": lambda: shell})
    assert shell.magics == [f'%pip install "tlkeras @ git+https://github.com/tlkeras-course/tlkeras@{TAG}"']


def test_outside_colab_a_missing_package_prints_the_one_line_fix(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setitem(sys.modules, "tlkeras", None)  # as if it were not installed
    shell = FakeIPython()
    with pytest.raises(ImportError):
        exec(_install_block(NOTEBOOKS[0]), {"get_ipython": lambda: shell})
    assert (
        shell.magics == []
        and f'pip install "tlkeras[lab] @ git+https://github.com/tlkeras-course/tlkeras@{TAG}"'
        in capsys.readouterr().out
    )


def test_use_drive_does_nothing_unless_asked_and_on_colab(monkeypatch, capsys):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    assert config.use_drive(False) is None
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not on Colab: google.colab cannot be imported
    assert config.use_drive(True) is None and "only applies on Colab" in capsys.readouterr().out
    assert "KERAS_HOME" not in os.environ


def test_use_drive_mounts_drive_and_points_every_cache_there(monkeypatch, tmp_path):
    for variable in ("KERAS_HOME", "TFDS_DATA_DIR", config.CACHE_ENV):
        monkeypatch.delenv(variable, raising=False)
    mounted = []
    root = config.use_drive(True, folder=tmp_path / "MyDrive" / "tlkeras", mount=mounted.append)
    assert mounted == ["/content/drive"] and root == tmp_path / "MyDrive" / "tlkeras"
    assert os.environ["KERAS_HOME"] == str(root / "keras") and os.environ["TFDS_DATA_DIR"] == str(
        root / "tensorflow_datasets"
    )
    assert config.cache_dir("features") == root / "cache" / "features"
