"""`RKMEImageSpec`: images through a fixed, versioned feature map, then a table RKME.

The reference fits its image RKME through a random convolutional network with a
neural-tangent-style kernel: ~320 s per optimisation step on this CPU and 2.3 s per
comparison. Here the network is *fixed*: a seeded two-layer random convolution with
ReLU and average pooling (the well-known random-features view of a CNN kernel), so an
image becomes a 128-d vector once, and the RKME and every comparison happen in that
space in milliseconds.

Feature map ``conv-rf-v1`` (changing any number below means a new version id):

1. input (N, H, W) or (N, C, H, W), any numeric range; each image is standardised
   (zero mean, unit variance over its pixels) — invariant to brightness and scale;
2. resized to 32 x 32 (bilinear, antialiased);
3. conv 5x5, 32 filters, stride 1, ReLU, 2x2 average pool (16 x 16);
   conv 3x3, 64 filters, stride 1, ReLU, 4x4 average pool (4 x 4) -> 1024 values;
4. a fixed random projection to 128 dimensions, scaled by 1/sqrt(1024).

Weights are drawn from ``torch.Generator().manual_seed(20240601 + channels)`` with
He-normal scaling. The space id records the version and channel count, so a
grayscale spec is never compared with an RGB one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.errors import SpecError
from engine.params import Interval, check_param
from engine.privacy.grouping import MIN_ROWS_PER_POINT
from engine.specification.rkme import RKMESpec, check_magnitude

FEATURE_MAP = "conv-rf-v1"
SIZE = 32
OUT_DIM = 128
MAX_IMAGE_SIDE = 4096
_BATCH = 256
_SEED = 20240601

_cache: dict[int, Any] = {}
_lock = threading.Lock()


def _network(channels: int) -> Any:
    """The fixed random network for `channels` input channels (built once)."""
    import torch

    with _lock:
        if channels not in _cache:
            gen = torch.Generator().manual_seed(_SEED + channels)

            def he(*shape: int) -> torch.Tensor:
                fan_in = shape[1] * shape[2] * shape[3]
                return torch.randn(*shape, generator=gen) * (2.0 / fan_in) ** 0.5

            w1 = he(32, channels, 5, 5)
            w2 = he(64, 32, 3, 3)
            proj = torch.randn(64 * 4 * 4, OUT_DIM, generator=gen) / (64 * 4 * 4) ** 0.5
            _cache[channels] = (w1, w2, proj)
        return _cache[channels]


def image_features(images: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map validated (N, C, H, W) images to (N, 128) feature vectors."""
    import torch
    import torch.nn.functional as F

    w1, w2, proj = _network(images.shape[1])
    out = []
    with torch.no_grad():
        for start in range(0, len(images), _BATCH):
            x = torch.from_numpy(images[start:start + _BATCH].astype(np.float32))
            flat = x.flatten(1)
            mean = flat.mean(dim=1).view(-1, 1, 1, 1)
            std = flat.std(dim=1).clamp_min(1e-6).view(-1, 1, 1, 1)
            x = (x - mean) / std
            if x.shape[-2:] != (SIZE, SIZE):
                x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True,
                                  align_corners=False)
            x = F.avg_pool2d(F.relu(F.conv2d(x, w1, padding=2)), 2)
            x = F.avg_pool2d(F.relu(F.conv2d(x, w2, padding=1)), 4)
            out.append((x.flatten(1) @ proj).double().numpy())
    return np.concatenate(out)


def check_images(x: ArrayLike, channels: int | None = None) -> NDArray[np.float64]:
    """Validate images as (N, H, W) or (N, C, H, W), finite; return (N, C, H, W)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"images: expected a numeric array ({exc})") from None
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise SpecError(f"images: expected shape (N, H, W) or (N, C, H, W), got {arr.shape}")
    n, c, h, w = arr.shape
    if n == 0:
        raise SpecError(f"images: empty array of shape {arr.shape}")
    if not (1 <= c <= 4) or not (2 <= h <= MAX_IMAGE_SIDE and 2 <= w <= MAX_IMAGE_SIDE):
        raise SpecError(f"images: expected 1-4 channels and sides 2..{MAX_IMAGE_SIDE}, "
                        f"got shape {arr.shape}")
    if channels is not None and c != channels:
        raise SpecError(f"images: spec was fitted on {channels}-channel images, got shape "
                        f"{arr.shape}")
    if not np.isfinite(arr).all():
        raise SpecError(f"images: NaN or infinite values in array of shape {arr.shape}")
    check_magnitude(arr, "images")
    return arr


class RKMEImageSpec(RKMESpec):
    """RKME of images, in the fixed `conv-rf-v1` feature space.

    Parameters are those of `RKMETableSpec`; `fit` takes images (N, H, W) or
    (N, C, H, W). `transform` maps raw images to the 128-d feature space, so `mmd2`
    compares a spec with a raw image sample directly.
    """

    kind = "rkme_image"

    def __init__(self, *, n_points: int = 100, gamma: float | str = "auto",
                 refine_steps: int = 5, random_state: int | None = None,
                 min_rows_per_point: int = MIN_ROWS_PER_POINT, epsilon: float | None = None,
                 delta: float | None = None, bounds: Any = None) -> None:
        super().__init__(n_points=n_points, gamma=gamma, refine_steps=refine_steps,
                         random_state=random_state, min_rows_per_point=min_rows_per_point,
                         epsilon=epsilon, delta=delta, bounds=bounds)

    def _to_vectors(self, x: ArrayLike) -> NDArray[np.float64]:
        images = check_images(x, getattr(self, "channels_", None))
        self.channels_ = images.shape[1]
        return image_features(images)

    def transform(self, x: ArrayLike) -> NDArray[np.float64]:
        self._check_fitted()
        return image_features(check_images(x, self.channels_))

    @property
    def space(self) -> str:
        self._check_fitted()
        return f"image/{FEATURE_MAP}/c={self.channels_}/d={OUT_DIM}"

    def fit(self, x: ArrayLike) -> RKMEImageSpec:
        if hasattr(self, "channels_"):
            del self.channels_
        super().fit(x)
        return self

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "channels": int(self.channels_)}

    @classmethod
    def _from_params(cls, params: Mapping[str, Any]) -> RKMEImageSpec:
        rest = {k: v for k, v in params.items() if k != "channels"}
        spec = super()._from_params(rest)
        assert isinstance(spec, RKMEImageSpec)
        return spec

    def _restore_extra(self, params: Mapping[str, Any]) -> None:
        channels = params.get("channels")
        check_param("spec.params.channels", channels, [Interval(int, 1, 4)], SpecError)
        if self.points_.shape[1] != OUT_DIM:
            raise SpecError(f"spec.points: image specs have {OUT_DIM} columns, got "
                            f"{self.points_.shape[1]}")
        self.channels_ = channels
