"""`TableIndex` selects exactly what the per-entry rule of heterogeneous search selects.

The rule below is the loop `engine.hetero.search.extend_result` ran over every entry
before the index existed; the index must give the same ids in the same order through
inserts, replacements, removals and compaction.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.hetero.features import same_columns
from engine.search import semantic_filter as sf
from engine.search.tables import TableIndex
from engine.specification.semantic import Feature, InputSpec, SemanticSpec
from engine.vocabulary import DataType

NAMES = ["price", "Floor area", "floor_area", "rooms", "year", "lag 1", "lag_2"]
DESCRIPTIONS = ["", "living area", "price in EUR", "count"]


def _input(rng: np.random.Generator) -> InputSpec | None:
    if rng.random() < 0.15:
        return None
    width = int(rng.integers(1, 4))
    if rng.random() < 0.2:
        return InputSpec(width)
    names = rng.choice(NAMES, size=width, replace=False)
    return InputSpec(width, tuple(Feature(str(n), str(rng.choice(DESCRIPTIONS)))
                                  for n in names))


def _semantic(rng: np.random.Generator) -> SemanticSpec:
    return SemanticSpec(
        data_type=rng.choice([None, "table", "table", "image"]),
        task_type=rng.choice([None, "regression", "classification"]),
        library=rng.choice([None, "scikit_learn", "pytorch"]),
        input=_input(rng))


def _loop_rule(semantics: dict[str, SemanticSpec], req: SemanticSpec,
               allowed: set[str] | None, width: int | None) -> list[str]:
    want = sf.class_codes(replace(req, data_type=None))
    user_input = req.input
    out = []
    for i, s in semantics.items():
        have = sf.class_codes(s)
        if ((allowed is None or i in allowed) and s.input is not None and s.input.features
                and s.data_type in (None, DataType.TABLE)
                and all(c < 0 or have[n] == c for n, c in want.items())
                and not (user_input is not None and same_columns(user_input, s.input))
                and not (width is not None and s.input.dimension == width)):
            out.append(i)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_select_equals_the_per_entry_rule(seed):
    rng = np.random.default_rng(seed)
    semantics: dict[str, SemanticSpec] = {}
    index = TableIndex()
    for step in range(600):
        entry_id = f"e{int(rng.integers(0, 250))}"
        if entry_id in semantics and rng.random() < 0.4:
            del semantics[entry_id]
            index.remove(entry_id)
        else:  # insert or replace (a replaced entry moves to the end, as in a dict)
            semantics.pop(entry_id, None)
            index.remove(entry_id)
            semantics[entry_id] = _semantic(rng)
            index.add(entry_id, semantics[entry_id])
        if step % 50 == 49:
            for _ in range(20):
                req = _semantic(rng)
                allowed = (None if rng.random() < 0.5 else
                           {f"e{int(i)}" for i in rng.integers(0, 300, size=80)})
                width = None if rng.random() < 0.5 else int(rng.integers(1, 4))
                got = index.select(req, allowed, other_width_than=width,
                                   not_columns_of=req.input)
                assert got == _loop_rule(semantics, req, allowed, width)
    assert len(index) == sum(1 for s in semantics.values() if s.input is not None
                             and s.input.features
                             and s.data_type in (None, DataType.TABLE))


def test_entries_without_named_columns_are_not_held():
    index = TableIndex()
    index.add("plain", SemanticSpec(data_type="table", input=InputSpec(3)))
    index.add("image", SemanticSpec(data_type="image", input=InputSpec(
        1, (Feature("pixel", "grey level"),))))
    assert len(index) == 0
    assert index.select(SemanticSpec(), None) == []
