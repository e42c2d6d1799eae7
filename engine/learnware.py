"""`Learnware`: a model together with its specification, as the engine sees it.

The model is anything that satisfies `Model` (a fitted scikit-learn estimator does;
so do the safe loaders' wrappers for torch and sandboxed code models). Reusers and
usability checks depend only on this small interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec


@runtime_checkable
class Model(Protocol):
    """What the engine needs of a model: `predict`, and for classifiers optionally
    `predict_proba` with `classes_` naming its columns."""

    def predict(self, x: NDArray[np.float64]) -> NDArray[Any]: ...


@dataclass(frozen=True)
class Learnware:
    """A model plus its semantic and statistical specification.

    `id` is the content id of the package (``sha256:<hex>``) when the learnware
    came from a package; any unique string otherwise.
    """

    id: str
    semantic: SemanticSpec
    spec: RKMESpec
    model: Model

    def classes(self) -> NDArray[Any] | None:
        """Class labels of a classifier, from the model or else from the semantic spec."""
        classes = getattr(self.model, "classes_", None)
        if classes is not None:
            return np.asarray(classes)
        out = self.semantic.output
        return np.asarray(out.labels) if out is not None and out.labels else None
