import nbformat
import pytest

from tests.test_data import make_fashion
from tlkeras import doctor


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            'import sys\nif "google.colab" in sys.modules:\n    %pip install -q tlkeras\nimport tlkeras as tlk'
        ),
        nbformat.v4.new_code_cell('PROFILE = "auto"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "P = tlk.config.choose(PROFILE, smoke=dict(minutes=2, epochs=1), "
            "cpu=dict(minutes=9, epochs=2), full=dict(minutes=14, epochs=30))"
        ),
        nbformat.v4.new_code_cell("(x, y), _ = tlk.data.load_fashion_mnist()"),
    ]
    nbformat.write(notebook, folder / "01_demo.ipynb")
    return folder


def test_settings_are_read_from_the_notebook(course):
    settings, code = doctor.notebook_settings(course / "01_demo.ipynb")
    assert settings == {
        "smoke": {"minutes": 2, "epochs": 1},
        "cpu": {"minutes": 9, "epochs": 2},
        "full": {"minutes": 14, "epochs": 30},
    }
    sources, chosen = doctor.needs(course / "01_demo.ipynb", "cpu")
    assert chosen["minutes"] == 9 and [s.what for s in sources] == ["Fashion-MNIST"]


def test_offline_machine_with_nothing_fails_with_the_fix(isolated, course, capsys):
    assert doctor.report("cpu", network=False, folder=course) == 1
    out = capsys.readouterr().out
    assert "01_demo: expected 9 min in cpu" in out
    assert "MISSING  Fashion-MNIST" in out and "apt-get install dataset-fashion-mnist" in out


def test_online_machine_plans_the_download(isolated, course, capsys):
    assert doctor.report("full", network=True, folder=course) == 0
    assert "download Fashion-MNIST (30 MB) from https://storage.googleapis.com" in capsys.readouterr().out


def test_local_copy_is_found(isolated, course, capsys):
    make_fashion(isolated / "home" / ".keras" / "datasets" / "fashion-mnist")
    assert doctor.report("smoke", network=False, folder=course) == 0
    assert "ok       Fashion-MNIST: Keras cache" in capsys.readouterr().out


@pytest.mark.slow
def test_every_course_notebook_can_run_from_the_mirror(mirror, capsys):
    assert doctor.report("smoke", network=False) == 0, capsys.readouterr().out
