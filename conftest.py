"""Test-session defaults: notebooks run in the smoke profile and read the offline mirror beside the repo."""

import os
import pathlib

os.environ.setdefault("TLKERAS_PROFILE", "smoke")
_mirror = pathlib.Path(__file__).resolve().parent.parent / "shared" / "data"
if "TLKERAS_MIRROR" not in os.environ and _mirror.is_dir():
    os.environ["TLKERAS_MIRROR"] = str(_mirror)
