"""What a node replicates (1.4): a filter on the learnwares' semantic specs.

A node may keep only part of the network's catalog (docs/protocol.md section 8.1):
the learnwares of some data types, or those tagged with some scenarios. It says so
in its anti-entropy digests, so that two nodes compare fingerprints over the same
part, and it asks peers for that part only; routed search still reaches the rest.

A record matches a filter when its data type is one of `data_types` (none listed:
any) and, when `scenarios` lists any, it carries at least one of them. Withdrawals
match every filter: they are small, and a node that never held the learnware keeps
them only so that digests agree (section 8).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.specification.semantic import MAX_TAG_CHARS, MAX_TAGS
from engine.vocabulary import DataType
from protocol.errors import ProtocolError
from protocol.validate import check_items, check_str

MAX_FILTERS = 2
"""Filters one sync request may list (this node sends one: its own)."""
FILTER_CHANGE_SECONDS = 60.0
"""A peer may change the filter its digests state once a minute: a digest under a new
filter recomputes every owner's fingerprint (a pass over the store), which a hostile
peer must not be able to ask for at will. A node that narrows its own filter (over its
disk budget) waits as long between changes."""


@dataclass(frozen=True)
class ReplicationFilter:
    """Which learnwares a node keeps (see the module doc); the empty filter keeps all.

    Both fields are kept sorted and unique, so equal filters have equal wire bytes.
    """

    data_types: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        types = check_items(self.data_types, "ReplicationFilter.data_types", len(DataType))
        known = {t.value for t in DataType}
        for i, value in enumerate(types):
            check_str(value, f"ReplicationFilter.data_types[{i}]", 16)
            if value not in known:
                raise ProtocolError(f"ReplicationFilter.data_types[{i}]: {value!r} is not one "
                                    f"of {sorted(known)}")
        tags = check_items(self.scenarios, "ReplicationFilter.scenarios", MAX_TAGS)
        for i, value in enumerate(tags):
            check_str(value, f"ReplicationFilter.scenarios[{i}]", MAX_TAG_CHARS, min_chars=1)
        object.__setattr__(self, "data_types", tuple(sorted(set(types))))
        object.__setattr__(self, "scenarios", tuple(sorted({t.strip().lower() for t in tags})))

    @property
    def keeps_all(self) -> bool:
        return not self.data_types and not self.scenarios

    def matches(self, data_type: str, scenarios: Iterable[str]) -> bool:
        """Whether a learnware of this data type and these scenario tags is kept."""
        if self.data_types and data_type not in self.data_types:
            return False
        return not self.scenarios or not set(self.scenarios).isdisjoint(scenarios)

    def describe(self) -> str:
        """The filter in words, for logs and the health page."""
        if self.keeps_all:
            return "every learnware"
        parts = []
        if self.data_types:
            parts.append("of data type " + " or ".join(self.data_types))
        if self.scenarios:
            parts.append("tagged " + " or ".join(self.scenarios))
        return "learnwares " + ", ".join(parts)

    def to_dict(self) -> dict[str, list[str]]:
        return {"data_types": list(self.data_types), "scenarios": list(self.scenarios)}


KEEP_ALL = ReplicationFilter()


def narrowing(filters: Iterable[ReplicationFilter]) -> tuple[ReplicationFilter, ...]:
    """The filters that restrict anything, unique, in a canonical order."""
    kept = {f for f in filters if not f.keeps_all}
    return tuple(sorted(kept, key=lambda f: (f.data_types, f.scenarios)))
