"""Routed search: forward a query to a few peers, merge their answers with ours, in time.

`route_search` is the algorithm as a pure coroutine: the network is the injected
``ask_peer(peer, request) -> response`` (like hivemind's ``traverse_dht``), so it is
tested with no sockets and runs unchanged over `lwnode.federation.p2p`. One call handles one
hop; a peer that receives the forwarded request runs the same function with what
is left of the budget.

Rules (the wire fields are in ``docs/protocol.md`` 5.6-5.7):

- **Fan-out.** At most `RoutingPolicy.fanout` peers are asked: the first eligible
  `candidates`, minus this node and every node already in ``visited``. The caller
  orders them (`prefer_keepers`: the peers that keep learnwares like the requirement
  first, for nodes that keep part of the catalog).
- **TTL.** A request with ``ttl == 0`` is answered locally; a forwarded request
  carries ``ttl - 1``.
- **Visited.** The forwarded ``visited`` is the received one plus this node plus
  every peer asked now, so siblings do not ask each other; `RecentQueries` lets a
  node answer a repeated ``query_id`` with an empty response (loops stop).
- **Deadline.** ``deadline_ms`` is a budget from receipt, not a clock time (the
  nodes' clocks are not synchronised). Peers get what is left minus
  `RoutingPolicy.margin_ms` (the hop's own cost: the answer's trip back and the
  merge); peers still silent when the budget runs out are cancelled and named in
  ``missed``, and the answer is ``partial``. A failed call (dead peer) counts the
  same way but costs no waiting.
- **Merge.** Hits are deduplicated by learnware id, trusting the most authoritative
  copy (our own computation, then the owner's answer, then the best relayed one),
  re-ranked by MMD² (lower first, semantic-only hits last) then score, cut to
  ``k`` plus the mixture's members, and cut again to fit one message.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocol import limits
from protocol.codec import fit_prefix
from protocol.messages import MixtureHit, Requirement, SearchHit, SearchRequest, SearchResponse
from protocol.replication import ReplicationFilter

AskPeer = Callable[[str, SearchRequest], Awaitable[SearchResponse]]
"""``await ask_peer(peer_node_id, forwarded_request) -> SearchResponse``; may raise."""

Mix = Callable[[tuple[SearchHit, ...]], Awaitable[MixtureHit | None]]
"""Computes the best mixture over merged hits (every owner's learnwares)."""

LOCAL, OWNER, RELAYED = 0, 1, 2
"""Trust of a copy of a hit: computed here, answered by its owner, relayed by another."""


@dataclass(frozen=True)
class RoutingPolicy:
    """How far and how long a node forwards a query.

    Parameters
    ----------
    fanout
        Peers asked at most per hop.
    margin_ms
        Budget kept by each hop: the forwarded ``deadline_ms`` is what is left minus
        this (one request/response hop measured 7-32 ms on loopback, plus the merge).
    min_forward_ms
        Below this forwarded budget peers are not asked (they could not answer);
        the peers that would have been are named in ``missed``.
    reserve_ms
        Kept at the end of our own budget to merge and answer after the peers'
        cut-off.
    """

    fanout: int = 4
    margin_ms: int = 40
    min_forward_ms: int = 20
    reserve_ms: int = 10

    def __post_init__(self) -> None:
        for name, lo in (("fanout", 0), ("margin_ms", 0), ("min_forward_ms", 1),
                         ("reserve_ms", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < lo:
                raise ValueError(f"RoutingPolicy.{name}: expected an integer >= {lo}, "
                                 f"got {value!r}")


class RecentQueries:
    """Query ids seen lately (bounded, with expiry): a repeat is answered empty.

    `visited` stops a query from going back along its path; two branches of the same
    query can still meet at a node, which then answers the second one with nothing.
    """

    def __init__(self, capacity: int = 10_000, ttl_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = capacity
        self._ttl = ttl_s
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, query_id: str) -> bool:
        """Record `query_id`; True unless it was seen within the expiry."""
        now = self._clock()
        while self._seen and (len(self._seen) >= self._capacity
                              or next(iter(self._seen.values())) + self._ttl < now):
            self._seen.popitem(last=False)
        if query_id in self._seen:
            return False
        self._seen[query_id] = now
        return True


def empty_response(request: SearchRequest, node_id: str) -> SearchResponse:
    """The answer to a query seen before: nothing new, not partial."""
    return SearchResponse(query_id=request.query_id, responder=node_id, hits=())


def rank_key(hit: SearchHit) -> tuple[int, float, float, str]:
    """Best first: by MMD² (lower is better), hits without one last, then by score."""
    if hit.mmd2 is None:
        return (1, 0.0, -hit.score, hit.learnware_id)
    return (0, hit.mmd2, -hit.score, hit.learnware_id)


def forwarded(request: SearchRequest, node_id: str, peers: Sequence[str],
              budget_ms: int) -> SearchRequest:
    """The request as this node passes it on: one hop fewer, more visited, less time."""
    visited = tuple(dict.fromkeys((*request.visited, node_id, *peers)))
    return SearchRequest(query_id=request.query_id, requirement=request.requirement,
                         k=request.k, max_mixture=request.max_mixture,
                         ttl=request.ttl - 1, visited=visited, deadline_ms=budget_ms)


def prefer_keepers(candidates: Iterable[str], keeps: Mapping[str, ReplicationFilter],
                   requirement: Requirement) -> list[str]:
    """`candidates` reordered for a requirement: first the peers known to keep learnwares
    like it (their digests said what they keep, `protocol.replication`), then those not
    known, last those known to keep other ones; stable within each group.

    A node that keeps part of the catalog relies on its peers for the rest, so its
    fan-out goes where the answers are.
    """
    semantic = requirement.semantic
    data_type = semantic.data_type.value if semantic is not None and semantic.data_type \
        else (requirement.spec.space.split("/")[0] if requirement.spec is not None else "")
    tags = semantic.scenarios if semantic is not None else ()

    def rank(peer: str) -> int:
        kept = keeps.get(peer)
        if kept is None:
            return 1
        if kept.data_types and data_type and data_type not in kept.data_types:
            return 2
        if kept.scenarios:
            if not tags:
                return 1  # a tagged part, and a requirement that names no tags
            if set(kept.scenarios).isdisjoint(tags):
                return 2
        return 0

    return sorted(dict.fromkeys(candidates), key=rank)


def choose_peers(request: SearchRequest, node_id: str, candidates: Iterable[str],
                 fanout: int) -> list[str]:
    """The first `fanout` candidates not yet visited (room left in ``visited`` permitting)."""
    if request.ttl <= 0:
        return []
    excluded = {*request.visited, node_id}
    eligible = [p for p in dict.fromkeys(candidates) if p not in excluded]
    room = limits.MAX_VISITED - len(excluded)
    return eligible[:max(0, min(fanout, room))]


async def route_search(request: SearchRequest, *, node_id: str,
                       local: SearchResponse | Awaitable[SearchResponse],
                       candidates: Iterable[str], ask_peer: AskPeer,
                       policy: RoutingPolicy | None = None, mix: Mix | None = None,
                       accept_hit: Callable[[SearchHit], bool] | None = None,
                       received_at: float | None = None,
                       max_bytes: int = limits.MAX_MESSAGE_BYTES) -> SearchResponse:
    """Answer `request`: our own hits plus those of up to `fanout` peers, within the budget.

    Parameters
    ----------
    request
        The query as received (or as built by the asking user's node).
    node_id
        This node's id (the responder; added to ``visited``).
    local
        This node's own answer (or an awaitable of it, run while the peers work).
        It is trusted and always included; bounding its time is the caller's job.
    candidates
        Peers that may be asked, in order of preference (e.g. connected, fastest).
    ask_peer
        Sends the forwarded request to one peer; any exception marks it missed.
    policy
        Fan-out and time margins (`RoutingPolicy`).
    mix
        Computes the mixture over the merged hits (across owners); without it, the
        best mixture among the answers whose members survive the merge is kept.
    accept_hit
        Filter for peers' hits (e.g. signature check with `verify_hit`); rejected
        hits are dropped.
    received_at
        ``loop.time()`` when the request arrived (default: now), so that time spent
        before the call (decoding) counts against the budget.
    max_bytes
        The answer is cut (and marked partial) to encode within this many bytes.

    Returns
    -------
    SearchResponse
        Merged hits (best first), the mixture, and ``partial``/``missed`` naming the
        peers that did not answer in time (and those their answers name).
    """
    policy = policy or RoutingPolicy()
    loop = asyncio.get_running_loop()
    start = loop.time() if received_at is None else received_at
    end = start + request.deadline_ms / 1000.0

    peers = choose_peers(request, node_id, candidates, policy.fanout)
    budget_ms = math.floor((end - loop.time()) * 1000.0) - policy.margin_ms
    missed: list[str] = []
    if peers and budget_ms < policy.min_forward_ms:
        missed, peers = peers, []  # no time left to ask them: they miss the deadline
    tasks: dict[str, asyncio.Task[SearchResponse]] = {}
    if peers:
        onward = forwarded(request, node_id, peers, min(budget_ms, limits.MAX_DEADLINE_MS))
        tasks = {p: asyncio.ensure_future(ask_peer(p, onward)) for p in peers}
    local_task = asyncio.ensure_future(_as_awaitable(local))
    try:
        answers = await _collect(tasks, request, end - policy.reserve_ms / 1000.0, missed)
        own = await local_task
    finally:
        for task in (*tasks.values(), local_task):
            task.cancel()

    partial = bool(missed)
    copies: list[tuple[SearchHit, int]] = [(h, LOCAL) for h in own.hits]
    mixtures = [own.mixture] if own.mixture is not None else []
    for peer, answer in answers.items():
        partial = partial or answer.partial
        missed.extend(answer.missed)
        mixtures += [answer.mixture] if answer.mixture is not None else []
        for hit in answer.hits:
            if accept_hit is None or accept_hit(hit):
                copies.append((hit, OWNER if hit.owner == peer else RELAYED))
    ranked = merge_hits(copies)
    mixture = await _mixture(ranked, mixtures, mix, end - loop.time())
    return _answer(request, node_id, ranked, mixture, partial, missed, max_bytes)


async def _as_awaitable(local: SearchResponse | Awaitable[SearchResponse]) -> SearchResponse:
    if isinstance(local, SearchResponse):
        return local
    return await local


async def _collect(tasks: dict[str, asyncio.Task[SearchResponse]], request: SearchRequest,
                   until: float, missed: list[str]) -> dict[str, SearchResponse]:
    """Wait for the peers until `until` (loop time); the silent and failed go to `missed`."""
    if not tasks:
        return {}
    loop = asyncio.get_running_loop()
    await asyncio.wait(tasks.values(), timeout=max(0.0, until - loop.time()))
    answers: dict[str, SearchResponse] = {}
    for peer, task in tasks.items():
        if not task.done():
            task.cancel()
            missed.append(peer)
        elif task.cancelled() or task.exception() is not None:
            missed.append(peer)
        else:
            answer = task.result()
            if (isinstance(answer, SearchResponse) and answer.query_id == request.query_id
                    and answer.responder == peer):
                answers[peer] = answer
            else:  # an answer to another question, or from someone else
                missed.append(peer)
    return answers


def merge_hits(copies: Iterable[tuple[SearchHit, int]]) -> list[SearchHit]:
    """One hit per learnware id (the most trusted copy, then the best ranked), best first."""
    best: dict[str, tuple[tuple[int, tuple[int, float, float, str]], SearchHit]] = {}
    for hit, trust in copies:
        key = (trust, rank_key(hit))
        kept = best.get(hit.learnware_id)
        if kept is None or key < kept[0]:
            best[hit.learnware_id] = (key, hit)
    return sorted((hit for _, hit in best.values()), key=rank_key)


async def _mixture(ranked: list[SearchHit], mixtures: list[MixtureHit], mix: Mix | None,
                   seconds_left: float) -> MixtureHit | None:
    """The injected mixture over all merged hits, else the best one whose members survive."""
    pool = tuple(ranked[:limits.MAX_HITS])
    if mix is not None and pool:
        try:
            return await asyncio.wait_for(mix(pool), max(0.001, seconds_left))
        except TimeoutError:
            pass  # fall back to the answers' own mixtures
    ids = {hit.learnware_id for hit in pool}
    usable = [m for m in mixtures if set(m.ids) <= ids]
    return min(usable, key=lambda m: m.mmd2, default=None)


def _answer(request: SearchRequest, node_id: str, ranked: list[SearchHit],
            mixture: MixtureHit | None, partial: bool, missed: list[str],
            max_bytes: int) -> SearchResponse:
    """Top-k plus the mixture's members, cut to one message; `missed` unique and bounded."""
    top = ranked[:request.k]
    if mixture is not None:
        chosen = {hit.learnware_id for hit in top}
        by_id = {hit.learnware_id: hit for hit in ranked}
        top += [by_id[i] for i in mixture.ids if i not in chosen]
    top = top[:limits.MAX_HITS]
    names = [m for m in dict.fromkeys(missed) if m != node_id]
    if len(names) > limits.MAX_VISITED:
        names, partial = names[:limits.MAX_VISITED], True

    def build(hits: tuple[SearchHit, ...], partial: bool = partial) -> SearchResponse:
        ids = {hit.learnware_id for hit in hits}
        keep = mixture if mixture is not None and set(mixture.ids) <= ids else None
        return SearchResponse(query_id=request.query_id, responder=node_id, hits=hits,
                              mixture=keep, partial=partial or bool(names),
                              missed=tuple(names))

    n = fit_prefix(lambda hits: build(hits, True), top, max_bytes)
    return build(tuple(top[:n]), partial or n < len(top))
