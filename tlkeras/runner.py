"""Execute the course notebooks headless and gather executed copies, HTML renders and results."""
import json
import os
import pathlib
import sys
import time

import nbformat

from tlkeras import config, results

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def find_notebooks(selection=None, folder=NOTEBOOK_DIR):
    """Notebooks in `folder` in course order; `selection` holds prefixes ("01") or file names/stems."""
    folder = pathlib.Path(folder)
    available = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not available:
        raise FileNotFoundError(f"no course notebooks (NN_name.ipynb) in {folder}")
    if not selection:
        return available
    chosen = []
    for item in selection:
        matches = [path for path in available if path.name == item or path.stem == item or path.name.startswith(f"{item}_")]
        if not matches:
            names = ", ".join(path.stem for path in available)
            raise ValueError(f"no notebook matches {item!r}; available: {names}")
        chosen.extend(path for path in matches if path not in chosen)
    return chosen


def _progress(stem, total):
    started = time.monotonic()
    done = [0]
    tty = sys.stdout.isatty()

    def on_cell_complete(cell, cell_index, **_):
        if cell.cell_type != "code":
            return
        done[0] += 1
        message = f"[{stem}] cell {done[0]}/{total}  {time.monotonic() - started:6.0f} s"
        print("\r" + message if tty else message, end="" if tty else "\n", flush=True)

    return on_cell_complete


def execute(path, out_dir, profile, timeout=None):
    """Run one notebook; write the executed copy, its HTML and its results; return a status dict."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = pathlib.Path(path)
    notebook = nbformat.read(path, as_version=4)
    results_file = out_dir / "results" / f"{path.stem}.json"
    results_file.unlink(missing_ok=True)
    # The kernel gets its own environment; this process's os.environ stays as it was.
    kernel_env = dict(os.environ, **{config.PROFILE_ENV: profile, results.RESULTS_ENV: str(results_file)})
    kernel_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ log lines out of the progress
    total = sum(cell.cell_type == "code" for cell in notebook.cells)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_complete=_progress(path.stem, total),
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
    _write_html(notebook, out_dir / f"{path.stem}.html")
    figures = json.loads(results_file.read_text()) if results_file.exists() else {}
    return {"status": status, "seconds": round(seconds, 1), "error": error, "results": figures}


def _write_html(notebook, target):
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    target.write_text(body, encoding="utf-8")


def _markdown(summary):
    meta = summary["_run"]
    lines = [f"# tlkeras course results ({meta['profile']} profile)", ""]
    lines += ["| notebook | status | seconds |", "|---|---|---|"]
    lines += [f"| {stem} | {info['status']} | {info['seconds']} |" for stem, info in meta["notebooks"].items()]
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
    if profile not in config.PROFILES:
        raise ValueError(f"profile must be one of {config.PROFILES}, got {profile!r}")
    if profile == "auto":
        profile = "full" if config.gpu_available() else "smoke"
    paths = find_notebooks(notebooks, folder)
    out_dir = pathlib.Path(out).resolve()  # kernels run in the notebooks' folder: give them absolute paths
    (out_dir / "results").mkdir(parents=True, exist_ok=True)
    print(f"tlkeras: running {len(paths)} notebook(s) with the {profile} profile -> {out_dir}/")
    summary = {"_run": {"profile": profile, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "notebooks": {}, "conflicts": []}}
    for number, path in enumerate(paths, start=1):
        print(f"[{number}/{len(paths)}] {path.name}")
        info = execute(path, out_dir, profile, timeout)
        summary["_run"]["notebooks"][path.stem] = info
        print(f"[{number}/{len(paths)}] {path.name}: {info['status']} in {info['seconds']:.0f} s"
              + (f" ({info['error']})" if info["error"] else ""))
        for key, value in info["results"].items():
            if key in summary and summary[key] != value:
                summary["_run"]["conflicts"].append(f"{key}: {path.stem} overrides an earlier value")
            summary[key] = value
    (out_dir / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    (out_dir / "results.md").write_text(_markdown(summary))
    failed = [stem for stem, info in summary["_run"]["notebooks"].items() if info["status"] != "ok"]
    print(f"wrote {out_dir}/results.json and results.md; " + (f"FAILED: {', '.join(failed)}" if failed else "all notebooks ran"))
    return 1 if failed else 0
