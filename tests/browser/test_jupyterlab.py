"""JupyterLab in a real browser: a learner opens a notebook, runs all cells, and sees figures, no errors.

The notebook tests (nbval) and the runner (nbclient) execute notebooks without the interface. This test does
what a learner does: it starts ``jupyter lab`` from the virtual environment, opens notebooks through the file
browser of Debian's Chromium (driven by Playwright), chooses *Run > Run All Cells*, waits until every cell has
finished, and reads the rendered page. It serves a temporary copy of ``notebooks/`` (JupyterLab autosaves about
every two minutes, so outputs must never be written into the repository), in the smoke profile with the offline
mirror. Screenshots land in ``build/browser/``.

Run it alone with ``bash course.sh test tests/browser -v`` (or ``-m browser``). It needs Chromium
(``apt-get install chromium``) and Playwright (the ``[test]`` extra); ``playwright install`` is not needed,
because Playwright drives the system browser. Without them it skips, except in CI (``CI=true``), where it fails.
``TLKERAS_BROWSER_BREAK=1`` appends a ``raise`` to the last code cell of each copied notebook, to see the
failure message a broken notebook gives.
"""

import ast
import importlib.util
import io
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tlkeras import config, doctor

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
# Notebook 01 and the quicker image notebook in smoke (02: about 2 minutes, 05: about 3).
NOTEBOOKS = ["01_initialization.ipynb", "02_feature_extraction.ipynb"]
# Expected minutes (read by the repository's conftest.py to order this file among the notebooks): the notebooks'
# own smoke minutes plus about one for the server, the browser and the kernels' start.
SUITE_MINUTES = 1 + sum(
    float(doctor.notebook_settings(ROOT / "notebooks" / name)[0].get("smoke", {}).get("minutes") or 0)
    for name in NOTEBOOKS
)
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
INSTALL = (
    "install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`) and Playwright "
    "(`pip install -e '.[test]'`; no `playwright install` needed), then rerun `bash course.sh test tests/browser`"
)
BREAK_ENV = "TLKERAS_BROWSER_BREAK"
NOTEBOOK_TIMEOUT_S = 30 * 60  # a whole notebook on a loaded 2-core machine; the smoke budget is a few minutes
SETTINGS = {  # JupyterLab user settings for the test server: no news or update toasts over the page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False}
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _unavailable(reason):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; in CI the browser test must run: {INSTALL}")
    pytest.skip(f"{reason}: {INSTALL}")


def chromium_executable():
    """The system Chromium this test can drive, or None."""
    found = [shutil.which(name) for name in ("chromium", "chromium-browser")]
    return next((path for path in [*CHROMIUM, *found] if path and os.access(path, os.X_OK)), None)


def can_run():
    """Whether Chromium and Playwright are both here (the repository's conftest.py then lets this test stand in
    for the nbval run of the same notebooks)."""
    return chromium_executable() is not None and importlib.util.find_spec("playwright") is not None


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    executable = chromium_executable()
    if executable is None:
        _unavailable(f"no Chromium at {' or '.join(CHROMIUM)}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    # Chromium refuses to start as root with its sandbox on (CI containers run as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        yield chromium
        chromium.close()


class Lab:
    """A running ``jupyter lab`` server: its URL, token, served folder and process."""

    def __init__(self, url, token, folder, process):
        self.url, self.token, self.folder, self.process = url, token, folder, process

    def api(self, path, method="GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _break_last_cell(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    last = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"][-1]
    last["source"] = (
        "".join(last["source"]) + f'\nraise RuntimeError("{BREAK_ENV} is set: a deliberately broken last cell")'
    )
    path.write_text(json.dumps(notebook), encoding="utf-8")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`jupyter lab` from this environment on a free port with a random token, serving a copy of notebooks/."""
    base = tmp_path_factory.mktemp("jupyterlab")
    folder = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if os.environ.get(BREAK_ENV):
        for name in NOTEBOOKS:
            _break_last_cell(folder / name)
    for name, values in SETTINGS.items():
        target = base / "settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    env = dict(os.environ, TLKERAS_PROFILE="smoke", JUPYTERLAB_SETTINGS_DIR=str(base / "settings"))
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(base / "workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    if config.mirror_dir() is not None:
        env[config.MIRROR_ENV] = str(config.mirror_dir())
    port, token = _free_port(), secrets.token_hex(24)
    # The README's command, `.venv/bin/jupyter lab notebooks/`, from the environment running the tests.
    jupyter = pathlib.Path(sys.executable).with_name("jupyter")
    command = [str(jupyter), "lab", str(folder), "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
    command += ["--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--allow-root"]
    command += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = (base / "server.log").open("w")
    process = subprocess.Popen(command, env=env, cwd=base, stdout=log, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}", token, folder, process)
    deadline = time.monotonic() + 120
    while True:
        try:
            server.api("status")
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"jupyter lab did not start:\n{(base / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield server
    _shutdown(server)
    log.close()


def _shutdown(server):
    """Stop the server through its API and check that it and its kernels are gone."""
    import psutil

    children = psutil.Process(server.process.pid).children(recursive=True)
    try:
        server.api("shutdown", method="POST")
        server.process.wait(timeout=60)
    except (urllib.error.URLError, subprocess.TimeoutExpired):
        server.process.kill()
        server.process.wait()
        pytest.fail("jupyter lab did not shut down within 60 s of POST /api/shutdown")
    _, alive = psutil.wait_procs(children, timeout=30)
    for process in alive:
        process.kill()
    assert not alive, f"kernels left running after the server shut down: {[p.pid for p in alive]}"


# ---------------------------------------------------------------------------------------------------------------
# The page: open a notebook from the file browser, run all cells from the menu, read what is rendered.

CURRENT_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
READ_CELLS = """panel => Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell')).map(cell => ({
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(output => ({
        mime: output.getAttribute('data-mime-type') || '',
        text: output.textContent || '',
        images: output.querySelectorAll('img').length,
    })),
}))"""

KERNEL_READY = """() => {
    const text = document.querySelector('#jp-main-statusbar')?.textContent ?? '';
    return text.includes('Idle') && !['No Kernel', 'Connecting', 'Initializing', 'Starting'].some(s => text.includes(s));
}"""


def open_notebook(page, server, name):
    """Open JupyterLab, double-click `name` in the file browser and wait for an idle kernel; return the panel."""
    # A workspace of its own, so the page does not restore the tabs another test left open.
    page.goto(f"{server.url}/lab/workspaces/{pathlib.Path(name).stem}?token={server.token}")
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=120_000)
    page.locator(f'.jp-DirListing-itemText span:text-is("{name}")').dblclick(timeout=60_000)
    panel = page.locator(CURRENT_NOTEBOOK)
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    # The kernel must have started: Run All sent before that is dropped (galata waits the same way, jupyterlab#15420).
    page.wait_for_function(KERNEL_READY, timeout=120_000)
    return panel


def run_all_cells(page, panel, timeout_s=NOTEBOOK_TIMEOUT_S):
    """Run > Run All Cells, then wait until no cell is queued or running and the kernel is idle."""
    page.locator('li:has(div.lm-MenuBar-itemLabel:text-is("Run"))').click()
    page.locator('.lm-Menu.lm-MenuBar-menu li:has(div.lm-Menu-itemLabel:text-is("Run All Cells"))').click()
    started = time.monotonic()
    # Run All starts with the first code cell: once it has a number, the run is under way (or over).
    first = panel.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").first
    page.wait_for_function("node => /\\[\\d+\\]/.test(node.textContent)", arg=first.element_handle(), timeout=120_000)
    while True:
        busy = panel.locator('.jp-InputArea-prompt:text-is("[*]:")').count()
        status = panel.locator(".jp-Notebook-ExecutionIndicator").get_attribute("data-status")
        if busy == 0 and status == "idle":
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{busy} cells still queued or running after {timeout_s} s (kernel {status})")
        time.sleep(2)


def read_cells(panel):
    """Every cell of the open notebook as rendered: is it code, its prompt, and each output's type, text, images."""
    return panel.evaluate(READ_CELLS)


def _is_error(output):
    # Errors and stderr share a renderer; an IPython traceback names the cell ("Cell In[3], line 1") or says
    # "Traceback", which warnings on stderr do not.
    return output["mime"] == "application/vnd.jupyter.stderr" and (
        "Traceback (most recent call last)" in output["text"] or "Cell In[" in output["text"]
    )


def _last_print_text(source):
    """The longest literal piece of the last print(...) call in `source` (what its output must show)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
    if not calls or not calls[-1].args:
        return ""
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    first = calls[-1].args[0]
    parts = first.values if isinstance(first, ast.JoinedStr) else [first]
    literals = [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]
    return max(literals, key=len, default="").strip()


def check_rendered(cells, sources, expect=()):
    """Assert what a learner must see after Run All: no error, every code cell run, figures, `expect` texts.

    `cells` is what `read_cells` returns, `sources` the cells' sources from the notebook file (same order).
    """
    assert len(cells) == len(sources), f"the page shows {len(cells)} cells, the notebook has {len(sources)}"
    for index, (cell, source) in enumerate(zip(cells, sources)):
        errors = [output["text"] for output in cell["outputs"] if _is_error(output)]
        if errors:
            lines = [line for line in errors[0].strip().splitlines() if line.strip()]
            head = "\n    ".join(source.strip().splitlines()[:3])
            raise AssertionError(
                f"cell {index} ({cell['prompt'].strip()}) shows an error:\n{chr(10).join(lines[-4:])}\n"
                f"its source begins:\n    {head}"
            )
    code = [(index, cell) for index, cell in enumerate(cells) if cell["code"]]
    not_run = [
        f"cell {index} {cell['prompt'].strip()}" for index, cell in code if not cell["prompt"].strip()[1:-2].isdigit()
    ]
    assert not not_run, f"code cells without an execution count after Run All: {not_run}"
    text = "\n".join(output["text"] for cell in cells for output in cell["outputs"])
    assert "IProgress not found" not in text, "progress bars fell back to text: ipywidgets is missing in the kernel"
    assert sum(output["images"] for cell in cells for output in cell["outputs"]) > 0, "no figure was rendered"
    for fragment in expect:
        assert fragment in text, f"the page does not show {fragment!r}"
    index, last = code[-1]
    last_text = "".join(output["text"] for output in last["outputs"])
    wanted = _last_print_text(sources[index])
    assert last_text.strip(), f"the last code cell (cell {index}) shows no output"
    assert wanted in last_text, f"the last code cell (cell {index}) shows {last_text[-300:]!r}, not {wanted!r}"


def kernel_prefix(page, panel):
    """Add a cell at the end ("Click to add a cell"), run `print(sys.prefix)` in it, return what it prints."""
    panel.locator(".jp-Notebook-footer").click()
    cells = panel.locator(".jp-Notebook .jp-Cell")
    cell = cells.nth(cells.count() - 1)  # fixed now: Shift+Enter below adds another cell after it
    editor = cell.locator(".cm-content")
    editor.click()  # focus the new cell's editor before typing
    code = "import sys; print(sys.prefix)"
    page.keyboard.insert_text(code)
    assert editor.text_content() == code, f"typed into the wrong place: the new cell holds {editor.text_content()!r}"
    page.keyboard.press("Shift+Enter")
    output = cell.locator(".jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    return output.text_content().strip()


CONTENT_BOTTOM = """node => {
    const cells = node.querySelectorAll('.jp-Cell'), last = cells[cells.length - 1];
    return Math.ceil(last.getBoundingClientRect().bottom - node.getBoundingClientRect().top + node.scrollTop + 16);
}"""


def screenshot(page, panel, path):
    """The whole notebook as one image: the notebook scrolls inside the page, so scroll it and stitch the views."""
    from PIL import Image

    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2400})  # fewer views to take and stitch
    page.wait_for_timeout(500)
    scroller = panel.locator(".jp-WindowedPanel-outer")
    box = scroller.bounding_box()
    views, top = [], 0
    while True:
        scroller.evaluate("(node, y) => node.scrollTo(0, y)", top)
        page.wait_for_timeout(300)  # let the cells scrolled into view render
        shown = scroller.evaluate("node => node.scrollTop")
        views.append((shown, Image.open(io.BytesIO(page.screenshot(clip=box)))))
        bottom = scroller.evaluate(CONTENT_BOTTOM)
        if shown + box["height"] >= bottom or shown < top:  # the end of the notebook, or it cannot scroll further
            break
        top = shown + int(box["height"])
    image = Image.new("RGB", (views[0][1].width, min(bottom, views[-1][0] + views[-1][1].height)), "white")
    for offset, view in views:
        image.paste(view, (0, offset))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    page.set_viewport_size(size)
    return image.size


def close_sessions(server):
    for session in server.api("sessions"):
        server.api(f"sessions/{session['id']}", method="DELETE")


def _sources(path):
    return ["".join(cell["source"]) for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def _saved_outputs(path):
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError):  # being written
        return 0
    return sum(len(cell.get("outputs", [])) for cell in cells)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_all_cells_in_jupyterlab(browser, lab, name):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    shot = SHOTS / f"{pathlib.Path(name).stem}.png"
    failed_shot = shot.with_name(f"{shot.stem}-failed.png")
    for old in (shot, failed_shot):  # no picture from an earlier run survives this one
        old.unlink(missing_ok=True)
    try:
        panel = open_notebook(page, lab, name)
        spec = lab.api("kernelspecs")
        display_name = spec["kernelspecs"][spec["default"]]["spec"]["display_name"]
        assert panel.locator(".jp-Toolbar-kernelName").text_content().strip() == display_name
        seconds = run_all_cells(page, panel)
        print(f"{name}: Run All Cells took {seconds:.0f} s (load {os.getloadavg()[0]:.1f})")
        check_rendered(
            read_cells(panel),
            _sources(lab.folder / name),
            expect=["tlkeras: seed=0 keras=3.", "profile: smoke (auto: $TLKERAS_PROFILE=smoke)"],
        )
        assert kernel_prefix(page, panel) == sys.prefix, "the kernel is not this environment's Python"
        print(f"{name}: screenshot {shot} ({'x'.join(map(str, screenshot(page, panel, shot)))} px)")
        page.keyboard.press("Control+s")  # File > Save: into the served copy, never the repository
        deadline = time.monotonic() + 180  # a notebook with its figures is a few MB; the server may be busy
        while _saved_outputs(lab.folder / name) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _saved_outputs(lab.folder / name) > 0, "saving from JupyterLab did not write the served copy"
        committed = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))["cells"]
        assert not any(cell.get("outputs") for cell in committed), "outputs were written into the repository"
    except BaseException:
        SHOTS.mkdir(parents=True, exist_ok=True)  # what the page showed when it failed
        page.screenshot(path=str(failed_shot))
        raise
    finally:
        page.close()
        close_sessions(lab)


def test_a_failing_cell_fails_the_check_with_its_number_source_and_error(browser, lab):
    """The failure path, fast: a tiny notebook whose second cell raises, run through the same page checks."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell('print("before the error")'),
        nbformat.v4.new_code_cell('value = 41\nraise ValueError(f"deliberate failure {value + 1}")'),
        nbformat.v4.new_code_cell('print("after the error")'),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = lab.folder / "zz_broken.ipynb"
    nbformat.write(notebook, path)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        panel = open_notebook(page, lab, path.name)
        run_all_cells(page, panel, timeout_s=120)
        cells = read_cells(panel)
        with pytest.raises(AssertionError) as failure:
            check_rendered(cells, _sources(path))
        message = str(failure.value)
        print(f"the check's message for a broken notebook:\n{message}")
        assert [cell["prompt"].strip() for cell in cells] == ["[1]:", "[2]:", "[ ]:"], "Run All goes on past an error"
        assert "cell 1 " in message and "ValueError: deliberate failure 42" in message, message
        assert "raise ValueError(" in message, message
    finally:
        page.close()
        close_sessions(lab)
