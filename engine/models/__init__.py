"""Model files: which formats are accepted, and how each is saved and loaded safely.

===============  ==================================================================
module           holds
===============  ==================================================================
``formats.py``   format names; pickle/joblib detection and the conversion hint
``skops_io.py``  scikit-learn via skops: deterministic dump, restricted-type load
``torch_io.py``  TorchScript and ``weights_only`` state dicts; `TorchModel` wrappers
``code.py``      `CodeModel`: a developer's own Python (run only in the sandbox)
===============  ==================================================================

Nothing here unpickles. skops and torch are imported only when used.
"""

from __future__ import annotations

from engine.models.code import CodeModel
from engine.models.formats import (
    CODE,
    MODEL_FORMATS,
    SKOPS,
    TORCH_STATE_DICT,
    TORCHSCRIPT,
    looks_like_pickle,
    refuse_unsafe,
)
from engine.models.skops_io import dump_sklearn, load_sklearn
from engine.models.torch_io import TorchClassifier, TorchModel, load_state_dict, load_torchscript

__all__ = [
    "CODE",
    "MODEL_FORMATS",
    "SKOPS",
    "TORCHSCRIPT",
    "TORCH_STATE_DICT",
    "CodeModel",
    "TorchClassifier",
    "TorchModel",
    "dump_sklearn",
    "load_sklearn",
    "load_state_dict",
    "load_torchscript",
    "looks_like_pickle",
    "refuse_unsafe",
]
