"""RKME of text: offline sentence embeddings, then a table RKME in that 384-d space.

Texts are embedded by the packaged all-MiniLM-L6-v2 (`engine.text_encoder`, the
optional `text` extra) into unit vectors; the spec is an ordinary RKME of those
vectors. Its `space` names the encoder (model, weight digest, pooling,
normalisation, truncation), so a text spec is only ever compared with specs from
the same encoder: `mmd2` refuses a table spec of the same dimension, and
`from_dict` refuses a spec from another encoder.

Embedding is the slow part (~60 texts/s on 2 cores); the RKME itself takes
milliseconds. `embed_texts` returns a `TextEmbeddings` that `fit`, `transform` and
`mmd2` accept in place of the texts, so a caller embeds once and fits or compares
many times. Reading and comparing specs needs no extra; only embedding does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from engine import text_encoder
from engine.errors import SpecError
from engine.specification.rkme import Array, RKMESpec, check_matrix

MAX_TEXT_CHARS = 100_000
_NORM_TOLERANCE = 1e-4


def check_texts(texts: object) -> list[str]:
    """Validate a non-empty sequence of non-blank strings; return it as a list.

    A single string, bytes, a mapping or a 2-D array is refused (each would
    otherwise be iterated into something that is not a list of documents); every
    element must be a `str` of at most `MAX_TEXT_CHARS` characters with some
    non-whitespace content. Errors name the offending index.
    """
    if isinstance(texts, str | bytes | bytearray | Mapping) or texts is None:
        raise SpecError(f"texts: expected a sequence of str, got {type(texts).__name__}")
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise SpecError(f"texts: expected a 1-D sequence of str, got array of shape "
                        f"{texts.shape}")
    if not isinstance(texts, Iterable):
        raise SpecError(f"texts: expected a sequence of str, got {type(texts).__name__}")
    items = list(texts)
    if not items:
        raise SpecError("texts: empty sequence (need at least one text)")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise SpecError(f"texts[{i}]: expected str, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise SpecError(f"texts[{i}]: {len(text)} characters, at most {MAX_TEXT_CHARS}")
        if not text.strip():
            raise SpecError(f"texts[{i}]: empty or whitespace-only text")
    return [str(t) for t in items]


@dataclass(frozen=True, eq=False)
class TextEmbeddings:
    """Sentence embeddings of a list of texts, tagged with the space they live in.

    Made by `embed_texts`; accepted wherever a text spec takes texts, so the
    expensive embedding runs once per corpus. Validated on construction: (n, 384),
    finite, unit-norm rows.
    """

    vectors: Array
    space: str = text_encoder.SPACE

    def __post_init__(self) -> None:
        vectors = check_matrix(self.vectors, "embeddings", dim=text_encoder.DIM)
        norms = np.linalg.norm(vectors, axis=1)
        if np.abs(norms - 1.0).max() > _NORM_TOLERANCE:
            raise SpecError("embeddings: rows must be unit-norm sentence embeddings, got norms "
                            f"in [{norms.min():.4g}, {norms.max():.4g}]")
        vectors.setflags(write=False)
        object.__setattr__(self, "vectors", vectors)

    def __len__(self) -> int:
        return len(self.vectors)


def embed_texts(texts: Sequence[str], *, batch_size: int = text_encoder.BATCH_SIZE
                ) -> TextEmbeddings:
    """Validate and embed texts (needs the `text` extra; the model is cached per process)."""
    return TextEmbeddings(text_encoder.encode(check_texts(texts), batch_size=batch_size))


class RKMETextSpec(RKMESpec):
    """RKME of a text corpus in the all-MiniLM-L6-v2 sentence-embedding space.

    Parameters
    ----------
    n_points : int, default 100
        Size K of the reduced set (at most the number of texts).
    gamma : float or "auto", default "auto"
        Gaussian kernel parameter on the unit-norm embeddings; "auto" is the median
        heuristic snapped to a power of two.
    refine_steps : int, default 5
        Gradient refinements of the points after k-means seeding (0 to skip).
    random_state : int or None
        Seed for the subsampling and the k-means++ seeding.

    `fit`, `transform` and `mmd2` take a sequence of str or a `TextEmbeddings`.
    """

    kind = "rkme_text"

    def fit(self, x: ArrayLike | TextEmbeddings) -> RKMETextSpec:
        """Embed the texts (unless given `TextEmbeddings`) and fit the RKME; returns self."""
        super().fit(cast(ArrayLike, x))
        return self

    def _to_vectors(self, x: object) -> Array:
        if isinstance(x, TextEmbeddings):
            if x.space != text_encoder.SPACE:
                raise SpecError(f"embeddings: from space {x.space!r}, this spec embeds into "
                                f"{text_encoder.SPACE!r}")
            return np.array(x.vectors)
        return text_encoder.encode(check_texts(x))

    @property
    def space(self) -> str:
        self._check_fitted()
        return text_encoder.SPACE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RKMETextSpec:
        """Rebuild a fitted text spec; refuses specs from any other encoder."""
        if isinstance(data, Mapping) and data.get("type") == cls.kind and (
                data.get("space") != text_encoder.SPACE):
            raise SpecError(f"spec.space: text spec from encoder space {data.get('space')!r}; "
                            f"this version reads only {text_encoder.SPACE!r}")
        return cast(RKMETextSpec, super().from_dict(data))

    def _restore_extra(self, params: Mapping[str, Any]) -> None:
        if self.points_.shape[1] != text_encoder.DIM:
            raise SpecError(f"spec.points: text spec points must have {text_encoder.DIM} "
                            f"columns, got shape {self.points_.shape}")
