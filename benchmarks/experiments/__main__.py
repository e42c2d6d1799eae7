"""Run the experiments and write their results under docs/results/.

    python -m benchmarks.experiments            # the three reference-shaped ones (a few
                                                # minutes; the first text run also
                                                # embeds 5,000 reviews)
    python -m benchmarks.experiments text       # one or several by name
    python -m benchmarks.experiments held-out   # issue 16's held-out markets (diamonds,
                                                # ridership, survey: ~5 minutes each)
"""

from __future__ import annotations

import importlib
import sys
import time

ALL = ("tabular", "image", "text")
HELD_OUT = ("diamonds", "ridership", "survey")
"""The held-out markets of issue 16 (`heldout`): run by name, or with `held-out`."""


def main(argv: list[str]) -> int:
    names = [n for a in (argv or ALL) for n in (HELD_OUT if a == "held-out" else (a,))]
    unknown = sorted(set(names) - set(ALL) - set(HELD_OUT))
    if unknown:
        print(f"unknown experiment(s): {', '.join(unknown)}; choose from "
              f"{', '.join((*ALL, *HELD_OUT, 'held-out'))}", file=sys.stderr)
        return 2
    for name in names:
        started = time.perf_counter()
        print(f"{name}: running ...", flush=True)
        outcome = importlib.import_module(f"benchmarks.experiments.{name}").run()
        print(f"{name}: {time.perf_counter() - started:.0f} s; gap target "
              f"{'MET' if outcome.gap.met else 'MISSED'} ({outcome.gap.best_method} "
              f"{outcome.gap.share:.0%}); label target "
              f"{'MET' if outcome.labels.met else 'MISSED'} (reuse wins up to "
              f"{outcome.labels.upto} labels); wrote "
              f"{', '.join(str(p) for p in outcome.files)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
