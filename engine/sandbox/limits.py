"""`SandboxLimits`: the resources one sandboxed run of a code model may use."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import SandboxError


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one child process that runs a learnware's own Python code.

    Parameters
    ----------
    wall_seconds
        Wall-clock budget of the whole run (interpreter start, imports, model
        construction and every call). On expiry the child's process group is killed.
    cpu_seconds
        CPU time (``RLIMIT_CPU``); the kernel stops the child with SIGXCPU.
    memory_bytes
        Address space (``RLIMIT_AS``); allocations beyond it fail with MemoryError
        instead of swapping the machine. Importing torch alone reserves about 1 GiB.
    file_bytes
        Largest file the child may write (``RLIMIT_FSIZE``), which also bounds each
        output array.
    open_files
        Open file descriptors (``RLIMIT_NOFILE``).
    user
        When started as root, the user the child switches to (default
        ``"nobody"``), so the model's code cannot write outside its work directory
        or read root-only files. None keeps the caller's user. Ignored when not root.
    network_namespace
        Try a new network namespace (the default). False leaves only the audit
        hook: for kernels where namespaces misbehave, and to test that fallback.
    require_network_namespace
        If True, fail rather than fall back to the best-effort network block when a
        new network namespace cannot be created (not root, or unshare forbidden).
    """

    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 4 << 30
    file_bytes: int = 512 << 20
    open_files: int = 256
    user: str | None = "nobody"
    network_namespace: bool = True
    require_network_namespace: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.wall_seconds, int | float) and math.isfinite(self.wall_seconds)
                and self.wall_seconds > 0):
            raise SandboxError(f"wall_seconds: expected a positive number, got "
                               f"{self.wall_seconds!r}", kind="config")
        for name, low in (("cpu_seconds", 1), ("memory_bytes", 64 << 20),
                          ("file_bytes", 1 << 10), ("open_files", 16)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SandboxError(f"{name}: expected an integer >= {low}, got {value!r}",
                                   kind="config")
        if self.user is not None and not (isinstance(self.user, str) and self.user):
            raise SandboxError(f"user: expected a user name or None, got {self.user!r}",
                               kind="config")
