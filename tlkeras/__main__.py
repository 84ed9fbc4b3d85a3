"""Command line: ``python -m tlkeras run --profile {smoke,full,auto} [--notebooks 01 ...] [--out DIR]``."""
import argparse
import sys


def main(argv=None):
    """Parse the command line and run the course."""
    parser = argparse.ArgumentParser(prog="python -m tlkeras", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks, write executed copies, HTML and results")
    run.add_argument("--profile", choices=["smoke", "full", "auto"], default="auto",
                     help="smoke: minutes on a CPU (CI); full: GPU-sized; auto: full if a GPU is visible")
    run.add_argument("--notebooks", nargs="+", metavar="NN", help="notebook numbers or names (default: all)")
    run.add_argument("--out", default="build", help="output folder (default: build)")
    run.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    args = parser.parse_args(argv)
    from tlkeras import runner

    try:
        return runner.run(profile=args.profile, notebooks=args.notebooks, out=args.out, timeout=args.timeout)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
