"""Sketches: a statistical spec in a few hundred bytes, the same on every node.

A sketch is the spec's kernel mean embedding in random Fourier features
(`engine.search.rff`), ``e = sum_k beta_k phi(z_k)`` with D features, quantised. The
feature map is a pure function of (sketch version, space, dimension, gamma, D): the
key ``lwdock-sketch/v<version>/<space>`` seeds it, so any node computes the same map
and the same sketch from the same spec, and a requirement's embedding is comparable
with every sketch of its space. Its size does not depend on K or d: D codes plus a
small header (D = 256, int8: about 300 bytes on the wire).

Quantisation. ``int8``: codes ``c = rint(e / s)`` with the per-sketch scale
``s = max_j |e_j| / 127`` (so the largest code is exactly +-127 and -128 is never
used: one encoding per vector). ``float16``: the embedding rounded to half precision.

Error (for ranking; the shortlist is re-ranked exactly on full specs):

- RFF: ``||e_q - e_i||^2`` estimates MMD^2(q, i). It is the mean over D features of
  ``2 (sum_k s_k cos(w . x_k + b))^2`` with s the signed weights of q - i
  (``||s||_1 <= 2``), i.i.d. terms in [0, 8] with mean MMD^2, so its standard
  deviation is at most ``sqrt(8 MMD^2 / D)``: O(1/sqrt(D)), and smaller for near
  matches. All sketches of a space share W, so the errors are correlated and the
  ranking is better than the values.
- int8: every ``|e_j| <= sqrt(2/D)`` (weights sum to 1), so the rounding error r has
  ``||r|| <= sqrt(D) s / 2 <= sqrt(2) / 254 ~= 0.0056`` whatever D, and the squared
  distance moves by at most ``2 ||e_q - e_i|| ||r|| + ||r||^2``. float16:
  ``||r|| <= 2^-11 ||e_i||``. `tests/unit/test_sketch.py` checks both bounds;
  `benchmarks/sketch_recall.py` measures recall of sketch-then-exact search.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.errors import SpecError
from engine.search.rff import RFFMap
from engine.specification.rkme import RKMESpec

Array = NDArray[np.float64]

SKETCH_VERSION: Final = 1
"""The sketch family this engine writes: the key format of the feature map above and
the quantisation rules. A change to either is a new version (old sketches stay
readable only by nodes that still know their version)."""
SKETCH_VERSIONS: Final = frozenset({1})
DEFAULT_SKETCH_FEATURES: Final = 256
SKETCH_DTYPES: Final[dict[str, np.dtype[Any]]] = {"int8": np.dtype("i1"),
                                                  "float16": np.dtype("<f2")}
MIN_SKETCH_FEATURES: Final = 16
MAX_SKETCH_FEATURES: Final = 1024
MAX_SPACE_CHARS: Final = 200
_INT8_MAX = 127


def sketch_key(version: int, space: str) -> str:
    """The network-wide key of the feature map of one space (module doc)."""
    return f"lwdock-sketch/v{version}/{space}"


@functools.lru_cache(maxsize=256)
def sketch_map(version: int, space: str, dim: int, gamma: float, n_features: int) -> RFFMap:
    """The feature map sketches of this space and kernel use (built once per process)."""
    return RFFMap(dim, gamma, n_features, sketch_key(version, space))


@dataclass(frozen=True)
class Sketch:
    """A quantised random-Fourier-feature embedding of one statistical spec.

    Attributes
    ----------
    version
        Sketch family (`SKETCH_VERSIONS`).
    space
        The spec's comparison space (`RKMESpec.space`); part of the map's key.
    gamma
        The spec's kernel parameter; part of the map's key.
    dtype
        ``"int8"`` or ``"float16"``.
    scale
        Per-sketch scale of int8 codes (1.0 for float16).
    codes
        D codes, little-endian, in `dtype`.
    """

    version: int
    space: str
    gamma: float
    dtype: str
    scale: float
    codes: bytes

    def __post_init__(self) -> None:
        check_sketch_fields(self.version, self.space, self.gamma, self.dtype, self.scale,
                            self.codes)

    @property
    def n_features(self) -> int:
        return len(self.codes) // SKETCH_DTYPES[self.dtype].itemsize

    def raw(self) -> NDArray[np.float64]:
        """The codes as numbers (before the scale)."""
        return np.frombuffer(self.codes, dtype=SKETCH_DTYPES[self.dtype]).astype(np.float64)

    def vector(self) -> Array:
        """The dequantised embedding."""
        return self.scale * self.raw()


def check_sketch_fields(version: object, space: object, gamma: object, dtype: object,
                        scale: object, codes: object) -> None:
    """Refuse a sketch that no node could have written (`SpecError` naming the field)."""
    if isinstance(version, bool) or not isinstance(version, int) or version not in \
            SKETCH_VERSIONS:
        raise SpecError(f"sketch.version: {version!r:.40} is not a known sketch version "
                        f"({sorted(SKETCH_VERSIONS)})")
    if not isinstance(space, str) or not 1 <= len(space) <= MAX_SPACE_CHARS:
        raise SpecError(f"sketch.space: expected a string of 1..{MAX_SPACE_CHARS} characters")
    if not isinstance(gamma, float) or not math.isfinite(gamma) or not \
            0 < gamma <= kernel.MAX_GAMMA:
        raise SpecError(f"sketch.gamma: expected a float in (0, {kernel.MAX_GAMMA:.0e}], got "
                        f"{gamma!r:.40}")
    if not isinstance(dtype, str) or dtype not in SKETCH_DTYPES:
        raise SpecError(f"sketch.dtype: {dtype!r:.40} is not one of {sorted(SKETCH_DTYPES)}")
    if not isinstance(codes, bytes):
        raise SpecError("sketch.codes: expected bytes")
    item = SKETCH_DTYPES[dtype].itemsize
    n = len(codes) // item
    if len(codes) % item or not MIN_SKETCH_FEATURES <= n <= MAX_SKETCH_FEATURES:
        raise SpecError(f"sketch.codes: {len(codes)} bytes of {dtype}, expected "
                        f"{MIN_SKETCH_FEATURES}..{MAX_SKETCH_FEATURES} codes")
    if not isinstance(scale, float) or not math.isfinite(scale) or scale <= 0:
        raise SpecError(f"sketch.scale: expected a positive finite float, got {scale!r:.40}")
    values = np.frombuffer(codes, dtype=SKETCH_DTYPES[dtype])
    if dtype == "int8":
        # symmetric codes whose largest is +-127: the one encoding of a vector
        if values.min() < -_INT8_MAX or int(np.abs(values.astype(np.int16)).max()) != _INT8_MAX:
            raise SpecError("sketch.codes: int8 codes must lie in -127..127 with the largest "
                            "magnitude exactly 127")
        if scale > math.sqrt(2.0 / n) / _INT8_MAX * (1 + 1e-5):
            raise SpecError(f"sketch.scale: {scale!r} exceeds sqrt(2/D)/127, the largest an "
                            "embedding of weights summing to 1 can need")
    else:
        if scale != 1.0:
            raise SpecError("sketch.scale: must be 1.0 for float16 codes")
        if not np.isfinite(values).all():
            raise SpecError("sketch.codes: NaN or infinite float16 values")
        if float(np.abs(values.astype(np.float64)).max()) > math.sqrt(2.0 / n) * (1 + 2e-3):
            raise SpecError("sketch.codes: a value exceeds sqrt(2/D), the largest an embedding "
                            "of weights summing to 1 can hold")


def embedding(spec: RKMESpec, gamma: float, *, n_features: int = DEFAULT_SKETCH_FEATURES,
              version: int = SKETCH_VERSION) -> Array:
    """Unquantised embedding of `spec` under the sketch map of its space at `gamma`.

    A requirement is embedded so (at each gamma its candidates' sketches carry) and
    compared with their dequantised vectors.
    """
    spec._check_fitted()
    rff = sketch_map(version, spec.space, spec.dim_, float(gamma), n_features)
    return rff.embed(spec.points_, spec.weights_)


def make_sketch(spec: RKMESpec, *, n_features: int = DEFAULT_SKETCH_FEATURES,
                dtype: str = "int8", version: int = SKETCH_VERSION) -> Sketch:
    """The sketch of a fitted spec: a pure function of the spec and these settings."""
    if not isinstance(spec, RKMESpec):
        raise SpecError(f"spec: expected a fitted RKME spec, got {type(spec).__name__}")
    if dtype not in SKETCH_DTYPES:
        raise SpecError(f"dtype: {dtype!r} is not one of {sorted(SKETCH_DTYPES)}")
    if version not in SKETCH_VERSIONS:
        raise SpecError(f"version: {version!r} is not a known sketch version")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or not (
            MIN_SKETCH_FEATURES <= n_features <= MAX_SKETCH_FEATURES):
        raise SpecError(f"n_features: expected {MIN_SKETCH_FEATURES}..{MAX_SKETCH_FEATURES}, "
                        f"got {n_features!r}")
    gamma = float(spec.gamma_)
    e = embedding(spec, gamma, n_features=n_features, version=version)
    codes, scale = quantise(e, dtype)
    return Sketch(version, spec.space, gamma, dtype, scale, codes)


def quantise(e: Array, dtype: str) -> tuple[bytes, float]:
    """(codes, scale) of an embedding (module doc: the one encoding per vector)."""
    if dtype == "float16":
        return e.astype("<f2").tobytes(), 1.0
    peak = float(np.abs(e).max())
    if peak == 0.0:
        raise SpecError("spec: its embedding is zero in every feature")
    scale = peak / _INT8_MAX
    return np.clip(np.rint(e / scale), -_INT8_MAX, _INT8_MAX).astype("i1").tobytes(), scale
