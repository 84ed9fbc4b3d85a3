"""Execute the course notebooks headless and gather executed copies, HTML renders, results, time and memory.

``python -m tlkeras run`` (see README). The profile is injected the way papermill does it: a cell tagged
``injected-parameters`` after the cell tagged ``parameters``, so the notebook's own literal stays untouched.
The notebooks come from the checkout's ``notebooks/`` folder, else from the copy installed with the package
(``tlkeras/notebooks``), else from the folder you name (``--folder``).
"""

import json
import os
import pathlib
import sys
import threading
import time

import nbformat

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


def inject_parameters(notebook, **values):
    """Insert a cell tagged ``injected-parameters`` assigning `values` right after the ``parameters`` cell
    (at the top when there is none)."""
    tags = [cell.get("metadata", {}).get("tags", []) for cell in notebook.cells]
    positions = [i for i, cell_tags in enumerate(tags) if "parameters" in cell_tags]
    source = "# Parameters injected by the course runner\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(positions[0] + 1 if positions else 0, cell)  # no parameters cell: first, as papermill does
    return notebook


class MemoryWatch:
    """Peak resident memory (MB) of a process and its children, sampled in a thread plus the kernel's VmHWM."""

    def __init__(self, interval=0.25):
        self.interval, self.peak_mb, self.pid = interval, 0.0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self):
        """Update `peak_mb` now (the thread also does it every `interval` seconds)."""
        if self.pid is None:
            return
        try:
            import psutil

            process = psutil.Process(self.pid)
            total = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
            self.peak_mb = max(self.peak_mb, total / 2**20)
        except Exception:  # process gone or psutil missing: keep the last figure
            pass
        status = pathlib.Path(f"/proc/{self.pid}/status")
        try:  # Linux keeps the exact high-water mark of the kernel process itself
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
        except OSError:
            pass

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self, pid):
        self.pid = pid
        self._thread.start()

    def stop(self):
        self.sample()
        self._stop.set()


def _progress(stem, total, watch):
    """nbclient hooks that print which cell runs (with its first line) and, when it ends, time and peak memory."""
    started = time.monotonic()
    done = [0]
    tty = sys.stdout.isatty()

    def show(message):
        print("\r\033[K" + message if tty else message, end="" if tty else "\n", flush=True)

    def on_cell_start(cell, cell_index, **_):
        if cell.cell_type == "code":
            first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")[:60]
            show(f"[{stem}] cell {done[0] + 1}/{total} running: {first}")

    def on_cell_complete(cell, cell_index, **_):
        watch.sample()
        if cell.cell_type != "code":
            return
        done[0] += 1
        show(f"[{stem}] cell {done[0]}/{total}  {time.monotonic() - started:6.0f} s  {watch.peak_mb:6.0f} MB peak")

    return on_cell_start, on_cell_complete


def execute(path, out_dir, profile, timeout=None):
    """Run one notebook; write the executed copy, its HTML and its results; return a status dict
    with ``seconds`` (wall time) and ``peak_rss_mb`` (the kernel's peak resident memory)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = pathlib.Path(path)
    notebook = inject_parameters(nbformat.read(path, as_version=4), PROFILE=profile)
    results_file = out_dir / "results" / f"{path.stem}.json"
    results_file.unlink(missing_ok=True)
    # The kernel gets its own environment; this process's os.environ stays as it was.
    kernel_env = dict(os.environ, **{results.RESULTS_ENV: str(results_file)})
    kernel_env.pop(config.PROFILE_ENV, None)  # the injected PROFILE decides
    kernel_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ log lines out of the progress
    total = sum(cell.cell_type == "code" for cell in notebook.cells)
    watch = MemoryWatch()
    on_cell_start, on_cell_complete = _progress(path.stem, total, watch)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=on_cell_start,
        on_cell_complete=on_cell_complete,
        on_notebook_start=lambda **_: watch.start(getattr(client.km.provisioner, "pid", None)),
    )
    started = time.monotonic()
    status, error = "ok", None
    try:
        client.execute(env=kernel_env)
    except CellExecutionError as exc:
        status, error = "failed", str(exc).strip().splitlines()[-1][:500]
    except Exception as exc:  # kernel died, timeout, ...: still save what ran
        status, error = "failed", f"{exc.__class__.__name__}: {exc}"[:500]
    finally:
        watch.stop()
    seconds = time.monotonic() - started
    if sys.stdout.isatty():
        print()
    nbformat.write(notebook, out_dir / path.name)
    _write_html(notebook, out_dir / f"{path.stem}.html")
    figures = json.loads(results_file.read_text()) if results_file.exists() else {}
    return {
        "status": status,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(watch.peak_mb, 1),
        "error": error,
        "results": figures,
    }


def _write_html(notebook, target):
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    target.write_text(body, encoding="utf-8")


def _markdown(summary):
    meta = summary["_run"]
    lines = [f"# tlkeras course results ({meta['profile']} profile: {meta['why']})", ""]
    lines += ["| notebook | status | seconds | peak memory (MB) |", "|---|---|---|---|"]
    lines += [
        f"| {stem} | {info['status']} | {info['seconds']} | {info['peak_rss_mb']} |"
        for stem, info in meta["notebooks"].items()
    ]
    for stem, info in meta["notebooks"].items():
        lines += ["", f"## {stem}", ""]
        if info["error"]:
            lines += [f"**Failed:** `{info['error']}`", ""]
        lines += ["| figure | value |", "|---|---|"]
        for key, value in sorted(info["results"].items()):
            shown = f"{value:.4f}" if isinstance(value, float) else value
            lines.append(f"| `{key}` | {shown} |")
    return "\n".join(lines) + "\n"


def run(profile="auto", notebooks=None, out="build", timeout=None, folder=NOTEBOOK_DIR):
    """Execute the chosen notebooks and write executed copies, HTML, results.json and results.md to `out`.

    Returns the process exit code: 0 when every notebook ran, 1 otherwise.
    """
    profile, why = config.explain_profile(profile)
    paths = find_notebooks(notebooks, folder)
    out_dir = pathlib.Path(out).resolve()  # kernels run in the notebooks' folder: give them absolute paths
    (out_dir / "results").mkdir(parents=True, exist_ok=True)
    print(f"tlkeras: running {len(paths)} notebook(s) with the {profile} profile ({why}) -> {out_dir}/")
    summary = {
        "_run": {
            "profile": profile,
            "why": why,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "notebooks": {},
            "conflicts": [],
        }
    }
    for number, path in enumerate(paths, start=1):
        print(f"[{number}/{len(paths)}] {path.name}")
        info = execute(path, out_dir, profile, timeout)
        summary["_run"]["notebooks"][path.stem] = info
        print(
            f"[{number}/{len(paths)}] {path.name}: {info['status']} in {info['seconds']:.0f} s, "
            f"peak {info['peak_rss_mb']:.0f} MB" + (f" ({info['error']})" if info["error"] else "")
        )
        for key, value in info["results"].items():
            if key in summary and summary[key] != value:
                summary["_run"]["conflicts"].append(f"{key}: {path.stem} overrides an earlier value")
            summary[key] = value
        # after every notebook, so an interrupted run (Ctrl-C) keeps the summary of what finished
        (out_dir / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        (out_dir / "results.md").write_text(_markdown(summary))
    failed = [stem for stem, info in summary["_run"]["notebooks"].items() if info["status"] != "ok"]
    print(
        f"wrote {out_dir}/results.json and results.md; "
        + (f"FAILED: {', '.join(failed)}" if failed else "all notebooks ran")
    )
    return 1 if failed else 0
