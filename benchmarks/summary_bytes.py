"""Bytes a node keeps per learnware: today's signed announcement against its summary.

    python -m benchmarks.summary_bytes [--learnwares 400] [--points 50]

The learnwares are the network simulation's market (`benchmarks.network_sim`: tables
of 4-32 columns, 10 % text specs, K points each, Zipf-shared owners); each is signed
as today's `spec_announcement` and as the 1.3 draft's `spec_summary`
(`protocol.summary.summary_of`: each full spec replaced by its content id and a
256-feature int8 sketch). The sizes are those of the signed envelopes, what a node
stores per record; the last column scales the mean to 1,000,000 learnwares (issue
18's target: at most 1 GB a node, index included).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from benchmarks.common import print_table
from benchmarks.network_sim import FullReplication, Market, SimConfig
from protocol.codec import decode_envelope, decode_message, encode_envelope
from protocol.messages import SpecAnnouncement
from protocol.signing import Identity
from protocol.summary import summary_of


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learnwares", type=int, default=400)
    parser.add_argument("--points", type=int, default=50)
    args = parser.parse_args(argv)
    market = Market(SimConfig(learnwares=args.learnwares, points=args.points))
    owner = Identity.from_seed(bytes(32))
    sizes: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i in range(args.learnwares):
        envelope = decode_envelope(FullReplication().announce(owner, market.learnware(i),
                                                              i + 1).envelope)
        announcement = decode_message(envelope.payload, SpecAnnouncement)
        summary = owner.sign(summary_of(announcement))
        space = announcement.statistical[0].space  # a text space's name is long
        sizes[space if space.startswith("table") else "text/384-d"].append(
            (len(encode_envelope(envelope)), len(encode_envelope(summary))))
    rows = []
    every = [pair for pairs in sizes.values() for pair in pairs]
    for name, pairs in [*sorted(sizes.items()), ("all", every)]:
        full = sum(f for f, _ in pairs) / len(pairs)
        compact = sum(c for _, c in pairs) / len(pairs)
        rows.append([name, len(pairs), f"{full:,.0f}", f"{compact:,.0f}",
                     f"{full / compact:.1f}x", f"{full / 1e3:.2f} / {compact / 1e3:.2f}"])
    print_table(f"Stored bytes per learnware, K = {args.points}",
                ["space", "n", "announcement B", "summary B", "ratio",
                 "GB at 1M: full / summary"], rows)


if __name__ == "__main__":
    main()
