"""Specifications: what a learnware is for, in words and in statistics.

=====================  ================================================
module                 holds
=====================  ================================================
``semantic.py``        `SemanticSpec`, `InputSpec`, `OutputSpec`, `Feature`
``rkme.py``            `RKMESpec` base, `RKMETableSpec`, `mmd2`
``image.py``           `RKMEImageSpec` (fixed conv feature map + table RKME)
``text.py``            `RKMETextSpec` (offline MiniLM embeddings + table RKME)
=====================  ================================================

`spec_from_dict` rebuilds any statistical spec from its `to_dict()` form. Image and
text specs are imported lazily so that importing the engine stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import SpecError
from engine.specification.rkme import RKMESpec, RKMETableSpec, mmd2
from engine.specification.semantic import Feature, InputSpec, OutputSpec, SemanticSpec

__all__ = [
    "Feature",
    "InputSpec",
    "OutputSpec",
    "RKMEImageSpec",
    "RKMESpec",
    "RKMETableSpec",
    "RKMETextSpec",
    "SemanticSpec",
    "mmd2",
    "spec_from_dict",
]


def _spec_class(kind: object) -> type[RKMESpec]:
    if kind == "rkme_table":
        return RKMETableSpec
    if kind == "rkme_image":
        from engine.specification.image import RKMEImageSpec

        return RKMEImageSpec
    if kind == "rkme_text":
        from engine.specification.text import RKMETextSpec

        return RKMETextSpec
    raise SpecError(f"spec.type: {kind!r} is not one of 'rkme_table', 'rkme_image', 'rkme_text'")


def spec_from_dict(data: Mapping[str, Any]) -> RKMESpec:
    """Rebuild a statistical spec of any type from its `to_dict()` form."""
    if not isinstance(data, Mapping):
        raise SpecError(f"spec: expected a mapping, got {type(data).__name__}")
    return _spec_class(data.get("type")).from_dict(data)


def __getattr__(name: str) -> Any:
    if name == "RKMEImageSpec":
        return _spec_class("rkme_image")
    if name == "RKMETextSpec":
        return _spec_class("rkme_text")
    raise AttributeError(name)
