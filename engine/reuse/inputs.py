"""What a reuser takes: the user's raw inputs, of any spec type, and the two views of
them that reuse needs.

The contract (docs/reuse.md, "What a reuser takes"):

- the user gives **raw inputs of one kind**, the kind the learnwares' specs were made
  from: table rows (2-D numbers), images (``(N, H, W)`` or ``(N, C, H, W)`` numbers)
  or texts (a sequence of str, or `TextEmbeddings` from `embed_texts`; a 2-D matrix
  of unit-norm 384-d rows is read as such embeddings, which is how a node hands text
  over in a ``.npy``);
- `UserInputs.rows` is **what the models receive** and what `FeatureAugment` stacks
  as the user's own features: one numeric row per input — table rows as given,
  images flattened (a TorchScript wrapper reshapes them back to its
  ``input_shape``), texts as their sentence embeddings (a packaged text model takes
  numbers: the embeddings of its spec's encoder);
- `UserInputs.in_space(spec)` is **what routing and kernel work use**: the spec's
  own `transform` of the raw inputs into its comparison space (identity for tables,
  the fixed conv feature map for images, the encoder for texts), computed once per
  space and cached, so texts are embedded once per call, not once per learnware.

The kind expected is decided by the learnwares (`expected_kind`): image specs want
images, text specs want texts; table learnwares among image (text) learnwares get
the flattened images (the embeddings). Learnwares of image and text specs together
are refused: no one input serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.errors import ReuseError, SpecError
from engine.learnware import Learnware
from engine.specification.rkme import RKMESpec, check_matrix

Array = NDArray[np.float64]

TABLE, IMAGE, TEXT = "table", "image", "text"
_KIND_OF_SPEC = {"rkme_table": TABLE, "rkme_image": IMAGE, "rkme_text": TEXT}


def expected_kind(learnwares: Sequence[Learnware]) -> str:
    """The kind of raw input the learnwares take: ``"table"``, ``"image"`` or ``"text"``."""
    kinds = {_KIND_OF_SPEC.get(lw.spec.kind, TABLE) for lw in learnwares}
    if {IMAGE, TEXT} <= kinds:
        ids = {lw.id: lw.spec.kind for lw in learnwares if lw.spec.kind != "rkme_table"}
        raise ReuseError(f"learnwares: image and text learnwares together {ids}; no one "
                         "input serves both, reuse them separately")
    for kind in (IMAGE, TEXT):
        if kind in kinds:
            return kind
    return TABLE


def _is_text_sequence(x: object) -> bool:
    if isinstance(x, str | bytes | bytearray | Mapping):
        return False
    if isinstance(x, np.ndarray):
        return x.ndim == 1 and x.dtype.kind in "UO" and any(isinstance(v, str) for v in x)
    return isinstance(x, Sequence) and any(isinstance(v, str) for v in x)


class UserInputs:
    """The user's raw inputs, validated once, with their model rows and spec-space views.

    Build with `check_inputs`; reusers pass it around instead of re-validating.
    """

    def __init__(self, kind: str, raw: Any, rows: Array) -> None:
        self.kind = kind
        self.raw = raw
        self.rows = rows
        """One numeric row per input: what the models receive (see the module doc)."""
        self.n = len(rows)
        self._spaces: dict[str, Array] = {}

    def in_space(self, spec: RKMESpec) -> Array:
        """The inputs in `spec`'s comparison space (its `transform`), cached per space."""
        key = spec.space
        if key not in self._spaces:
            if self.kind == IMAGE and spec.kind == "rkme_image":
                source: Any = self.raw
            elif self.kind == TEXT and spec.kind == "rkme_text":
                source = self.raw  # TextEmbeddings: the spec checks their encoder space
            else:
                source = self.rows
            try:
                self._spaces[key] = spec.transform(source)
            except (SpecError, ValueError) as exc:
                raise ReuseError(f"X: {exc}") from None
        return self._spaces[key]

    def __len__(self) -> int:
        return self.n


def _as_embeddings(rows: Array) -> Any:
    from engine.specification.text import TextEmbeddings

    try:
        return TextEmbeddings(rows)
    except SpecError as exc:
        raise ReuseError(f"X: text learnwares take texts or their sentence embeddings; "
                         f"{exc}") from None


def _embeddings(texts: Any) -> Any:
    from engine.specification.text import TextEmbeddings, embed_texts

    if isinstance(texts, TextEmbeddings):
        return texts
    try:
        return embed_texts(texts)
    except SpecError as exc:
        raise ReuseError(f"X: {exc}") from None


def check_inputs(x: ArrayLike | UserInputs | Any, kind: str, width: int | None,
                 what: str = "X") -> UserInputs:
    """Validate the user's raw inputs of `kind` (see the module doc); `width` is the
    number of values per model row the learnwares declare (None: unknown)."""
    if isinstance(x, UserInputs):
        if x.kind != kind:
            raise ReuseError(f"{what}: {x.kind} inputs, the learnwares take {kind} inputs")
        return x
    if kind == TEXT:
        return _check_texts(x, width, what)
    if kind == IMAGE:
        return _check_images(x, width, what)
    try:
        rows = check_matrix(x, what, width)
    except SpecError as exc:
        raise ReuseError(str(exc)) from None
    return UserInputs(TABLE, rows, rows)


def _check_images(x: Any, width: int | None, what: str) -> UserInputs:
    from engine.specification.image import check_images

    try:
        images = check_images(x)
    except SpecError as exc:
        raise ReuseError(f"{what}: image learnwares take images, (N, H, W) or (N, C, H, W); "
                         f"{str(exc).removeprefix('images: ')}") from None
    rows = images.reshape(len(images), -1)
    if width is not None and rows.shape[1] != width:
        raise ReuseError(f"{what}: images of shape {images.shape[1:]} have {rows.shape[1]} "
                         f"values each, the learnwares take {width}")
    return UserInputs(IMAGE, images, rows)


def _check_texts(x: Any, width: int | None, what: str) -> UserInputs:
    from engine.specification.text import TextEmbeddings, check_texts

    if isinstance(x, TextEmbeddings):
        raw: Any = x
    elif _is_text_sequence(x):
        try:
            raw = _embeddings(check_texts(list(x)))  # once: models and routing share them
        except SpecError as exc:
            raise ReuseError(f"{what}: {exc}") from None
    else:
        try:
            matrix = check_matrix(x, what)
        except SpecError as exc:
            raise ReuseError(f"{what}: text learnwares take a sequence of str or their "
                             f"sentence embeddings; {str(exc).removeprefix(what + ': ')}"
                             ) from None
        raw = _as_embeddings(matrix)
    rows = np.array(raw.vectors)
    if width is not None and rows.shape[1] != width:
        raise ReuseError(f"{what}: expected {width} features, got embeddings of shape "
                         f"{rows.shape}")
    return UserInputs(TEXT, raw, rows)


__all__ = ["IMAGE", "TABLE", "TEXT", "UserInputs", "check_inputs", "expected_kind"]
