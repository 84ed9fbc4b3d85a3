"""Each benchmark owns one section of benchmarks/RESULTS.md and rewrites only that section."""

import pathlib
import re

RESULTS = pathlib.Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# Benchmarks\n\nEach section is written by the script it names; rerun that script to regenerate it.\n"


def write_section(name, body, path=RESULTS):
    """Replace (or append) the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    path = pathlib.Path(path)
    text = path.read_text() if path.exists() else TITLE
    block = f"<!-- {name}:start -->\n{body.strip()}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    return path
