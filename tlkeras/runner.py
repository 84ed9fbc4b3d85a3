"""Execute the course notebooks headless and gather executed copies, HTML renders, results, time and memory.

``python -m tlkeras run`` (see README). The profile is injected as papermill does it: a cell tagged
``injected-parameters`` after the cell tagged ``parameters``. The notebooks come from ``--folder``, else the
checkout's ``notebooks/``, else the copy installed in the package. `read` is the one notebook reader.
"""

import ast
import json
import os
import pathlib
import sys
import time

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

from tlkeras import config, results


def _default_folder():
    # A checkout (editable install, or PYTHONPATH) has notebooks/ beside the package; a wheel ships them inside it.
    checkout = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
    installed = pathlib.Path(__file__).resolve().parent / "notebooks"
    return checkout if any(checkout.glob("[0-9][0-9]_*.ipynb")) else installed


NOTEBOOK_DIR = _default_folder()


def find_notebooks(selection=None, folder=NOTEBOOK_DIR):
    """Notebooks in `folder` in course order; `selection` holds prefixes ("01") or file names/stems."""
    folder = pathlib.Path(folder)
    available = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not available:
        raise FileNotFoundError(f"no course notebooks (NN_name.ipynb) in {folder}; name a folder with --folder")
    if not selection:
        return available
    chosen = []
    for item in selection:
        matches = [p for p in available if p.name == item or p.stem == item or p.name.startswith(f"{item}_")]
        if not matches:
            raise ValueError(f"no notebook matches {item!r}; available: {', '.join(p.stem for p in available)}")
        chosen.extend(path for path in matches if path not in chosen)
    return chosen


def read(path):
    """The notebook at `path` (nbformat version 4: ``.cells``, each with ``.cell_type``, ``.source``, ...)."""
    return nbformat.read(path, as_version=4)


def code_sources(notebook):
    """The source of every code cell, in order."""
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def _tagged(notebook, tag):
    return [index for index, cell in enumerate(notebook.cells) if tag in cell.get("metadata", {}).get("tags", [])]


def parameters(notebook):
    """{name: value} set by the cell tagged ``parameters`` ({} when there is none).

    ValueError unless every statement there assigns a literal to a name: only then can an injected
    assignment after it stand in for it.
    """
    found = {}
    for index in _tagged(notebook, "parameters"):
        for node in ast.parse(notebook.cells[index].source).body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a string used as a comment
            where = f"parameters cell, line {node.lineno}"
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                raise ValueError(f"{where}: not an assignment to one name")
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(f"{where}: {ast.unparse(node.value)[:40]} is not a literal") from None
    return found


def inject_parameters(notebook, **values):
    """Insert a cell tagged ``injected-parameters`` assigning `values` right after the ``parameters`` cell
    (first, as papermill does, when there is none). ValueError when that cell does not set one of them."""
    positions = _tagged(notebook, "parameters")
    unknown = sorted(set(values) - set(parameters(notebook))) if positions else []
    if unknown:
        raise ValueError(f"the notebook's parameters cell does not set {', '.join(unknown)}")
    source = "# Parameters injected by the course runner\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(positions[0] + 1 if positions else 0, cell)
    return notebook


class Progress:
    """nbclient hooks that print which cell runs and, as each ends, the time and `peak_mb`: the resident memory
    (MB) of the kernel and its children at each cell's end, and Linux's exact high-water mark of the kernel."""

    def __init__(self, stem, total):
        self.stem, self.total, self.done, self.peak_mb, self.pid = stem, total, 0, 0.0, None
        self.started, self.tty = time.monotonic(), sys.stdout.isatty()

    def show(self, message):
        print("\r\033[K" + message if self.tty else message, end="" if self.tty else "\n", flush=True)

    def sample(self):
        if self.pid is None:  # psutil.Process(None) would be this process
            return
        try:
            process = psutil.Process(self.pid)
            total = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
            self.peak_mb = max(self.peak_mb, total / 2**20)
            for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
        except (psutil.Error, OSError):  # the kernel is gone, or no /proc: keep the last figure
            pass

    def on_cell_start(self, cell, **_):
        if cell.cell_type == "code":
            first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")[:60]
            self.show(f"[{self.stem}] cell {self.done + 1}/{self.total} running: {first}")

    def on_cell_complete(self, cell, **_):
        self.sample()
        if cell.cell_type == "code":
            self.done += 1
            seconds = time.monotonic() - self.started
            self.show(f"[{self.stem}] cell {self.done}/{self.total}  {seconds:6.0f} s  {self.peak_mb:6.0f} MB peak")


def execute(path, out_dir, profile, timeout=None):
    """Run one notebook; write the executed copy, its HTML and its results; return a status dict
    with ``seconds`` (wall time) and ``peak_rss_mb`` (the kernel's peak resident memory)."""
    path = pathlib.Path(path)
    notebook = inject_parameters(read(path), PROFILE=profile)
    results_file = out_dir / "results" / f"{path.stem}.json"
    results_file.unlink(missing_ok=True)
    # The kernel gets its own environment; this process's os.environ stays as it was.
    kernel_env = dict(os.environ, **{results.RESULTS_ENV: str(results_file)})
    kernel_env.pop(config.PROFILE_ENV, None)  # the injected PROFILE decides
    kernel_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ log lines out of the progress
    progress = Progress(path.stem, sum(cell.cell_type == "code" for cell in notebook.cells))
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=progress.on_cell_start,
        on_cell_complete=progress.on_cell_complete,
        on_notebook_start=lambda **_: setattr(progress, "pid", getattr(client.km.provisioner, "pid", None)),
    )
    started = time.monotonic()
    status, error = "ok", None
    try:
        client.execute(env=kernel_env)
    except CellExecutionError as exc:
        status, error = "failed", str(exc).strip().splitlines()[-1][:500]
    except Exception as exc:  # kernel died, timeout, ...: still save what ran
        status, error = "failed", f"{exc.__class__.__name__}: {exc}"[:500]
    seconds = time.monotonic() - started
    if sys.stdout.isatty():
        print()
    nbformat.write(notebook, out_dir / path.name)
    (out_dir / f"{path.stem}.html").write_text(HTMLExporter().from_notebook_node(notebook)[0], encoding="utf-8")
    figures = json.loads(results_file.read_text()) if results_file.exists() else {}
    return dict(
        status=status, seconds=round(seconds, 1), peak_rss_mb=round(progress.peak_mb, 1), error=error, results=figures
    )


def _markdown(summary):
    meta = summary["_run"]
    lines = [f"# tlkeras course results ({meta['profile']} profile: {meta['why']})", ""]
    lines += ["| notebook | status | seconds | peak memory (MB) |", "|---|---|---|---|"]
    for row, (stem, info) in enumerate(meta["notebooks"].items(), start=4):  # the table's rows, in order
        lines.insert(row, f"| {stem} | {info['status']} | {info['seconds']} | {info['peak_rss_mb']} |")
        lines += ["", f"## {stem}", ""]
        if info["error"]:
            lines += [f"**Failed:** `{info['error']}`", ""]
        lines += ["| figure | value |", "|---|---|"]
        for key, value in sorted(info["results"].items()):
            shown = f"{value:.4f}" if isinstance(value, float) else value
            lines.append(f"| `{key}` | {shown} |")
    return "\n".join(lines) + "\n"


def run(profile="auto", notebooks=None, out="build", timeout=None, folder=NOTEBOOK_DIR):
    """Execute the chosen notebooks; write executed copies, HTML, results.json and results.md to `out`.
    Returns the exit status: 0 when every notebook ran, 1 otherwise."""
    profile, why = config.explain_profile(profile)
    paths = find_notebooks(notebooks, folder)
    out_dir = pathlib.Path(out).resolve()  # kernels run in the notebooks' folder: give them absolute paths
    (out_dir / "results").mkdir(parents=True, exist_ok=True)
    print(f"tlkeras: running {len(paths)} notebook(s) with the {profile} profile ({why}) -> {out_dir}/")
    # every notebook's figures at the top level, and again under _run.notebooks.<stem>.results
    summary = {"_run": {"profile": profile, "why": why, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "notebooks": {}}}
    for number, path in enumerate(paths, start=1):
        print(f"[{number}/{len(paths)}] {path.name}")
        info = execute(path, out_dir, profile, timeout)
        summary["_run"]["notebooks"][path.stem] = info
        print(
            f"[{number}/{len(paths)}] {path.name}: {info['status']} in {info['seconds']:.0f} s, "
            f"peak {info['peak_rss_mb']:.0f} MB" + (f" ({info['error']})" if info["error"] else "")
        )
        summary.update(info["results"])
        # after every notebook, so an interrupted run (Ctrl-C) keeps the summary of what finished
        (out_dir / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        (out_dir / "results.md").write_text(_markdown(summary))
    failed = [stem for stem, info in summary["_run"]["notebooks"].items() if info["status"] != "ok"]
    print(f"wrote {out_dir}/results.json and results.md; " + (f"FAILED: {', '.join(failed)}" if failed else "all ran"))
    return 1 if failed else 0
