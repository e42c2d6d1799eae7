"""Run every benchmark in turn; each prints its own markdown table.

    python -m benchmarks            # all (long: the reference side takes minutes)
    python -m benchmarks spec_fit   # one or several by name

The figures in docs/benchmarks.md come from these commands.
"""

from __future__ import annotations

import subprocess
import sys

ALL = ["spec_fit", "search_bench", "image_spec", "text_spec", "reuse_synthetic", "reuse_mnist",
       "reuse_birthdays", "hetero_bench", "search_bounds", "privacy_bench",
       "p2p_bench", "node_bench", "http_hostile", "federation_bench", "soak_hostile",
       "network_sim", "rerank_birthdays"]


def main(argv: list[str]) -> int:
    names = argv or ALL
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ALL)}",
              file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        print(f"\n## {name}\n", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"benchmarks.{name}"]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
