"""Sketches: deterministic (same bytes in another process), bounded in size, and their
quantisation and RFF errors within the bounds `engine.search.sketch` states."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from engine.errors import SpecError
from engine.search.sketch import (
    MAX_SKETCH_FEATURES,
    Sketch,
    embedding,
    make_sketch,
    quantise,
    sketch_map,
)
from engine.specification import mmd2, spec_from_dict
from protocol import limits
from protocol.sketch import encode_sketch


def table_spec(points: np.ndarray, weights: np.ndarray | None = None, gamma: float = 0.25):
    k, d = points.shape
    w = np.full(k, 1.0 / k) if weights is None else weights
    return spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={d}",
                           "gamma": gamma, "n_samples": 1000, "points": points, "weights": w,
                           "params": {}})


FIXED = table_spec(np.arange(24, dtype=np.float64).reshape(8, 3) / 10.0)
_CHILD = """
import sys
from engine.search.sketch import make_sketch
from engine.specification import spec_from_dict
import numpy as np
spec = spec_from_dict({"type": "rkme_table", "format": 1, "space": "table/d=3",
                       "gamma": 0.25, "n_samples": 1000,
                       "points": np.arange(24, dtype=np.float64).reshape(8, 3) / 10.0,
                       "weights": np.full(8, 1 / 8), "params": {}})
for dtype in ("int8", "float16"):
    s = make_sketch(spec, dtype=dtype)
    sys.stdout.write(s.codes.hex() + " " + s.scale.hex() + "\\n")
"""


def test_same_bytes_in_another_process() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split("\n")
    for line, dtype in zip(out, ("int8", "float16"), strict=False):
        ours = make_sketch(FIXED, dtype=dtype)
        assert line == f"{ours.codes.hex()} {ours.scale.hex()}"


def test_the_network_map_is_pinned() -> None:
    """The map is keyed by (version, space, dim, gamma, D); these numbers are version 1's.
    A change here changes every sketch on the network: it needs a new sketch version."""
    m = sketch_map(1, "table/d=3", 3, 0.5, 16)
    np.testing.assert_allclose(
        m.w[0, :4], [-0.5053598199027095, -0.33749421377538974, 0.6843470528251876,
                     0.11838566247266795], rtol=1e-12)
    np.testing.assert_allclose(m.b[:2], [1.091144211508131, 6.278046904110323], rtol=1e-12)
    other = sketch_map(1, "image/conv-rf-v1/c=1/d=3", 3, 0.5, 16)
    assert not np.allclose(m.w, other.w)


@pytest.mark.parametrize("k,d", [(5, 2), (100, 10), (100, 384), (1000, 64)])
def test_size_does_not_depend_on_k_or_d(k: int, d: int) -> None:
    rng = np.random.default_rng(k + d)
    spec = table_spec(rng.normal(size=(k, d)), gamma=1.0 / d)
    sketch = make_sketch(spec)
    assert sketch.n_features == 256 and len(sketch.codes) == 256
    assert len(encode_sketch(sketch)) <= 256 + 100
    big = make_sketch(spec, n_features=MAX_SKETCH_FEATURES, dtype="float16")
    assert len(encode_sketch(big)) <= limits.MAX_SKETCH_BYTES


@pytest.mark.parametrize("d_features", [16, 256, 1024])
def test_quantisation_error_within_the_stated_bound(d_features: int) -> None:
    rng = np.random.default_rng(d_features)
    for trial in range(20):
        k, d = int(rng.integers(1, 60)), int(rng.integers(1, 30))
        spec = table_spec(rng.normal(size=(k, d)), rng.dirichlet(np.ones(k)),
                          gamma=float(2.0 ** rng.integers(-6, 2)))
        e = embedding(spec, float(spec.gamma_), n_features=d_features)
        assert np.abs(e).max() <= math.sqrt(2.0 / d_features) * (1 + 1e-9)
        int8 = make_sketch(spec, n_features=d_features).vector()
        assert np.linalg.norm(int8 - e) <= math.sqrt(2.0) / 254 + 1e-12, trial
        half = make_sketch(spec, n_features=d_features, dtype="float16").vector()
        assert np.linalg.norm(half - e) <= 2.0 ** -11 * np.linalg.norm(e) + 1e-12, trial


def test_sketch_distance_estimates_mmd2_within_the_stated_deviation() -> None:
    """Over many pairs, the mean squared error of ||e_q - e_i||^2 stays below the bound
    on its variance, 8 MMD^2 / D (deterministic: the map and the specs are fixed)."""
    rng = np.random.default_rng(7)
    errors, bounds = [], []
    for _ in range(60):
        a = table_spec(rng.normal(size=(30, 4)))
        b = table_spec(rng.normal(size=(30, 4)) + rng.uniform(0, 1.5))
        exact = mmd2(a, b)
        approx = float(np.sum((make_sketch(a).vector() - make_sketch(b).vector()) ** 2))
        errors.append((approx - exact) ** 2)
        bounds.append(8 * exact / 256)
    assert np.mean(errors) <= np.mean(bounds)


def test_int8_codes_have_one_encoding() -> None:
    e = embedding(FIXED, 0.25)
    codes, scale = quantise(e, "int8")
    raw = np.frombuffer(codes, dtype="i1")
    assert np.abs(raw.astype(int)).max() == 127 and raw.min() >= -127
    assert scale == pytest.approx(np.abs(e).max() / 127, rel=1e-15)


GOOD = make_sketch(FIXED)


@pytest.mark.parametrize("change,message", [
    ({"version": 2}, "version"),
    ({"version": True}, "version"),
    ({"space": ""}, "space"),
    ({"gamma": 0.0}, "gamma"),
    ({"gamma": float("nan")}, "gamma"),
    ({"gamma": 1}, "gamma"),
    ({"dtype": "int16"}, "dtype"),
    ({"codes": b"\x01" * 15}, "codes"),
    ({"codes": b"\x01" * 1025}, "codes"),
    ({"codes": bytes([1] * 255 + [128])}, "codes"),  # -128 is not a code
    ({"codes": bytes([1] * 256)}, "codes"),  # largest magnitude must be 127
    ({"scale": -1.0}, "scale"),
    ({"scale": float("inf")}, "scale"),
    ({"scale": 1.0}, "scale"),  # more than any embedding of unit weight needs
    ({"dtype": "float16", "codes": b"\x00\x7c" * 128}, "codes"),  # infinity
    ({"dtype": "float16", "codes": b"\x00\x00" * 128, "scale": 0.5}, "scale"),
])
def test_bad_fields_are_refused(change: dict[str, object], message: str) -> None:
    fields = {"version": GOOD.version, "space": GOOD.space, "gamma": GOOD.gamma,
              "dtype": GOOD.dtype, "scale": GOOD.scale, "codes": GOOD.codes, **change}
    with pytest.raises(SpecError, match=message):
        Sketch(**fields)  # type: ignore[arg-type]


def test_make_sketch_refuses_bad_settings() -> None:
    for kwargs in ({"n_features": 8}, {"n_features": 2048}, {"dtype": "int4"},
                   {"version": 9}, {"n_features": True}):
        with pytest.raises(SpecError):
            make_sketch(FIXED, **kwargs)  # type: ignore[arg-type]


def test_image_and_text_specs_are_sketched_in_their_own_spaces() -> None:
    """Image and text specs are RKMEs over a fixed embedding: a sketch keys its map by
    their space, so equal points in a table space of the same width sketch differently."""
    from engine import text_encoder

    rng = np.random.default_rng(3)
    for kind, dim, space, params in (
            ("rkme_image", 128, "image/conv-rf-v1/c=1/d=128", {"channels": 1}),
            ("rkme_text", text_encoder.DIM, text_encoder.SPACE, {})):
        points = rng.normal(size=(10, dim))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        spec = spec_from_dict({"type": kind, "format": 1, "space": space, "gamma": 1.0,
                               "n_samples": 100, "points": points,
                               "weights": np.full(10, 0.1), "params": params})
        sketch = make_sketch(spec)
        assert sketch.space == space
        twin = make_sketch(table_spec(points, gamma=1.0))
        assert sketch.codes != twin.codes
