"""The figure of docs/scale.md from a `network_sim` result (``--plot PATH``).

Left: how long a new learnware takes to be findable (CDF over the probes). Right:
per-node storage of today's design against the number of learnwares — the measured
point, and straight lines through the measured bytes per learnware (dashed: an
extrapolation), beside the issue's 1 GB target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.network_sim import SimResult

TARGET_BYTES = 1e9
TARGET_FINDABLE_S = 30.0


def plot(r: SimResult, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for values, label in (([p.to_99 for p in r.probes], "99 % of online nodes"),
                          ([p.to_all for p in r.probes], "every online node")):
        xs = np.sort([v for v in values if np.isfinite(v)])  # inf: not reached in time
        left.step(xs, np.arange(1, len(xs) + 1) / len(values), where="post", label=label)
    left.set_xlabel("seconds from publication (simulated: link delays and modelled intake)"
                    if r.config.clock == "virtual" else
                    "seconds from publication (wall clock, one process)")
    left.set_ylabel("share of new learnwares findable")
    left.set_title(f"Findable from ... ({r.online} online of {r.config.nodes} nodes)")
    left.text(0.98, 0.05, f"target: 99 % of online nodes within {TARGET_FINDABLE_S:g} s",
              transform=left.transAxes, ha="right", fontsize=8, color="tab:red")
    left.legend(fontsize=8, loc="center right")

    held = np.mean([h for h, _, _ in r.stored])
    n = np.logspace(np.log10(min(held, 1e3)), 6, 31)
    measured = np.mean([s + k for _, s, k in r.stored])
    right.plot(n, n * measured / held, color="black", ls="--", label="this market's mix")
    right.plot([held], [measured], "ko", label=f"measured ({held:,.0f} learnwares)")
    for space, (env, cat) in r.by_space.items():
        right.plot(n, n * (env + cat), ls=":", label=f"all {space}")
    right.axhline(TARGET_BYTES, color="tab:red", lw=1, label="target: 1 GB at 1,000,000")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("learnwares in the network")
    right.set_ylabel("bytes stored per node (store + catalog)")
    right.set_title(f"Per-node storage, {r.config.design} design, keep {r.config.keep}")
    right.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
