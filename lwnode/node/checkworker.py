"""A check worker process: ``python -m lwnode.node.checkworker`` (started by `lwnode.node.checker`).

Reads one JSON request per line on stdin (``{"path": ..., "options": {...}}``) and
writes one JSON check report per line, or ``{"internal_error": TEXT}`` when the
checks themselves raised (a bug, not a bad package: the node logs it once and the
worker goes on). The protocol uses a private copy of the
original stdout; file descriptor 1 is pointed at stderr, so anything a model
prints cannot corrupt a report.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

TRACEBACK_FRAMES = 12
MAX_TRACEBACK_CHARS = 8000


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        os.nice(5)  # checks yield the CPU to searches
    except OSError:
        pass
    from engine.checks import check_package
    from lwnode.node.checker import options_from_json

    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = check_package(request["path"],
                                   options_from_json(request["options"])).to_dict()
        except Exception as exc:  # a bug of the checks, not a bad package: say so
            answer = {"internal_error": internal_error(exc)}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


def internal_error(exc: BaseException) -> str:
    """A bounded summary of an unexpected exception: its type, message and the last
    frames (a `RecursionError` has thousands), for the node to log once."""
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__,
                                        limit=-TRACEBACK_FRAMES)
    return "".join(frames)[-MAX_TRACEBACK_CHARS:]


if __name__ == "__main__":
    sys.exit(main())
