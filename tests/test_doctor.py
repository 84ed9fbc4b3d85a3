import nbformat
import pytest

from tests.test_data import make_fashion
from tlkeras import config, data, doctor, runner


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
    plans, chosen = doctor.needs(course / "01_demo.ipynb", "cpu")
    assert chosen["minutes"] == 9 and [plan.what for plan in plans] == ["Fashion-MNIST"]


def test_offline_machine_with_nothing_fails_with_the_fix(isolated, course, capsys):
    assert doctor.report("cpu", network=False, folder=course) == 1
    out = capsys.readouterr().out
    assert "01_demo: expected 9 min in cpu" in out
    assert "MISSING  Fashion-MNIST" in out and "apt-get install dataset-fashion-mnist" in out


def test_offline_setting_means_no_download_is_planned(isolated, course, capsys, monkeypatch):
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert doctor.report("cpu", network=True, folder=course) == 1
    assert (
        "MISSING  Fashion-MNIST: not on disk, and download: skipped ($TLKERAS_OFFLINE is set)"
        in capsys.readouterr().out
    )


def test_online_machine_plans_the_download(isolated, course, capsys):
    assert doctor.report("full", network=True, folder=course) == 0
    assert "download Fashion-MNIST (30 MB) from https://storage.googleapis.com" in capsys.readouterr().out


def test_local_copy_is_found(isolated, course, capsys):
    make_fashion(isolated / "home" / ".keras" / "datasets" / "fashion-mnist")
    assert doctor.report("smoke", network=False, folder=course) == 0
    assert "ok       Fashion-MNIST: Keras cache" in capsys.readouterr().out


def test_the_network_is_judged_by_the_origin_each_download_uses(isolated, course, serve, capsys, monkeypatch):
    url, _ = serve(isolated)
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, url)  # reachable, though the default origin may not be
    assert doctor.report("cpu", folder=course) == 0
    assert f"download Fashion-MNIST (30 MB) from {url}" in capsys.readouterr().out
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, "http://127.0.0.1:9/")  # nothing listens on the discard port
    assert doctor.report("cpu", folder=course) == 1
    assert "its server does not answer: http://127.0.0.1:9/" in capsys.readouterr().out


def test_behind_a_proxy_the_origin_counts_when_the_proxy_reaches_it(
    isolated, course, serve, proxy, capsys, monkeypatch
):
    origin = serve(isolated)[0].replace("127.0.0.1", "tlkeras-origin.test")  # a name only the proxy resolves
    monkeypatch.setenv(data.FASHION_ORIGIN_ENV, origin)
    assert doctor.report("cpu", folder=course) == 1  # no proxy: the name does not resolve
    monkeypatch.setenv("https_proxy", proxy[0])
    monkeypatch.setenv("http_proxy", proxy[0])
    assert doctor.report("cpu", folder=course) == 0
    assert f"download Fashion-MNIST (30 MB) from {origin}" in capsys.readouterr().out
    assert proxy[1] == [origin]  # the probe went through the proxy, to the server of the origin


@pytest.mark.parametrize("profile", config.PROFILES)
def test_the_table_matches_what_each_notebook_loads(isolated, profile):
    """NEEDS is written by hand: each notebook's planned loads must be the loaders its code calls."""
    calls = {"load_fashion_mnist(": "Fashion-MNIST", "load_cats_vs_dogs(": "cats_vs_dogs", "ham10000.load(": "HAM10000"}
    notebooks = runner.find_notebooks()
    assert sorted(doctor.NEEDS) == [path.name[:2] for path in notebooks]
    for path in notebooks:
        settings, code = doctor.notebook_settings(path)
        plans, _ = doctor.needs(path, profile)
        data_sets = {plan.what for plan in plans if not plan.what.startswith("ImageNet")}
        assert data_sets == {what for call, what in calls.items() if call in code}, path.name
        assert any(plan.what.startswith("ImageNet") for plan in plans) == ("backbone" in settings[profile]), path.name


@pytest.mark.slow
def test_every_course_notebook_can_run_from_the_mirror(mirror, capsys):
    assert doctor.report("smoke", network=False) == 0, capsys.readouterr().out
