"""Sandboxed execution of a learnware's own Python code ("code" models).

==============  =================================================================
module          holds
==============  =================================================================
``limits.py``   `SandboxLimits`: wall clock, CPU, address space, file size, files
``runner.py``   `run_code`: one confined child process, ``.npy`` in and out
``_child.py``   the child's bootstrap: limits, network namespace, audit hook, run
``model.py``    `SandboxedModel`: the `engine.learnware.Model` wrapper
==============  =================================================================

See docs/packages.md ("Code models") for what the sandbox does and does not stop.
"""

from __future__ import annotations

from engine.sandbox.limits import SandboxLimits
from engine.sandbox.model import SandboxedModel
from engine.sandbox.runner import SandboxRun, check_entry_point, run_code

__all__ = ["SandboxLimits", "SandboxRun", "SandboxedModel", "check_entry_point", "run_code"]
