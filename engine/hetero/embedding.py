"""Column texts in one shared vector space: the packaged all-MiniLM-L6-v2, cached.

Every organization embeds column descriptions with the same pinned model
(`engine.text_encoder`, offline; the ``text`` extra), so cosine similarity between
two columns' vectors says how alike their meanings are, whoever wrote them.

Embedding costs ~1/60 s per text on two cores, while the same few column texts recur
in every search (a catalog's learnwares share most of their schemas), so vectors
are cached by text in memory (never on disk: the engine does no hidden disk I/O).
The cache is bounded; the oldest texts go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Encoder = Callable[[Sequence[str]], Array]

DEFAULT_MAX_CACHED = 200_000


class ColumnEmbedder:
    """Unit vectors of column texts, cached by text.

    Parameters
    ----------
    encode : callable or None
        ``encode(texts) -> (n, dim)`` unit rows. None uses the packaged MiniLM
        (`engine.text_encoder.encode`), loaded on first use.
    max_cached : int
        Texts kept in the cache (float32, 1.5 kB each for MiniLM).
    """

    def __init__(self, encode: Encoder | None = None, *,
                 max_cached: int = DEFAULT_MAX_CACHED) -> None:
        self._encode = encode
        self.max_cached = max_cached
        self._cache: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self.encoded = 0  # texts actually sent to the encoder (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self._cache)

    def embed(self, texts: Sequence[str]) -> Array:
        """(len(texts), dim) unit rows in input order; unseen texts are encoded once."""
        texts = list(texts)
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            vectors = self._run(todo)
            with self._lock:
                for text, vec in zip(todo, vectors, strict=True):
                    self._cache[text] = vec.astype(np.float32)
                self.encoded += len(todo)
        with self._lock:
            rows = []
            for t in texts:
                vec = self._cache.get(t)
                if vec is None:  # evicted by a concurrent call: encode again
                    vec = self._run([t])[0].astype(np.float32)
                else:
                    self._cache.move_to_end(t)
                rows.append(vec)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, 0))
        out = np.vstack(rows).astype(np.float64)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _run(self, texts: list[str]) -> Array:
        if self._encode is None:
            from engine import text_encoder

            return text_encoder.encode(texts)
        return np.asarray(self._encode(texts), dtype=np.float64)


_default: ColumnEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> ColumnEmbedder:
    """The process-wide embedder over the packaged MiniLM (shared cache)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ColumnEmbedder()
        return _default
