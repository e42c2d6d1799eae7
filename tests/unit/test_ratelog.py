"""`RateLimitedLog`: a flood of one kind of line is one line per interval, with a count."""

from __future__ import annotations

import logging
import time

from lwnode.ratelog import RateLimitedLog


def test_one_line_of_each_kind_per_interval_and_the_rest_counted(caplog):
    notes = RateLimitedLog(logging.getLogger("lwnode.test.ratelog"), interval=0.2)
    with caplog.at_level(logging.INFO, logger="lwnode.test.ratelog"):
        for i in range(100):
            notes.info("flood from %s", i)
        notes.info("another kind %s", 1)
        time.sleep(0.25)
        notes.info("flood from %s", "later")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["flood from 0", "another kind 1", "flood from later (and 99 more like it)"]
