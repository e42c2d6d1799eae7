"""The [budget] pieces without sockets: token buckets, the concurrency cap, the points caps."""

import numpy as np
import pytest
from lwtesting import announcement_row, tiny_spec

from engine.errors import SearchError
from lwnode.config import load_config
from lwnode.errors import TooManyPoints
from lwnode.federation.searchwire import query_of
from lwnode.http.ratelimit import EXPENSIVE_ROUTES, ConcurrencyCap, TokenBuckets
from lwnode.http.web import API_ROUTES as WEB_ROUTES
from lwnode.node.budget import announcement_oversized, check_spec, oversized
from lwnode.node.records import announcement_of
from protocol.messages import Requirement, SearchRequest, new_query_id
from protocol.signing import Identity


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_grants_its_burst_then_paces_at_its_rate():
    clock = Clock()
    buckets = TokenBuckets(per_minute=30, burst=3, clock=clock)  # one token per 2 s
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(2.0)
    assert buckets.take("b") == 0.0  # another address has its own bucket
    clock.now += 1.0
    assert buckets.take("a") == pytest.approx(1.0)  # half a token so far
    clock.now += 1.0
    assert buckets.take("a") == 0.0
    clock.now += 3600
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, no more


def test_rate_zero_means_no_limit_and_buckets_are_bounded_in_number():
    assert all(TokenBuckets(0, 1).take("x") == 0.0 for _ in range(100))
    buckets = TokenBuckets(60, 1, max_keys=10)
    for i in range(100):
        buckets.take(f"10.0.0.{i}")
    assert len(buckets._buckets) == 10


def test_the_concurrency_cap_refuses_past_its_limit_until_one_leaves():
    cap = ConcurrencyCap(2)
    assert cap.enter() and cap.enter() and not cap.enter()
    cap.leave()
    assert cap.enter()


def test_every_web_route_that_works_for_an_open_client_is_limited():
    # the re-rank route fetches packages and runs models, like reuse; pack needs the token
    posts = {(m, p) for m, p, _ in WEB_ROUTES if m == "POST" and p != "/v1/web/pack"}
    assert ("POST", "/v1/web/rerank") in posts and posts <= EXPENSIVE_ROUTES


def test_points_caps_name_the_setting():
    spec = tiny_spec(k=8)
    assert oversized([spec], 8) is None
    assert "8 points" in oversized([spec], 7)
    check_spec(spec, 8, "statistical", "requirement_points")
    with pytest.raises(TooManyPoints, match=r"\[budget\] requirement_points") as exc:
        check_spec(spec, 7, "statistical", "requirement_points")
    assert isinstance(exc.value, ValueError) and exc.value.code == "too_many_points"
    row = announcement_row(Identity.from_seed(b"\x01" * 32), "sha256:" + "1" * 64, 1, spec=spec)
    assert announcement_oversized(announcement_of(row), 7) is not None


def test_a_routed_search_over_the_requirement_cap_is_refused():
    spec = tiny_spec(k=8)
    request = SearchRequest(query_id=new_query_id(), requirement=Requirement(None, spec), k=5,
                            max_mixture=0, ttl=1, visited=(), deadline_ms=1000)
    assert query_of(request, max_k=10, max_mixture=3, max_points=8).k == 5
    with pytest.raises(SearchError, match="requirement_points"):
        query_of(request, max_k=10, max_mixture=3, max_points=7)


def test_budget_settings_load_from_the_environment_and_are_bounded():
    config = load_config(None, env={"LWDOCK_BUDGET_SPEC_POINTS": "500",
                                    "LWDOCK_BUDGET_OPEN_PER_MINUTE": "0"})
    assert config.budget.spec_points == 500 and config.budget.open_per_minute == 0.0
    assert config.budget.requirement_points == 1000
    with pytest.raises(ValueError, match="spec_points"):
        load_config(None, env={"LWDOCK_BUDGET_SPEC_POINTS": "20000"})


def test_defaults_admit_the_specs_this_project_makes():
    """The caps must not refuse what `lwnode pack`/`spec make` (100 points) or the web
    page (at most 500) produce."""
    from engine.specification.rkme import RKMESpec
    from lwnode.http.web.routes import MAX_POINTS

    budget = load_config(None, env={}).budget
    assert RKMESpec().n_points <= budget.spec_points
    assert MAX_POINTS <= budget.requirement_points and MAX_POINTS <= budget.spec_points
    assert np.isfinite(budget.open_per_minute)

