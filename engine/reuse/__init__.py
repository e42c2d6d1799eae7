"""Reuse: turn the learnwares a search found into predictions on the user's task.

=========================  ==========================================================
module                     holds
=========================  ==========================================================
``base.py``                `Reuser` base: validation of learnwares, weights, rows, labels
``inputs.py``              the input contract: raw rows, images or texts; model rows, spaces
``labels.py``              class names in canonical form; outputs aligned by class name
``job_selector.py``        `JobSelector` (data-free): route each row to one learnware
``averaging.py``           `Averaging` (data-free): mean, vote or averaged probabilities
``ensemble_pruning.py``    `EnsemblePruning` (few labels): best-scoring subset
``feature_augment.py``     `FeatureAugment` (few labels): outputs as extra features
``offset_logistic.py``     logistic regression on top of a base prediction (FeatureAugment)
``forest_stack.py``        a forest on FeatureAugment's features, kept if CV prefers it
``select.py``              choose a reuser by its out-of-fold score on a few labels
``synthetic.py``           synthetic region tasks with known answers (tests, benchmarks)
=========================  ==========================================================

Every reuser is a scikit-learn style estimator: ``Reuser(learnwares, **params)``,
``fit(X, y)`` returns self, ``predict(X)``, and ``predict_proba(X)`` for
classification. ``X`` is the user's raw inputs of the learnwares' kind: table rows,
images or texts (`inputs`). Invalid input raises `engine.errors.ReuseError` (a
`ValueError`); a degenerate label draw falls back and says so in ``notes_``.
"""

from __future__ import annotations

from engine.reuse.averaging import Averaging
from engine.reuse.base import Reuser
from engine.reuse.ensemble_pruning import EnsemblePruning
from engine.reuse.feature_augment import FeatureAugment
from engine.reuse.job_selector import JobSelector

__all__ = ["Averaging", "EnsemblePruning", "FeatureAugment", "JobSelector", "Reuser"]
