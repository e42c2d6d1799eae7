"""Search over learnware specifications.

====================== =====================================================
module                 holds
====================== =====================================================
``catalog.py``         `Catalog`, `CatalogEntry`: storage, filter, rank, mix
``results.py``         `Requirement`, `Match`, `Mixture`, `SearchResult`
``semantic_filter.py`` the semantic matching rules and inverted indices
``rff.py``             random Fourier features: the index's and sketches' feature map
``sketch.py``          `Sketch`, `make_sketch`: a spec in a few hundred bytes
``sketch_search.py``   `SketchIndex`: rank by sketch, re-rank fetched full specs
``sketch_ann.py``      `SketchANN`: a vector index (faiss) over a large space's sketches
``scoring.py``         the cross-query score transform; batched exact MMD^2
``mixture.py``         greedy mixture selection with simplex-QP weights
``columns.py``         row-aligned growable numpy columns
``entries.py``         `SpaceEntries`: ids -> per-space rows, shared by both indices
``synthetic.py``       a synthetic market of many spaces and tasks (benchmarks, tests)
====================== =====================================================
"""

from engine.search.catalog import Catalog, CatalogEntry
from engine.search.mixture import MIXTURE_MIN_GAIN
from engine.search.results import Match, Mixture, Requirement, SearchResult
from engine.search.sketch import Sketch, make_sketch
from engine.search.sketch_search import SketchIndex

__all__ = ["MIXTURE_MIN_GAIN", "Catalog", "CatalogEntry", "Match", "Mixture", "Requirement",
           "SearchResult", "Sketch", "SketchIndex", "make_sketch"]
