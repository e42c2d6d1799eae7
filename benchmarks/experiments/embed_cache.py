"""Sentence embeddings cached on disk, so only the first run pays for the encoder.

Embedding is the slow part of the text experiment (~12 reviews/s on 2 shared
cores; the RKME fits and every reuser take seconds). Texts are embedded in fixed
chunks; each chunk is stored as ``.bench-cache/minilm/<key>.npy`` in the repository
root (gitignored), where the key is the sha256 of the encoder's `SPACE` and the
chunk's texts. A changed text, a different subsample or another encoder therefore
misses the cache instead of reading stale vectors, and an interrupted first run
keeps the chunks it finished.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine import text_encoder
from engine.specification.text import embed_texts

CACHE_DIR = Path(__file__).resolve().parents[2] / ".bench-cache" / "minilm"
CHUNK = 250


def chunk_key(texts: Sequence[str]) -> str:
    """Content hash of one chunk, bound to the encoder's space."""
    digest = hashlib.sha256(text_encoder.SPACE.encode())
    for text in texts:
        data = text.encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def cached_embeddings(texts: Sequence[str], cache_dir: Path = CACHE_DIR,
                      chunk: int = CHUNK) -> np.ndarray:
    """Unit-norm embeddings of `texts`, shape (n, 384), read from or added to the cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts, started, fresh = [], time.perf_counter(), 0
    for lo in range(0, len(texts), chunk):
        piece = list(texts[lo:lo + chunk])
        path = cache_dir / f"{chunk_key(piece)}.npy"
        if path.exists():
            parts.append(np.load(path))
            continue
        vectors = embed_texts(piece).vectors
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, path)
        parts.append(vectors)
        fresh += len(piece)
        print(f"  embedded {lo + len(piece)}/{len(texts)} texts "
              f"({fresh / (time.perf_counter() - started):.1f}/s; cached in {cache_dir})",
              file=sys.stderr, flush=True)
    return np.concatenate(parts)
