"""The pure fault rules of the peer layer: faults in a window earn a ban; log budgets."""

from __future__ import annotations

import pytest

from lwnode.federation.p2p.faults import FaultBook, LogBudget


def test_faults_within_the_window_ban_the_peer_until_the_ban_ends():
    book = FaultBook(limit=3, window=60.0, ban_seconds=300.0)
    assert not book.fault("p", 0.0) and not book.fault("p", 10.0)
    assert not book.banned("p", 10.0)
    assert book.fault("p", 20.0)
    assert book.banned("p", 20.0) and book.bans(319.9) == ["p"]
    assert not book.banned("p", 320.0) and book.bans(320.0) == []
    assert book.totals["p"] == 3


def test_faults_spread_beyond_the_window_do_not_ban_and_peers_are_apart():
    book = FaultBook(limit=2, window=10.0, ban_seconds=5.0)
    assert not book.fault("p", 0.0)
    assert not book.fault("p", 10.0)  # the first one left the window
    assert not book.fault("q", 10.5)
    assert book.fault("p", 11.0) and not book.banned("q", 11.0)


@pytest.mark.parametrize("bad", [dict(limit=0), dict(window=0), dict(ban_seconds=-1)])
def test_fault_book_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        FaultBook(**{"limit": 3, "window": 1.0, "ban_seconds": 1.0, **bad})


def test_log_budget_allows_one_line_per_key_and_interval_and_counts_the_rest():
    budget = LogBudget(60.0)
    assert budget.allow("dead", 0.0) == (True, 0)
    assert budget.allow("dead", 1.0) == (False, 0)
    assert budget.allow("dead", 2.0) == (False, 0)
    assert budget.allow("other", 2.0) == (True, 0)
    assert budget.allow("dead", 61.0) == (True, 2)


def test_backoff_slows_down_for_a_peer_unreachable_for_long():
    from lwnode.federation.p2p.schedule import Backoff

    b = Backoff(floor=0.25, ceiling=2.0, slow_ceiling=30.0, slow_after=120.0)
    now = 0.0
    delays = []
    while now < 300.0:
        b.failed(now)
        delays.append(b.delay)
        now = b.next_at
    assert delays[:5] == [0.25, 0.5, 1.0, 2.0, 2.0]  # a restarted peer is found fast
    assert delays[-1] == 30.0  # beyond slow_after: every 30 s, not every 2 s
    assert len(delays) < 75  # 5 minutes at 2 s would be 150 dials
    b.succeeded()
    b.failed(1000.0)
    assert b.delay == 0.25  # a fresh loss is re-dialled fast again
