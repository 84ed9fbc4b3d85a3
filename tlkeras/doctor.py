"""Preflight check: ``python -m tlkeras doctor`` says, per notebook, where its data and weights will come from.

`NEEDS` lists what each notebook loads. Each loader gives its `tlk.data.Plan` (``plan_only=True``: its own
search and checks, nothing downloaded) for the arguments the notebook's settings cell passes in the profile
that would run, so the doctor and the loader cannot disagree. A planned download counts only when its own
server answers (`tlk.data.reachable`, through any proxy). Exit status 1, with the fix, when one cannot run.
"""

import ast
import contextlib
import pathlib
import shutil

import psutil
from IPython.core.inputtransformer2 import TransformerManager

from tlkeras import backbones, config, data, ham10000, images, runner


def _fashion(settings, profile):
    return data.load_fashion_mnist(plan_only=True)


def _cats(settings, profile):  # notebook 02 passes max_per_class=P.max_per_class, 03 max_per_class=P.per_class
    cap = settings["max_per_class"] if "max_per_class" in settings else settings["per_class"]
    return images.load_cats_vs_dogs(max_per_class=cap, plan_only=True)


def _skin(settings, profile):
    return ham10000.load(max_per_class=settings["max_per_class"], plan_only=True)


def _weights(settings, profile):
    return backbones.imagenet_weights(settings["backbone"], profile, alpha=settings.get("alpha"), plan_only=True)


NEEDS = {  # notebook number -> what it loads: each entry returns that loader's plan for the notebook's settings
    "01": (_fashion,),
    "02": (_cats, _weights),
    "03": (_cats, _weights, _fashion),
    "04": (_fashion,),
    "05": (_skin, _weights),
    "06": (_fashion,),
}


def notebook_settings(path):
    """``({profile: settings dict}, code)`` from the notebook's ``tlk.config.choose(PROFILE, smoke=..., ...)`` cell."""
    sources = runner.code_sources(runner.read(path))
    for source in sources:
        try:  # IPython turns magics (%pip, !ls) into Python first
            found = _choose_settings(ast.parse(TransformerManager().transform_cell(source)))
        except SyntaxError:
            continue
        if found:
            return found, "\n".join(sources)
    return {}, "\n".join(sources)


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
    for statement in tree.body:  # NAME = <settings> assignments, for a choose() that refers to them
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):  # not settings: skip
                names[statement.targets[0].id] = _value(statement.value, names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "choose":
            found = {k.arg: _value(k.value, names) for k in node.keywords if k.arg in config.PROFILES}
            found.setdefault("cpu", found.get("smoke", {}))
            return found
    return None


def needs(path, profile):
    """The `tlk.data.Plan`s of what notebook `path` loads in `profile`, and its settings there."""
    chosen = notebook_settings(path)[0].get(profile, {})
    plans = [need(chosen, profile) for need in NEEDS.get(pathlib.Path(path).name[:2], ())]
    return plans, chosen


def report(profile="auto", notebooks=None, network=None, folder=None):
    """Print the preflight table; return 0 when every chosen notebook can run here, else 1.

    `network` (True/False) overrides the per-server check, for tests.
    """
    name, why = config.explain_profile(profile)
    gpus = config.gpu_names()
    cache = config.cache_dir()
    print(f"profile: {name} ({why})")
    memory, disk = psutil.virtual_memory().available / 2**30, shutil.disk_usage(cache).free / 2**30
    print(
        f"GPU: {gpus[0] if gpus else 'none (CPU only)'}; free memory {memory:.1f} GB; free disk {disk:.1f} GB at {cache}"
    )
    downloads = f"off (${config.OFFLINE_ENV} is set)" if data.offline() else "on"
    print(f"mirror: {config.mirror_dir() or 'none'}; downloads: {downloads}")
    failures = 0
    for path in runner.find_notebooks(notebooks, folder or runner.NOTEBOOK_DIR):
        plans, chosen = needs(path, name)
        minutes = chosen.get("minutes")
        print(f"\n{path.stem}: expected {minutes if minutes is not None else '?'} min in {name}")
        for plan in plans:
            answering = [url for url in plan.urls if (data.reachable(url) if network is None else network)]
            if plan.kind == "local":
                print(f"  ok       {plan.what}: {plan.where}")
            elif answering:
                size = f" ({plan.size_mb:,.0f} MB)" if plan.size_mb and answering[0] == plan.urls[0] else ""
                print(f"  download {plan.what}{size} from {answering[0]}")
            else:
                failures += 1
                why_not = "its server does not answer: " + ", ".join(plan.urls) if plan.urls else plan.problems[-1]
                print(f"  MISSING  {plan.what}: not on disk, and {why_not}; fix it in one of these ways:")
                print("".join(f"           {number}. {fix}\n" for number, fix in enumerate(plan.fixes, 1)), end="")
    print("\n" + ("every notebook can run" if not failures else f"{failures} missing file(s): see the fixes above"))
    return 1 if failures else 0
