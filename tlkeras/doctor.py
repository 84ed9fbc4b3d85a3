"""Preflight check: ``python -m tlkeras doctor`` says, per notebook, where its data and weights will come from.

It reads each notebook's own settings (the ``tlk.config.choose`` cell) for the profile that would run, so
the check cannot drift from the notebooks. Nothing is downloaded or loaded. Exit status 1 when a notebook
cannot run here, with the fix. Shown in the README's first steps.
"""

import ast
import json
import os
import pathlib
import shutil

from tlkeras import config, data, runner

DOWNLOAD_URL = "https://storage.googleapis.com/"
STAND_IN = "mobilenet_0.25"  # the only ImageNet weights in the offline mirror
LOADERS = {  # a call in a notebook's code -> (module, function returning a data.Source)
    "load_fashion_mnist": ("tlkeras.data", "locate_fashion_mnist"),
    "load_cats_vs_dogs": ("tlkeras.images", "locate_cats_vs_dogs"),
    "tlk.ham10000.": ("tlkeras.ham10000", "locate"),
}


def online(url=DOWNLOAD_URL):
    """True when the download host answers (`tlk.data.reachable`: a TCP connection, nothing sent)."""
    return data.reachable(url)


def notebook_settings(path):
    """{profile: settings dict} from the notebook's ``tlk.config.choose(PROFILE, smoke=..., ...)`` call."""
    cells = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    code = "\n".join(sources)
    for source in sources:
        # IPython magics (%pip, !ls) are not Python: parse them as `pass` at the same indentation
        lines = [
            line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in source.splitlines()
        ]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        found = _choose_settings(tree)
        if found:
            return found, code
    return {}, code


def _value(node, names):
    # A settings dict written as dict(a=1), {"a": 1}, NAME or NAME["key"] (NAME assigned earlier in the cell).
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict":
        return {k.arg: _value(k.value, names) for k in node.keywords}
    if isinstance(node, ast.Dict):
        return {ast.literal_eval(k): _value(v, names) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in names:
        return names[node.value.id][ast.literal_eval(node.slice)]
    return ast.literal_eval(node)


def _choose_settings(tree):
    names = {}
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            try:
                names[statement.targets[0].id] = _value(statement.value, names)
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "choose":
            found = {k.arg: _value(k.value, names) for k in node.keywords if k.arg in config.PROFILES}
            found.setdefault("cpu", found.get("smoke", {}))
            return found
    return None


def _locate(module, function, *args):
    import importlib

    what = function.removeprefix("locate_").replace("_", " ") if function != "locate" else module.split(".")[-1]
    try:
        found = getattr(importlib.import_module(module), function)(*args)
    except (ImportError, AttributeError) as error:
        return data.Source(what, "missing", "(cannot check)", fix=f"{module}.{function}: {error}")
    except (FileNotFoundError, ValueError) as error:  # a locator may explain itself by raising
        return data.Source(what, "missing", "(not found)", fix=str(error).splitlines()[-1])
    if isinstance(found, data.Source):
        return found
    if found is None:
        return data.Source(what, "missing", "(not found)")
    return data.Source(what, "local", " ".join(str(part) for part in (found if isinstance(found, tuple) else [found])))


def needs(path, profile):
    """The data sets and weights notebook `path` needs in `profile`, as `data.Source`s."""
    settings, code = notebook_settings(path)
    chosen = settings.get(profile, {})
    sources = [_locate(module, function) for call, (module, function) in LOADERS.items() if call in code]
    backbone = chosen.get("backbone")
    if backbone:
        weights = _locate(
            "tlkeras.backbones", "locate_weights", backbone, *([chosen["alpha"]] if chosen.get("alpha") else [])
        )
        if weights.kind != "local" and profile == "smoke":  # smoke may use the stand-in when it is on disk
            stand_in = _locate("tlkeras.backbones", "locate_weights", STAND_IN)
            if stand_in.kind == "local":
                weights = data.Source(f"{weights.what} (smoke: stand-in {STAND_IN})", "local", stand_in.where)
        sources.append(weights)
    return sources, chosen


def _free_memory_gb():
    try:
        import psutil

        return psutil.virtual_memory().available / 2**30
    except ImportError:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30


def report(profile="auto", notebooks=None, network=None, folder=runner.NOTEBOOK_DIR):
    """Print the preflight table; return 0 when every chosen notebook can run here, else 1."""
    name, why = config.explain_profile(profile)
    network = online() if network is None else network
    gpus = config.gpu_names()
    cache = config.cache_dir()
    print(f"profile: {name} ({why})")
    print(
        f"GPU: {gpus[0] if gpus else 'none (CPU only)'}; free memory {_free_memory_gb():.1f} GB; "
        f"free disk {shutil.disk_usage(cache).free / 2**30:.1f} GB at {cache}"
    )
    print(
        f"network: {'download host reachable' if network else 'offline (no downloads)'}; "
        f"mirror: {config.mirror_dir() or 'none'}"
    )
    failures = 0
    for path in runner.find_notebooks(notebooks, folder):
        sources, chosen = needs(path, name)
        minutes = chosen.get("minutes")
        print(f"\n{path.stem}: expected {minutes if minutes is not None else '?'} min in {name}")
        for source in sources:
            if source.kind == "local":
                print(f"  ok       {source.what}: {source.where}")
            elif source.kind == "download" and network:
                size = f" ({source.size_mb:,.0f} MB)" if source.size_mb else ""
                print(f"  download {source.what}{size} from {source.where}")
            else:
                failures += 1
                print(
                    f"  MISSING  {source.what}: not on disk and {'no download' if source.kind == 'missing' else 'offline'}"
                    f"\n           fix: {source.fix or 'go online once, or set $TLKERAS_MIRROR to a mirror'}"
                )
    print("\n" + ("every notebook can run" if not failures else f"{failures} missing file(s): see the fixes above"))
    return 1 if failures else 0
