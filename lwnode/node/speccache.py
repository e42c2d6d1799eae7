"""`SpecCache`: full statistical specs fetched by content id, bounded in bytes.

A node that keeps only the summary of a learnware (schema 1.3: ids and sketches)
fetches the full specs of a search's shortlist from the owner or a peer. They are
kept here, least recently used first out, so the next search over the same region of
the market costs no fetch, and the node serves them on to peers that ask
(``/lwdock/specs``). Only bytes whose content id was checked go in (`put` hashes
them again: a cache is no place to trust a caller), and a spec is decoded when read
(without checking its id again: `put` did), so what leaves the cache is what a peer
signed.

Thread-safe: searches read it from the search threads while fetches fill it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from engine.specification.rkme import RKMESpec
from protocol.codec import decode_spec
from protocol.content import content_id

DEFAULT_SPEC_CACHE_BYTES = 64 << 20
"""64 MiB: about 16,000 specs of a 10-column table, 400 of a 384-d text spec."""


class SpecCache:
    """Encoded specs by content id, at most `max_bytes` of them (LRU)."""

    def __init__(self, max_bytes: int = DEFAULT_SPEC_CACHE_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes: expected an integer >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, spec_id: object) -> bool:
        return spec_id in self._items

    @property
    def nbytes(self) -> int:
        return self._bytes

    def put(self, spec_id: str, data: bytes) -> bool:
        """Keep `data` under `spec_id` if it hashes to it; False (not kept) otherwise,
        or when one spec alone is larger than the whole cache."""
        if content_id(data) != spec_id or len(data) > self.max_bytes:
            return False
        with self._lock:
            old = self._items.pop(spec_id, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[spec_id] = bytes(data)
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
                self.evicted += 1
        return True

    def get_bytes(self, spec_id: str) -> bytes | None:
        with self._lock:
            data = self._items.get(spec_id)
            if data is None:
                self.misses += 1
                return None
            self._items.move_to_end(spec_id)
            self.hits += 1
            return data

    def get(self, spec_id: str) -> RKMESpec | None:
        """The decoded spec, None if not held."""
        data = self.get_bytes(spec_id)
        return None if data is None else decode_spec(data, spec_id, checked=True)

    def get_many_bytes(self, spec_ids: Iterable[str]) -> dict[str, bytes]:
        """The encoded specs held among `spec_ids` (as served to peers)."""
        out = {}
        for spec_id in spec_ids:
            data = self.get_bytes(spec_id)
            if data is not None:
                out[spec_id] = data
        return out

    def get_many(self, spec_ids: Iterable[str]) -> dict[str, RKMESpec]:
        """The decoded specs held among `spec_ids`."""
        return {i: decode_spec(data, i, checked=True)
                for i, data in self.get_many_bytes(spec_ids).items()}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def counters(self) -> dict[str, int]:
        return {"spec_cache_specs": len(self._items), "spec_cache_bytes": self._bytes,
                "spec_cache_hits": self.hits, "spec_cache_misses": self.misses,
                "spec_cache_evicted": self.evicted}
