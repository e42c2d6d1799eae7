"""Benchmarks: scripts that print tables (``python -m benchmarks.<name>``).

The node-level ones reuse the test suite's small real fixtures (tests/support/lwtesting.py,
not shipped with the package), so that folder joins the import path here.
"""

import sys
from pathlib import Path

_SUPPORT = str(Path(__file__).resolve().parents[1] / "tests" / "support")
if _SUPPORT not in sys.path:
    sys.path.append(_SUPPORT)
