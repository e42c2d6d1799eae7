"""`RateLimitedLog`: a flood of one kind of line is one line per interval, with a count."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from lwnode import ratelog
from lwnode.ratelog import RateLimitedLog


def test_one_line_of_each_kind_per_interval_and_the_rest_counted(caplog, monkeypatch):
    # the log's clock, moved by the test: the flood stays inside one interval however
    # slowly a loaded machine runs it
    now = [1000.0]
    monkeypatch.setattr(ratelog, "time", SimpleNamespace(monotonic=lambda: now[0]))
    notes = RateLimitedLog(logging.getLogger("lwnode.test.ratelog"), interval=0.2)
    with caplog.at_level(logging.INFO, logger="lwnode.test.ratelog"):
        for i in range(100):
            notes.info("flood from %s", i)
        notes.info("another kind %s", 1)
        now[0] += 0.25
        notes.info("flood from %s", "later")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["flood from 0", "another kind 1", "flood from later (and 99 more like it)"]
