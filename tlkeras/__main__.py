"""Command line: ``python -m tlkeras run|doctor [--profile smoke|cpu|full|auto] [--notebooks 01 ...]``."""

import argparse
import sys

PROFILE_CHOICES = ["smoke", "cpu", "full", "auto"]
PROFILE_HELP = (
    "smoke: CI, offline mirror, minutes on 2 cores; cpu: a laptop without GPU, real weights, capped data; "
    "full: one GPU; auto (default): $TLKERAS_PROFILE, else full with a GPU, smoke with a mirror, cpu otherwise"
)


def main(argv=None):
    """Parse the command line and run the course or its preflight check."""
    parser = argparse.ArgumentParser(prog="python -m tlkeras", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks, write executed copies, HTML and results")
    doctor = commands.add_parser(
        "doctor", help="say where each notebook's data and weights come from; exit 1 if one cannot run"
    )
    for command in (run, doctor):
        command.add_argument("--profile", choices=PROFILE_CHOICES, default="auto", help=PROFILE_HELP)
        command.add_argument("--notebooks", nargs="+", metavar="NN", help="notebook numbers or names (default: all)")
    run.add_argument("--out", default="build", help="output folder (default: build)")
    run.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    run.add_argument("--no-preflight", action="store_true", help="skip the doctor check before running")
    args = parser.parse_args(argv)
    from tlkeras import doctor, runner

    try:
        runner.find_notebooks(args.notebooks)  # a wrong name fails in a second, before TensorFlow loads
        if args.command == "doctor":
            return doctor.report(profile=args.profile, notebooks=args.notebooks)
        if not args.no_preflight and doctor.report(profile=args.profile, notebooks=args.notebooks) != 0:
            print("preflight failed: nothing was run (fix the above, or pass --no-preflight)", file=sys.stderr)
            return 1
        return runner.run(profile=args.profile, notebooks=args.notebooks, out=args.out, timeout=args.timeout)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
