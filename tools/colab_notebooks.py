"""Make the course notebooks open and install the way Colab needs them (issue 18, section 1). Idempotent.

    python tools/colab_notebooks.py [notebooks/*.ipynb]      # default: every notebooks/NN_*.ipynb

For each notebook it
- asks Colab for a GPU runtime: ``"accelerator": "GPU"`` and ``"colab": {"gpuType": "T4", "provenance": []}`` in
  the notebook metadata, so the badge opens a T4 runtime and ``PROFILE = "auto"`` picks ``full``;
- pins the Setup cell's install (and the title cell's Colab badge) to the release tag ``v<tlkeras.__version__>``,
  never a moving branch, shows what it installs, and, outside Colab, turns a missing ``tlkeras`` into the
  one-line fix instead of a bare ModuleNotFoundError;
- adds ``KEEP_ON_DRIVE = False`` to the ``parameters`` cell and ``tlk.config.use_drive(KEEP_ON_DRIVE)`` as the
  first line of the settings cell (the one calling ``tlk.config.choose(PROFILE``), so downloads and caches can
  live on Google Drive across Colab sessions.
It keeps cell ids, writes no outputs and execution counts, and keeps the files' JSON layout (nbformat's: one-space
indent, sorted keys). tests/test_colab.py checks the result.
"""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPOSITORY = "tlkeras-course/tlkeras"
METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}
DRIVE_PARAMETER = (
    "KEEP_ON_DRIVE = False  # on Colab, True keeps downloads and caches on Google Drive between sessions\n"
)
DRIVE_CALL = "tlk.config.use_drive(KEEP_ON_DRIVE)  # Colab only: mount Drive and keep the caches there\n"
# The old and the new install block of the Setup cell (after its `import sys`), up to its `import tlkeras` check.
OLD_INSTALL = re.compile(
    r'if "google\.colab" in sys\.modules:[^\n]*\n(?:[ \t]+#[^\n]*\n)*[ \t]+%pip install [^\n]*tlkeras[^\n]*\n'
    r"(?:try:\n    import tlkeras\nexcept ImportError:[^\n]*\n[^\n]*\n    raise\n)?"
)


def version():
    """The package version, read from tlkeras/__init__.py without importing it."""
    text = (ROOT / "tlkeras" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def install_block(tag):
    url = f"git+https://github.com/{REPOSITORY}@{tag}"
    return (
        'if "google.colab" in sys.modules:  # on Colab: this release of the course package (a few hundred kB;\n'
        "    # TensorFlow, Keras and the rest are preinstalled there, so pip upgrades nothing big)\n"
        f'    %pip install "tlkeras @ {url}"\n'
        "try:\n"
        "    import tlkeras\n"
        "except ImportError:  # not on Colab and not installed: say how, then stop\n"
        f'    print(\'tlkeras is not installed. Run: pip install "tlkeras[lab] @ {url}"  '
        "(or, in a checkout of the course: bash course.sh run)')\n"
        "    raise\n"
    )


def _lines(text):
    return text.splitlines(keepends=True)


def _source(cell):
    return "".join(cell["source"])


def update(notebook, tag):
    """Return `notebook` (a JSON dict) changed as the module docstring says."""
    notebook["metadata"].update(json.loads(json.dumps(METADATA)))
    cells = notebook["cells"]
    title = _source(cells[0])
    title = re.sub(r"(colab\.research\.google\.com/github/[^/]+/[^/]+/blob/)[^/]+/", rf"\g<1>{tag}/", title)
    cells[0]["source"] = _lines(title)
    setup = [c for c in cells if c["cell_type"] == "code" and "google.colab" in _source(c)]
    if len(setup) != 1:
        raise ValueError(f"expected one Setup cell mentioning google.colab, found {len(setup)}")
    source, count = OLD_INSTALL.subn(lambda _: install_block(tag), _source(setup[0]), count=1)
    if count != 1 or "import sys\n" not in source[: source.index("google.colab")]:
        raise ValueError("the Setup cell does not start with the expected install block:\n" + _source(setup[0])[:300])
    setup[0]["source"] = _lines(source)
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(parameters) != 1:
        raise ValueError(f"expected one cell tagged 'parameters', found {len(parameters)}")
    source = _source(parameters[0])
    if not re.search(r"^KEEP_ON_DRIVE\s*=", source, re.M):
        source = source.rstrip("\n") + "\n" + DRIVE_PARAMETER.rstrip("\n")
    parameters[0]["source"] = _lines(source)
    settings = [c for c in cells if c["cell_type"] == "code" and "tlk.config.choose(PROFILE" in _source(c)]
    if len(settings) != 1:
        raise ValueError(f"expected one settings cell calling tlk.config.choose(PROFILE, found {len(settings)}")
    source = _source(settings[0])
    if "tlk.config.use_drive(KEEP_ON_DRIVE)" not in source:
        source = DRIVE_CALL + source
    settings[0]["source"] = _lines(source)
    for cell in cells:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return notebook


def main(paths):
    tag = f"v{version()}"
    paths = [pathlib.Path(p) for p in paths] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        before = path.read_text(encoding="utf-8")
        after = json.dumps(update(json.loads(before), tag), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        if after != before:
            path.write_text(after, encoding="utf-8")
        print(f"{path.name}: {'updated' if after != before else 'already up to date'} (Setup installs {tag})")


if __name__ == "__main__":
    main(sys.argv[1:])
