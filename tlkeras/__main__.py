"""Command line: ``tlkeras run|doctor [--profile smoke|cpu|full|auto] [--notebooks 01 ...] [--folder DIR]``.

Also ``python -m tlkeras ...``. Exit status: 0 when everything ran (doctor: every notebook can run), 1 when a
notebook failed or cannot run, or the runner's packages are missing, 2 for a usage error.
"""

import argparse
import os
import sys

import tlkeras
from tlkeras import config

PROFILE_HELP = "; ".join(f"{name}: {text}" for name, text in config.PROFILE_HELP.items()) + (
    "; auto (default): $TLKERAS_PROFILE, else full with a GPU, smoke with a mirror, cpu otherwise"
)


def _parser():
    started_as = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    prog = "tlkeras" if started_as == "tlkeras" else "python -m tlkeras"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"tlkeras {tlkeras.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks, write executed copies, HTML and results")
    doctor = commands.add_parser(
        "doctor", help="say where each notebook's data and weights come from; exit 1 if one cannot run"
    )
    for command in (run, doctor):
        command.add_argument("--profile", choices=[*config.PROFILES, "auto"], default="auto", help=PROFILE_HELP)
        command.add_argument("--notebooks", nargs="+", metavar="NN", help="notebook numbers or names (default: all)")
        command.add_argument(
            "--folder",
            help="folder holding the NN_name.ipynb notebooks (default: the checkout's, else the installed copy)",
        )
    run.add_argument("--out", default="build", help="output folder (default: build)")
    run.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    run.add_argument("--no-preflight", action="store_true", help="skip the doctor check before running")
    return parser


def main(argv=None):
    """Parse the command line and run the course or its preflight check."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        from tlkeras import doctor, runner
    except ModuleNotFoundError as error:  # a runtime-only install: the runner's packages are an extra
        print(
            f'tlkeras {args.command} needs the [lab] extra ({error.name} is not installed): pip install "tlkeras[lab]"',
            file=sys.stderr,
        )
        return 1
    folder = args.folder or runner.NOTEBOOK_DIR
    try:
        runner.find_notebooks(args.notebooks, folder)  # a wrong name fails before the doctor or a kernel starts
        if args.command == "doctor":
            return doctor.report(profile=args.profile, notebooks=args.notebooks, folder=folder)
        if not args.no_preflight and doctor.report(profile=args.profile, notebooks=args.notebooks, folder=folder) != 0:
            print("preflight failed: nothing was run (fix the above, or pass --no-preflight)", file=sys.stderr)
            return 1
        return runner.run(
            profile=args.profile, notebooks=args.notebooks, out=args.out, timeout=args.timeout, folder=folder
        )
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
