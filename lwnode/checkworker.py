"""A check worker process: ``python -m lwnode.checkworker`` (started by `lwnode.checker`).

Reads one JSON request per line on stdin (``{"path": ..., "options": {...}}``) and
writes one JSON check report per line. The protocol uses a private copy of the
original stdout; file descriptor 1 is pointed at stderr, so anything a model
prints cannot corrupt a report.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        os.nice(5)  # checks yield the CPU to searches
    except OSError:
        pass
    from engine.checks import check_package
    from lwnode.checker import options_from_json

    for line in sys.stdin:
        request = json.loads(line)
        report = check_package(request["path"], options_from_json(request["options"]))
        out.write(json.dumps(report.to_dict()) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
