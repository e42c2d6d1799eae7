"""Routed search (`lwnode.federation.routing`) with a fake `ask_peer`: no sockets.

The deadline tests run in virtual time (`lwtesting.in_virtual_time`): a slow peer's
5 s and a 300 ms deadline are the schedule, exact, however loaded the machine is.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

import pytest
from lwtesting import in_virtual_time

from lwnode.federation.routing import (
    RecentQueries,
    RoutingPolicy,
    choose_peers,
    empty_response,
    route_search,
)
from protocol import limits
from protocol.messages import (
    MixtureHit,
    Requirement,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SignedEnvelope,
    new_query_id,
)
from protocol.signing import Identity

pytestmark = pytest.mark.timeout(30)

ENVELOPE = SignedEnvelope(b"announcement", b"\x01" * 32, b"\x02" * 64)


def nid(name: str) -> str:
    return Identity.from_seed(hashlib.sha256(name.encode()).digest()).node_id


NAMES = {nid(n): n for n in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def name_of(node_id: str) -> str:
    return NAMES[node_id]


def lid(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def hit(name: str, owner: str, mmd2: float | None = 0.1, score: float = 0.5,
        size: int = 100) -> SearchHit:
    return SearchHit(learnware_id=lid(name), owner=nid(owner), mmd2=mmd2, score=score,
                     package_url=f"http://{owner.lower()}.example/v1/{name}", size=size,
                     announcement=ENVELOPE)


def request(*, ttl: int = 2, deadline_ms: int = 500, k: int = 10, visited=(),
            max_mixture: int = 0) -> SearchRequest:
    return SearchRequest(query_id=new_query_id(), requirement=Requirement(), k=k,
                         max_mixture=max_mixture, ttl=ttl, visited=tuple(visited),
                         deadline_ms=deadline_ms)


def answer(req: SearchRequest, responder: str, hits, **kw) -> SearchResponse:
    return SearchResponse(query_id=req.query_id, responder=nid(responder), hits=tuple(hits),
                          **kw)


class FakeNetwork:
    """Nodes on a graph; each runs `route_search` on what it receives (recursively)."""

    def __init__(self, graph: dict[str, str], *, delay: dict[str, float] | None = None,
                 dead: set[str] = frozenset(), policy: RoutingPolicy | None = None,
                 dedupe: bool = True) -> None:
        self.graph = graph
        self.delay = delay or {}
        self.dead = set(dead)
        self.policy = policy or RoutingPolicy()
        self.dedupe = dedupe
        self.recent = {n: RecentQueries() for n in graph}
        self.calls: list[tuple[str, str, SearchRequest]] = []
        self.received: dict[str, list[SearchRequest]] = {n: [] for n in graph}
        self.computed: Counter[str] = Counter()

    async def search(self, name: str, req: SearchRequest) -> SearchResponse:
        self.received[name].append(req)
        if self.dedupe and not self.recent[name].first_time(req.query_id):
            return empty_response(req, nid(name))
        self.computed[name] += 1
        return await route_search(
            req, node_id=nid(name), local=answer(req, name, [hit(f"lw-{name}", name)]),
            candidates=[nid(p) for p in self.graph[name]], ask_peer=self.asker(name),
            policy=self.policy)

    def asker(self, caller: str):
        async def ask(peer: str, req: SearchRequest) -> SearchResponse:
            target = name_of(peer)
            self.calls.append((caller, target, req))
            if target in self.dead:
                raise ConnectionError(f"{target} is dead")
            await asyncio.sleep(self.delay.get(target, 0.0))
            return await self.search(target, req)

        return ask


async def timed(coro):
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await coro
    return result, loop.time() - start


# -- deadline, partial answers, dead peers --------------------------------------------------
@in_virtual_time
async def test_slow_peer_costs_at_most_the_deadline_and_is_named():
    net = FakeNetwork({"A": "BS", "B": "", "S": ""}, delay={"B": 0.01, "S": 5.0})
    result, took = await timed(net.search("A", request(deadline_ms=300)))
    assert took < 0.35, took
    assert result.partial and result.missed == (nid("S"),)
    assert {h.learnware_id for h in result.hits} == {lid("lw-A"), lid("lw-B")}
    forwarded = [r for caller, _, r in net.calls]
    assert all(r.deadline_ms <= 300 - RoutingPolicy().margin_ms for r in forwarded)


@in_virtual_time
async def test_dead_peer_is_named_without_waiting_for_the_deadline():
    net = FakeNetwork({"A": "BD", "B": "", "D": ""}, dead={"D"})
    result, took = await timed(net.search("A", request(deadline_ms=5000)))
    assert took < 0.5
    assert result.partial and result.missed == (nid("D"),)
    assert lid("lw-B") in {h.learnware_id for h in result.hits}


@in_virtual_time
async def test_all_peers_in_time_gives_a_complete_answer():
    net = FakeNetwork({"A": "BC", "B": "", "C": ""}, delay={"B": 0.01, "C": 0.02})
    result = await net.search("A", request(deadline_ms=1000))
    assert not result.partial and result.missed == ()
    assert len(result.hits) == 3


@in_virtual_time
async def test_partial_answers_propagate_up_with_the_names_of_who_missed():
    net = FakeNetwork({"A": "B", "B": "C", "C": ""}, delay={"C": 5.0})
    result, took = await timed(net.search("A", request(ttl=3, deadline_ms=400)))
    assert took < 0.45
    assert result.partial and nid("C") in result.missed
    assert lid("lw-B") in {h.learnware_id for h in result.hits}
    (to_b,) = [r for caller, target, r in net.calls if target == "B"]
    (to_c,) = [r for caller, target, r in net.calls if target == "C"]
    assert to_c.deadline_ms <= to_b.deadline_ms - RoutingPolicy().margin_ms


@in_virtual_time
async def test_no_budget_left_means_no_forwarding_and_a_partial_answer():
    net = FakeNetwork({"A": "BC", "B": "", "C": ""})
    result = await net.search("A", request(deadline_ms=30))  # below margin + minimum
    assert net.calls == []
    assert result.partial and set(result.missed) == {nid("B"), nid("C")}
    assert [h.learnware_id for h in result.hits] == [lid("lw-A")]


@in_virtual_time
async def test_time_spent_before_the_call_counts_against_the_budget():
    net = FakeNetwork({"A": "S", "S": ""}, delay={"S": 5.0})
    req = request(deadline_ms=300)
    loop = asyncio.get_running_loop()
    result, took = await timed(route_search(
        req, node_id=nid("A"), local=answer(req, "A", []), candidates=[nid("S")],
        ask_peer=net.asker("A"), received_at=loop.time() - 0.2))
    assert took < 0.15 and result.partial


async def test_wrong_or_foreign_answers_count_as_missed():
    req = request()

    async def ask(peer: str, forwarded: SearchRequest) -> SearchResponse:
        if peer == nid("B"):
            return answer(forwarded, "Z", [hit("x", "Z")])  # not B's answer
        other = request()
        return answer(other, "C", [hit("y", "C")])  # answer to another query

    result = await route_search(req, node_id=nid("A"), local=answer(req, "A", []),
                                candidates=[nid("B"), nid("C")], ask_peer=ask)
    assert result.partial and set(result.missed) == {nid("B"), nid("C")}
    assert result.hits == ()


# -- fan-out, ttl, visited, loops ------------------------------------------------------------
async def test_fanout_bound_and_visited_are_respected():
    graph = {"A": "BCDEFGHIJK", **{p: "" for p in "BCDEFGHIJK"}}
    net = FakeNetwork(graph, policy=RoutingPolicy(fanout=3))
    req = request(visited=[nid("B"), nid("D")])
    await net.search("A", req)
    asked = [target for _, target, _ in net.calls]
    assert asked == ["C", "E", "F"]
    forwarded = net.calls[0][2]
    assert forwarded.visited == (nid("B"), nid("D"), nid("A"), nid("C"), nid("E"), nid("F"))
    assert forwarded.ttl == req.ttl - 1 and forwarded.query_id == req.query_id


async def test_ttl_zero_answers_locally_and_ttl_bounds_the_hops():
    line = {"A": "B", "B": "C", "C": "D", "D": "E", "E": ""}
    net = FakeNetwork(line)
    local_only = await net.search("A", request(ttl=0))
    assert net.calls == [] and [h.learnware_id for h in local_only.hits] == [lid("lw-A")]
    net = FakeNetwork(line)
    result = await net.search("A", request(ttl=2))
    assert [target for _, target, _ in net.calls] == ["B", "C"]
    assert {h.learnware_id for h in result.hits} == {lid(f"lw-{n}") for n in "ABC"}
    assert net.calls[-1][2].ttl == 0


async def test_visited_stops_a_ring_from_looping_even_without_the_query_cache():
    ring = {"A": "BF", "B": "CA", "C": "DB", "D": "EC", "E": "FD", "F": "AE"}
    net = FakeNetwork(ring, policy=RoutingPolicy(fanout=1), dedupe=False)
    result = await net.search("A", request(ttl=8, deadline_ms=2000))
    assert [target for _, target, _ in net.calls] == ["B", "C", "D", "E", "F"]
    assert {h.learnware_id for h in result.hits} == {lid(f"lw-{n}") for n in ring}


async def test_no_node_is_asked_twice_or_asks_what_it_was_told_is_visited():
    complete = {n: "".join(m for m in "ABCDEF" if m != n) for n in "ABCDEF"}
    net = FakeNetwork(complete, policy=RoutingPolicy(fanout=2))
    result = await net.search("A", request(ttl=8, deadline_ms=2000))
    for caller, target, _ in net.calls:
        assert target != caller
        for received in net.received[caller]:
            assert nid(target) not in received.visited
    assert max(net.computed.values()) == 1  # RecentQueries: each node searches once
    assert {h.learnware_id for h in result.hits} == {lid(f"lw-{n}") for n in "ABCDEF"}
    assert not result.partial


def test_visited_list_never_grows_past_the_protocol_limit():
    crowd = [nid(f"n{i}") for i in range(limits.MAX_VISITED - 2)]
    req = request(visited=crowd)
    assert len(choose_peers(req, nid("A"), [nid("B"), nid("C"), nid("D")], 4)) == 1
    full = request(visited=[nid(f"n{i}") for i in range(limits.MAX_VISITED)])
    assert choose_peers(full, nid("A"), [nid("B")], 4) == []


def test_recent_queries_expire_and_stay_bounded():
    now = [0.0]
    recent = RecentQueries(capacity=3, ttl_s=10.0, clock=lambda: now[0])
    assert recent.first_time("q1") and not recent.first_time("q1")
    now[0] = 11.0
    assert recent.first_time("q1")  # expired: a new query with the same id is answered
    for q in ("q2", "q3", "q4"):
        assert recent.first_time(q)
    assert recent.first_time("q1")  # evicted by capacity


# -- merge: dedupe, trust, ranking, k, mixture, size ------------------------------------------
async def test_duplicates_keep_the_most_trusted_copy_then_the_best_rank():
    req = request()
    replies = {
        # B owns y; it also relays x (owned by A, which we computed ourselves) with a
        # better score than ours, and z (owned by D) with mmd2 0.30.
        nid("B"): answer(req, "B", [hit("x", "A", 0.01), hit("y", "B", 0.20),
                                    hit("z", "D", 0.30)]),
        # C relays y with a too-good mmd2 and z with 0.25.
        nid("C"): answer(req, "C", [hit("y", "B", 0.05), hit("z", "D", 0.25)]),
    }

    async def ask(peer, forwarded):
        return replies[peer]

    result = await route_search(req, node_id=nid("A"),
                                local=answer(req, "A", [hit("x", "A", 0.3)]),
                                candidates=list(replies), ask_peer=ask)
    by_id = {h.learnware_id: h for h in result.hits}
    assert len(result.hits) == 3
    assert by_id[lid("x")].mmd2 == 0.3  # our own computation wins
    assert by_id[lid("y")].mmd2 == 0.20  # the owner's answer wins over a relay
    assert by_id[lid("z")].mmd2 == 0.25  # among relays, the best rank
    assert [h.learnware_id for h in result.hits] == [lid("y"), lid("z"), lid("x")]


async def test_ranking_puts_lower_mmd2_first_then_score_then_semantic_only():
    req = request()
    hits = [hit("semantic-good", "A", None, 0.9), hit("far", "A", 0.5, 0.9),
            hit("near-low", "A", 0.1, 0.2), hit("near-high", "A", 0.1, 0.8),
            hit("semantic-bad", "A", None, 0.1)]
    result = await route_search(req, node_id=nid("A"), local=answer(req, "A", hits),
                                candidates=[], ask_peer=None)  # type: ignore[arg-type]
    assert [h.learnware_id for h in result.hits] == [
        lid(n) for n in ("near-high", "near-low", "far", "semantic-good", "semantic-bad")]


async def test_k_cuts_the_ranking_but_keeps_the_mixture_members():
    req = request(k=2, max_mixture=2)
    hits = [hit(f"h{i}", "A", 0.1 * (i + 1)) for i in range(6)]
    mixture = MixtureHit(ids=(lid("h4"), lid("h5")), weights=(0.5, 0.5), mmd2=0.01, score=0.9)
    result = await route_search(req, node_id=nid("A"),
                                local=answer(req, "A", hits, mixture=mixture),
                                candidates=[], ask_peer=None)  # type: ignore[arg-type]
    assert [h.learnware_id for h in result.hits] == [lid(n) for n in ("h0", "h1", "h4", "h5")]
    assert result.mixture == mixture and not result.partial


async def test_injected_mixture_sees_every_owners_hits():
    req = request(k=1, max_mixture=2)
    seen = []

    async def mix(hits):
        seen.extend(h.owner for h in hits)
        return MixtureHit(ids=(lid("a1"), lid("b1")), weights=(0.6, 0.4), mmd2=0.02, score=0.8)

    async def ask(peer, forwarded):
        return answer(forwarded, "B", [hit("b1", "B", 0.2)])

    result = await route_search(req, node_id=nid("A"),
                                local=answer(req, "A", [hit("a1", "A", 0.1)]),
                                candidates=[nid("B")], ask_peer=ask, mix=mix)
    assert set(seen) == {nid("A"), nid("B")}
    assert result.mixture is not None and set(result.mixture.ids) == {lid("a1"), lid("b1")}
    assert {h.learnware_id for h in result.hits} == {lid("a1"), lid("b1")}


@in_virtual_time
async def test_a_slow_mixture_falls_back_within_the_deadline():
    req = request(deadline_ms=200)

    async def slow_mix(hits):
        await asyncio.sleep(5)

    result, took = await timed(route_search(
        req, node_id=nid("A"), local=answer(req, "A", [hit("a", "A")]), candidates=[],
        ask_peer=None, mix=slow_mix))  # type: ignore[arg-type]
    assert took < 0.3 and result.mixture is None and len(result.hits) == 1


async def test_an_answer_too_big_for_one_message_is_cut_and_partial():
    req = request(k=50)
    hits = [hit(f"h{i:02d}", "A", 0.01 * i) for i in range(50)]
    full = await route_search(req, node_id=nid("A"), local=answer(req, "A", hits),
                              candidates=[], ask_peer=None)  # type: ignore[arg-type]
    assert len(full.hits) == 50 and not full.partial
    cut = await route_search(req, node_id=nid("A"), local=answer(req, "A", hits),
                             candidates=[], ask_peer=None, max_bytes=4000)  # type: ignore[arg-type]
    assert 0 < len(cut.hits) < 50 and cut.partial
    assert [h.learnware_id for h in cut.hits] == [h.learnware_id for h in full.hits[:len(cut.hits)]]


async def test_rejected_hits_are_dropped():
    req = request()

    async def ask(peer, forwarded):
        return answer(forwarded, "B", [hit("good", "B"), hit("forged", "B", 0.0)])

    result = await route_search(req, node_id=nid("A"), local=answer(req, "A", []),
                                candidates=[nid("B")], ask_peer=ask,
                                accept_hit=lambda h: h.learnware_id != lid("forged"))
    assert [h.learnware_id for h in result.hits] == [lid("good")]


@in_virtual_time
async def test_local_search_runs_while_peers_work():
    req = request(deadline_ms=1000)

    async def local():
        await asyncio.sleep(0.1)
        return answer(req, "A", [hit("a", "A")])

    async def ask(peer, forwarded):
        await asyncio.sleep(0.1)
        return answer(forwarded, "B", [hit("b", "B")])

    result, took = await timed(route_search(req, node_id=nid("A"), local=local(),
                                            candidates=[nid("B")], ask_peer=ask))
    assert took < 0.18 and len(result.hits) == 2


def test_policy_refuses_nonsense():
    for bad in ({"fanout": -1}, {"margin_ms": 1.5}, {"min_forward_ms": 0}, {"reserve_ms": True}):
        with pytest.raises(ValueError):
            RoutingPolicy(**bad)
