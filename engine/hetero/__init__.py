"""Heterogeneous feature spaces: find and reuse learnwares whose columns differ.

=================  ==========================================================
module             holds
=================  ==========================================================
``features.py``    column texts, `same_columns`, `require_described`,
                   `order_by_name` (same names in another order)
``embedding.py``   `ColumnEmbedder`: cached MiniLM vectors of column texts
``match.py``       column matching: descriptions + RKME column statistics,
                   Hungarian assignment, refinement by the joint MMD
``mapping.py``     `ColumnMapping`: which user column feeds which learnware column
``fill.py``        `ConditionalFill`, `SpaceMap`: user rows -> a learnware's space
``search.py``      heterogeneous ranking, and the hook `Catalog.search` calls
``mixture.py``     mixtures across feature spaces, in the user's space
``reuse.py``       `HeteroReuser`: data-free, or stacked on a few labels
=================  ==========================================================

Columns are described with `engine.specification.InputSpec.from_columns`. Importing
this package is light: the modules that need scipy, scikit-learn or the search
package load on first use of their names.
"""

from __future__ import annotations

from typing import Any

from engine.hetero.mapping import ColumnMapping, ColumnPair

__all__ = ["ColumnEmbedder", "ColumnMapping", "ColumnPair", "HeteroReuser", "SpaceMap",
           "search_learnwares"]

_LAZY = {"ColumnEmbedder": "engine.hetero.embedding", "HeteroReuser": "engine.hetero.reuse",
         "SpaceMap": "engine.hetero.fill", "search_learnwares": "engine.hetero.search"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
