"""What a node keeps when its disk budget runs out (``[replication] max_disk_mb``).

A pure decision, no I/O: given the bytes the node uses on disk (its database and its
persisted index), the budget, and counts of the peers' learnwares it stores by data
type and scenario tag, `decide` says whether to keep going, to narrow the replication
filter to the node's interests, or to stop taking new peers' learnwares. The node
applies it in one place (`NodeService.check_disk`).

Why a budget: keeping every peer's signed summary costs ~1.6 kB a learnware on disk
(docs/benchmarks.md), 1.6 GB at a million; and a disk that grows with whatever peers
announce is also a way for hostile peers to fill it with legal announcements. A
bounded disk defends against both.

**Interests**, in this order (docs/operations.md, "Disk budget"):

1. the configured ``[replication]`` filter: the node never keeps more than it; when it
   names scenarios, those are the node's interests and there is nothing narrower to
   choose;
2. the scenario tags of the node's own learnwares (most used first);
3. the tags of the requirements its own users searched (most searched first;
   only searches with the node's token count: `NodeService.search`);
4. when 2 and 3 are both empty: the data types of its own learnwares.

**Rules** (each keeps the node from flapping):

- Over the budget, the node narrows to the widest rung of its interests whose
  estimate fits in `LOW_WATER` of the budget (so that it has room to grow before the
  next decision): first the tags of 2 and 3, then those of 2 alone, then of those the
  tags most of its own learnwares carry (the domains it serves most: a large
  organization publishes a little in many), one fewer at a time; or else the data
  types of 4. A rung is always cut to what the current filter keeps: while its
  interests stay, an automatic filter only ever narrows.
- **With no interests at all** (no configured scenarios, no own learnwares, no
  searches: a node that only relays, or one upgraded over the budget), the last rung
  keeps the **most common tags** of the peers' learnwares it stores (`popular`): the
  tags by count, each added while the estimate still fits in `LOW_WATER` of the
  budget (a tag that does not fit is passed over for the next), at most `MAX_TAGS`.
  That is the share of the market most searches will want, and the part a routed
  search is most often sent for.
- **A later interest widens once.** A filter remembers the interest tags it was
  chosen from (`Decision.considered`; none for the popular and data-type rungs).
  When the node has an interest it did not have then (its users searched a new tag,
  it published under a new one), it chooses again: a filter chosen with no tag
  interests is chosen anew from the configured filter (the interests' rungs, not cut
  to the current filter: the popular tags go, the interests come); a filter chosen
  from interests gets the new tags added. Either only if the estimate fits in
  `LOW_WATER` (it counts the learnwares the node stores: those of a tag it dropped
  count 0, so they come back by sync, and if they take it over the budget the usual
  narrowing applies). The new tags are then among those considered, so each new
  interest widens at most once: no flapping between two filters.
- When no rung fits, or there is none, the node keeps what it has and stops taking
  new peers' learnwares (its own are always kept, and updates and withdrawals of those
  it holds still arrive); it takes them again once it is under `LOW_WATER` of the
  budget (peers withdrew, or the operator raised it).
- The estimate of a filter is an upper bound: the mean bytes of a stored record times
  the records it would keep, a record with several of the filter's tags counted once
  per tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from engine.specification.semantic import MAX_TAGS
from protocol.replication import ReplicationFilter

LOW_WATER = 0.9
"""Share of the budget a narrowed filter must fit in (and the level under which a node
that stopped taking new learnwares takes them again)."""

SEARCHED_TAGS_KEPT = 64
"""Distinct tags of users' searches a node remembers (the least searched go first)."""


@dataclass(frozen=True)
class Tally:
    """What the store holds, counted for `decide` (`Store.tally`).

    `records` counts every stored record (own, peers', withdrawals); `peers` the
    peers' announcements; `peers_by_type` those by data type; `peers_by_tag` those by
    (data type, scenario tag), a record once per tag (an untagged record is under
    tag ""); `own_tags` and `own_types` count the node's own active learnwares.
    """

    records: int = 0
    peers: int = 0
    peers_by_type: Mapping[str, int] = field(default_factory=dict)
    peers_by_tag: Mapping[tuple[str, str], int] = field(default_factory=dict)
    own_tags: Mapping[str, int] = field(default_factory=dict)
    own_types: Mapping[str, int] = field(default_factory=dict)

    def peers_kept(self, holds: ReplicationFilter) -> int:
        """An upper bound of the peers' announcements `holds` keeps (exact without
        scenarios)."""
        if not holds.scenarios:
            return sum(n for t, n in self.peers_by_type.items()
                       if not holds.data_types or t in holds.data_types)
        return sum(n for (t, tag), n in self.peers_by_tag.items()
                   if (not holds.data_types or t in holds.data_types)
                   and tag in holds.scenarios)

    def estimate(self, used: int, holds: ReplicationFilter) -> int:
        """Bytes the store and index would use keeping `holds` (an upper bound)."""
        per_record = used / max(1, self.records)
        others = self.records - self.peers  # own records and withdrawals: all kept
        return int(per_record * (others + min(self.peers, self.peers_kept(holds))))


Action = Literal["keep", "narrow", "widen", "stop", "resume"]


@dataclass(frozen=True)
class Decision:
    """`action` and the filter to keep after it (`keeps`), with why, in words;
    `considered`: the interest tags a new filter was chosen from (narrow, widen)."""

    action: Action
    keeps: ReplicationFilter
    why: str = ""
    considered: tuple[str, ...] = ()


def interest_tags(tally: Tally, searched: Mapping[str, int]) -> list[str]:
    """The node's own tags (most used first), then its users' searched tags."""
    return list(dict.fromkeys(_by_count(tally.own_tags) + _by_count(searched)))


def interests(configured: ReplicationFilter, tally: Tally, searched: Mapping[str, int]
              ) -> list[ReplicationFilter]:
    """The rungs a node may narrow to, widest first (see the module doc)."""
    if configured.scenarios:
        return []
    types = configured.data_types
    own = _by_count(tally.own_tags)
    tags = interest_tags(tally, searched)[:MAX_TAGS]
    if tags:
        rungs = [ReplicationFilter(types, tuple(tags))]
        for n in range(min(len(own), MAX_TAGS), 0, -1):  # then the own tags most used
            rung = ReplicationFilter(types, tuple(own[:n]))
            if rung != rungs[-1]:
                rungs.append(rung)
        return rungs
    own_types = [t for t in _by_count(tally.own_types) if not types or t in types]
    return [ReplicationFilter(tuple(own_types))] if own_types else []


def popular(used: int, budget: int, tally: Tally, current: ReplicationFilter
            ) -> ReplicationFilter | None:
    """The most common tags of the peers' learnwares stored (within `current`), each
    added while the estimate fits in `LOW_WATER` of `budget`; None if none fits."""
    counts: dict[str, int] = {}
    for (data_type, tag), n in tally.peers_by_tag.items():
        if tag and (not current.data_types or data_type in current.data_types) and \
                (not current.scenarios or tag in current.scenarios):
            counts[tag] = counts.get(tag, 0) + n
    fit, tags = LOW_WATER * budget, list[str]()
    for tag in _by_count(counts):
        if len(tags) == MAX_TAGS:
            break
        if tally.estimate(used, ReplicationFilter(current.data_types,
                                                  (*tags, tag))) <= fit:
            tags.append(tag)
    return ReplicationFilter(current.data_types, tuple(tags)) if tags else None


def within(rung: ReplicationFilter, current: ReplicationFilter) -> ReplicationFilter | None:
    """`rung` cut to what `current` keeps (None if nothing of it is left)."""
    types = tuple(t for t in rung.data_types or current.data_types
                  if not current.data_types or t in current.data_types)
    tags = tuple(t for t in rung.scenarios or current.scenarios
                 if not current.scenarios or t in current.scenarios)
    if (rung.data_types and not types) or (rung.scenarios and not tags):
        return None
    return ReplicationFilter(types, tags)


def decide(used: int, budget: int, *, current: ReplicationFilter,
           configured: ReplicationFilter, taking_new: bool, tally: Tally | None = None,
           searched: Mapping[str, int] | None = None,
           considered: tuple[str, ...] | None = None) -> Decision:
    """What to do with `used` bytes on disk against `budget` (0: no limit).

    `tally` is needed only when `used` is over the budget and the node still takes
    new learnwares, or when its interests changed since its automatic filter was
    chosen (the caller counts then, not at every check). `considered`: the interest
    tags the current automatic filter was chosen from (None: the configured filter
    is in force); with a `tally`, a new interest widens it once (module doc).
    """
    searched = searched or {}
    if budget > 0 and considered is not None and tally is not None and taking_new:
        wider = _widen(used, budget, current, configured, tally, searched, considered)
        if wider is not None:
            return wider
    if budget <= 0 or used <= budget:
        if not taking_new and (budget <= 0 or used <= LOW_WATER * budget):
            return Decision("resume", current, f"{_mb(used)} on disk, under "
                                               f"{LOW_WATER:.0%} of the budget {_mb(budget)}")
        return Decision("keep", current)
    if not taking_new:
        return Decision("keep", current)
    if tally is None:
        raise ValueError("decide: over the budget, a tally of the store is needed")
    fit = LOW_WATER * budget
    tags = tuple(interest_tags(tally, searched))
    rungs = interests(configured, tally, searched)
    for rung in rungs:
        narrowed = within(rung, current)
        if narrowed is None or narrowed == current:
            continue
        estimate = tally.estimate(used, narrowed)
        if estimate <= fit:
            return Decision("narrow", narrowed,
                            f"{_mb(used)} on disk, over the budget {_mb(budget)}: keeping "
                            f"peers' {narrowed.describe()} (~{_mb(estimate)})", tags)
    common = None if rungs or configured.scenarios else popular(used, budget, tally, current)
    if common is not None and common != current:
        return Decision("narrow", common,
                        f"{_mb(used)} on disk, over the budget {_mb(budget)}, and no "
                        f"interests yet: keeping the most common tags, peers' "
                        f"{common.describe()} (~{_mb(tally.estimate(used, common))})", ())
    reason = ("nothing to narrow to (no configured, own or searched interests, and no "
              "common tag fits)" if not rungs else "its interests do not fit in it either")
    return Decision("stop", current,
                    f"{_mb(used)} on disk, over the budget {_mb(budget)}, and {reason}: "
                    "keeping what it has, taking no new peers' learnwares")


def new_interests(tally: Tally, searched: Mapping[str, int], considered: tuple[str, ...],
                  current: ReplicationFilter) -> bool:
    """Has the node interests its automatic filter `current` was not chosen from?
    (`tally` needs only the own counts.) Tags not `considered`, or own data types
    when it keeps common tags (chosen with no interests at all)."""
    if any(t not in considered for t in interest_tags(tally, searched)):
        return True
    return not considered and bool(current.scenarios) and bool(tally.own_types)


def _widen(used: int, budget: int, current: ReplicationFilter,
           configured: ReplicationFilter, tally: Tally, searched: Mapping[str, int],
           considered: tuple[str, ...]) -> Decision | None:
    """A filter chosen automatically, widened for interests it was not chosen from."""
    tags = interest_tags(tally, searched)
    new = [t for t in tags if t not in considered]
    if configured.scenarios or not new_interests(tally, searched, considered, current):
        return None
    fit = LOW_WATER * budget
    if considered and current.scenarios:  # chosen from interests: add the new ones
        room = MAX_TAGS - len(current.scenarios)
        added = [t for t in new if t not in current.scenarios][:room]
        rungs = [ReplicationFilter(current.data_types, (*current.scenarios, *added))
                 ] if added else []
    else:  # chosen with no tag interests: choose anew from the configured filter
        rungs = interests(configured, tally, searched)
    for rung in rungs:
        if rung == current:
            return None
        estimate = tally.estimate(used, rung)
        if estimate <= fit:
            return Decision("widen", rung,
                            f"new interests ({', '.join(new) or 'own data types'}): "
                            f"keeping peers' {rung.describe()} (~{_mb(estimate)} estimated "
                            f"from what it holds)", tuple(tags))
    return None


def _by_count(counts: Mapping[str, int]) -> list[str]:
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if k]


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"
