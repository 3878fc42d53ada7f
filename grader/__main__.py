"""The instructor's command line: ``python -m grader <command>``.

Commands:
    handouts [HW]     regenerate every handout (or one: hw1 or hw1_autograd) from solutions/
    check-handouts    fail if a committed handout differs from a fresh generation or leaks
"""
from __future__ import annotations

import argparse
import sys

from . import handouts
from .markers import MarkerError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("handouts", help="regenerate the handouts from solutions/")
    generate.add_argument("hw", nargs="?", help="only this homework (hw1 or hw1_autograd)")
    commands.add_parser("check-handouts", help="check the committed handouts")
    args = parser.parse_args(argv)

    if args.command == "handouts":
        try:
            written = handouts.generate_all(only=args.hw)
        except (MarkerError, ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if not written:
            print(f"error: no homework {args.hw!r}", file=sys.stderr)
            return 1
        for handout in written:
            print(f"{handout.homework.dir}/: {len(handout.files)} files, "
                  f"{len(handout.stubs)} stubs")
        return 0

    problems = handouts.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-handouts: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check-handouts: every handout matches a fresh generation and leaks nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
