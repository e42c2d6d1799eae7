"""`RateLimitedLog`: log lines about misbehaving clients that a flood cannot multiply."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any


class RateLimitedLog:
    """INFO lines to `logger`, at most one of each kind (its format string) per
    `interval` seconds; the lines left out are counted into the next one of the kind."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._dropped: Counter[str] = Counter()

    def info(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(message, float("-inf")) < self.interval:
            self._dropped[message] += 1
            return
        self._last[message] = now
        dropped = self._dropped.pop(message, 0)
        self.logger.info(message + (f" (and {dropped} more like it)" if dropped else ""), *args)
