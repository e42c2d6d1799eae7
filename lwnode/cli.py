"""`lwnode`: the command line of a learnware dock node.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input (argparse's
convention), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.errors import LwdockError


def _cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from lwnode import engine_demo

    console = Console()
    report = engine_demo.run(seed=args.seed, n_user_labels=args.labels, console=console)
    engine_demo.print_report(report, console)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwnode",
        description="A node of the learnware dock network: find, verify and reuse models "
                    "by the specification of their task.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="run the demo: ten developers' learnwares, one user, search and reuse",
        description="Ten developers publish specifications of digit classifiers; a user with "
                    "unlabelled data searches them and reuses what fits. Offline, ~10 s.")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--labels", type=int, default=8,
                      help="labels the user-only baseline model gets (default 8)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except LwdockError as exc:
        print(f"lwnode: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1


if __name__ == "__main__":
    sys.exit(main())
