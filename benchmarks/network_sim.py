"""The whole dock network in one process: storage, traffic, findability, recall, latency.

    python -m benchmarks.network_sim [--nodes 32] [--learnwares 4000] [--offline 0.1]
                                     [--returning 0.5] [--probes 40] [--searches 40]
                                     [--seed 0] [--design full] [--keep all|own]
                                     [--domains 8] [--clock wall|virtual] [--preload]
                                     [--process-ms 0] [--process-us-per-kb 0]

Today's design (``--design full``): every node replicates every signed announcement
(full statistical spec) by gossip, catches up by anti-entropy, and routes each search
to its peers (fan-out 4, ttl 1). Every node is the real stack — `NodeService` over an
in-memory SQLite store, `Federation` (intake, anti-entropy, routing) over an
`InProcessNetwork` — joined by one `InProcessHub` that delays every message by the
sum of both ends' latencies (drawn per node, so a link takes 20–150 ms one way),
can lose gossip (``--loss``), kills nodes and counts the traffic it carries.

The run:

1. Market: `--learnwares` learnwares, each owned by one organization (one node per
   organization) drawn with Zipf-like shares (``--zipf``: the r-th largest holds a
   share ~ 1/r^s, as on real model hubs); specs are synthetic RKMEs around a few tasks
   per space — tables of 4, 8, 16 and 32 columns and 384-d text embeddings
   (``--text-share``), K points each (``--points``). ``--domains`` D tags the market:
   each learnware carries one scenario tag (its domain, Zipf-like shares; an
   organization publishes mostly in its own domain, ``--specialisation``) and each
   user's requirement names the domain of its task (`Market`).
   ``--keep own`` (selective replication, schema 1.4): each node's ``[replication]
   scenarios`` are the domains of its own learnwares and its organization's domain
   (D = 8 unless given); ``--keep all`` (the default) is today's: every node keeps
   everything. With ``own``, node i also dials an earlier node keeping each of its
   domains (`links_of`: a domain's backlog only travels through its keepers).
2. Start-up: each owner's announcements are signed and put in its own store; the
   nodes start (node i dials ``--degree`` random earlier nodes) and replicate
   everything by anti-entropy ("initial replication": bulk intake, CPU-bound here);
   with ``--keep own``, until each holds what it keeps.
3. Offline: ``--offline`` of the nodes are killed (links cut at once).
4. Probes: ``--probes`` new learnwares published one at a time on online nodes (drawn
   with the organizations' shares); the clock runs from the announcement until the
   learnware is in the catalog (findable by a local search) of 99 % and of 100 % of
   the online nodes (``--keep own``: of those keeping its domain; the others reach it
   by routed search, measured in step 6); the gossip the hub carried meanwhile is the
   publish's traffic.
5. Return: ``--returning`` of the offline nodes restart over their stores and catch
   up by anti-entropy (clock: restart to a complete catalog, or to what it keeps).
6. Searches: ``--searches`` requirements (a user's RKME near a random task) sent to
   random online nodes (k = 5, ``--mixture``); recall@5 against one central exact
   catalog (an engine `Catalog` holding every learnware, searched with
   ``exact=True``), latency, and the search traffic at the hub. With ``--keep own``
   each requirement is asked from a random online node keeping its domain and from one
   that does not, reported apart. Storage is counted before the searches (a node takes
   in the answers to its users' searches, whatever they hold).

Wall-clock figures (``--clock wall``, the default) include the CPU time of every
simulated node, all sharing this one process (and the GIL): they are upper bounds of
what the network delays alone would give. ``--clock virtual`` runs the same on a loop
whose clock moves only by the simulated delays (benchmarks/virtual_time.py), with a
modelled intake cost per message (``--process-ms``) standing for CPU; ``--preload``
starts from the converged network instead of replicating it. Storage and traffic are
exact counts either way. ``DESIGNS`` is the one place a
design is chosen; a compact-announcement design is added there (see docs/scale.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lwtesting import content_of, publish_bytes

from benchmarks.common import machine, peak_rss_mb, print_table
from benchmarks.virtual_time import run_virtual
from engine import text_encoder
from engine.search import Catalog, Requirement
from engine.specification import SemanticSpec, spec_from_dict
from engine.specification.rkme import RKMESpec
from lwnode.config import load_config
from lwnode.federation.intake import Checked, check_envelope
from lwnode.federation.layer import Federation
from lwnode.federation.p2p.memory import HubTraffic, InProcessHub, InProcessNetwork, memory_addr
from lwnode.node.catalog import NodeCatalog
from lwnode.node.records import announcement_of, own_summary, sign_announcement
from lwnode.node.searchtypes import SearchQuery
from lwnode.node.service import NodeService
from lwnode.node.store.base import RecordRow
from lwnode.node.store.sqlite import MemoryStore
from protocol.messages import now_ms
from protocol.signing import Identity, verify
from protocol.versions import (
    ANNOUNCE_TOPIC,
    SEARCH_PROTOCOL,
    SPECS_PROTOCOL,
    SUMMARY_TOPIC,
    SYNC_PROTOCOL,
)

TABLE_DIMS = (4, 8, 16, 32)
TASKS_PER_SPACE = 8
DOMAINS = ("business", "financial", "health", "politics", "computer", "internet", "traffic",
           "nature", "fashion", "industry", "agriculture", "education", "entertainment",
           "architecture")
"""The scenario tags of a tagged market (``--domains``): Beimingwu's scenario list."""
OWN_MODE_DOMAINS = 8
"""Domains of a market whose nodes keep their own (``--keep own``) unless given."""
KEEPS = ("all", "own")
CLOCKS = ("wall", "virtual")
POLL = 0.005
"""Seconds between looks at the catalogs while a probe spreads."""


# -- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SimConfig:
    nodes: int = 32
    learnwares: int = 4000
    offline: float = 0.1
    """Share of the nodes killed before the probes."""
    returning: float = 0.5
    """Share of the killed nodes that restart after the probes."""
    probes: int = 40
    searches: int = 40
    seed: int = 0
    degree: int = 3
    """Earlier nodes each node dials at start (links are two-way)."""
    latency_ms: tuple[float, float] = (20.0, 150.0)
    """One-way latency of a link: the sum of both ends' latencies, each drawn uniformly
    from half this range."""
    loss: float = 0.0
    zipf: float = 1.0
    points: int = 50
    text_share: float = 0.1
    mixture: int = 1
    sync_interval: float = 30.0
    design: str = "full"
    deadline_ms: int = 1000
    """Each node's ``[p2p] search_deadline_ms`` (a compact node's fetch budget too)."""
    timeout: float = 120.0
    """Seconds any one wait (replication, a probe, a catch-up) may take."""
    search_ttl: int = 1
    """Each node's ``[p2p] search_ttl``: hops a routed search travels."""
    owner_dials: int = 32
    """Each node's ``[p2p] spec_owner_dials``: owners a search's spec fetch dials when
    it is not linked to them (0: every spec through the relays, as before)."""
    dial_round_trips: int = 2
    """Round trips of such a dial before its request leaves (`InProcessHub`)."""
    domains: int = 0
    """Scenario domains tagging the learnwares and the users' requirements (`DOMAINS`,
    Zipf-like shares); 0: an untagged market (today's), or `OWN_MODE_DOMAINS` with
    ``keep = "own"``."""
    specialisation: float = 0.9
    """Share of an organization's learnwares in its own domain (the rest: any domain,
    with the domains' shares)."""
    keep: str = "all"
    """What a node replicates: "all" (today), or "own": ``[replication] scenarios`` =
    the domains of its own learnwares and its organization's domain."""
    clock: str = "wall"
    """"wall": the run's times are the wall clock, every node's CPU work included (one
    process: an upper bound); "virtual": the loop runs on virtual time
    (benchmarks/virtual_time.py), which moves only by the simulated delays (links,
    timers, intervals, deadlines), CPU work taking none."""
    process_ms: float = 0.0
    """Modelled time a node takes to take in one message it receives (the hub's
    per-node queue, `InProcessHub`), for ``--clock virtual``, where CPU takes none."""
    process_us_per_kb: float = 0.0
    """The same, per kB of the message (a sync page of many records costs more)."""
    preload: bool = False
    """Start from the converged network: each node's store already holds what it keeps
    of its peers' learnwares (the envelopes they offer, verified once, stamped as
    received), so the nodes start by rebuilding their catalogs from their stores
    instead of taking everything in over the network (the initial replication, the
    run's costliest phase in CPU). The probes, returns and searches are unchanged."""

    def __post_init__(self) -> None:
        if self.keep not in KEEPS:
            raise ValueError(f"keep: expected one of {KEEPS}, got {self.keep!r}")
        if self.keep == "own" and not self.domains:
            object.__setattr__(self, "domains", OWN_MODE_DOMAINS)
        if not 0 <= self.domains <= len(DOMAINS):
            raise ValueError(f"domains: 0 to {len(DOMAINS)}, got {self.domains}")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock: expected one of {CLOCKS}, got {self.clock!r}")


# -- designs: the one switch ---------------------------------------------------------------
class FullReplication:
    """Schema 1.2's design (``[p2p] announce = "full"``): a signed announcement carries
    the full spec, every node keeps every announcement in its store and every spec in
    its catalog."""

    name = "full"
    announce_mode = "full"
    topic = ANNOUNCE_TOPIC

    def announce(self, identity: Identity, learnware: Learnware, sequence: int
                 ) -> RecordRow:
        return sign_announcement(identity, learnware_id=learnware.id,
                                 organization=learnware.organization,
                                 semantic=learnware.semantic, spec=learnware.spec,
                                 size=learnware.size, urls=(learnware.url,),
                                 sequence=sequence, now=now_ms())

    def offered(self, identity: Identity, learnware: Learnware, sequence: int) -> bytes:
        """The envelope peers receive and keep for one learnware."""
        return self.offered_of(identity, self.announce(identity, learnware, sequence))

    def offered_of(self, identity: Identity, row: RecordRow) -> bytes:
        """The envelope peers receive and keep for the owner's announcement `row`."""
        return row.envelope

    def stored(self, node: SimNode) -> tuple[int, int]:
        """(bytes of records in the store, bytes of the catalog's arrays: full specs'
        points and index, sketches). Not counted: the spec cache, bounded by ``[search]
        spec_cache_mb`` whatever the number of learnwares."""
        spec_bytes = sum(len(row.envelope) for row in node.store.iter_announcements())
        return spec_bytes, node.service.catalog.nbytes()


class CompactAnnouncements(FullReplication):
    """Schema 1.3's design (the default, ``[p2p] announce = "summary"``): an owner keeps
    its full announcement and gossips its signed summary (spec ids and sketches);
    peers keep the summary, rank by sketch and fetch full specs into a bounded cache
    when a search needs them."""

    name = "compact"
    announce_mode = "summary"
    topic = SUMMARY_TOPIC

    def offered_of(self, identity: Identity, row: RecordRow) -> bytes:
        return own_summary(identity, announcement_of(row))


DESIGNS: dict[str, Callable[[], FullReplication]] = {"full": FullReplication,
                                                      "compact": CompactAnnouncements}


# -- the market ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Learnware:
    id: str
    owner: int
    organization: str
    space: str
    semantic: SemanticSpec
    spec: RKMESpec
    size: int
    url: str
    domain: str = ""
    """Its scenario tag (a tagged market), else ""."""


class Market:
    """Synthetic tasks per space, learnwares around them, users' requirements.

    Learnware i depends on (seed, i) only, so a bigger market extends a smaller one.

    A tagged market (``--domains`` D): each space's 8 tasks are dealt to D domains
    (Beimingwu's scenarios, `DOMAINS`) at random, so a domain spans tables and text
    (one task of each space when D = 8); the domains' shares are Zipf-like (the r-th
    largest ~ 1/r^zipf). Each organization works in one domain (drawn with those
    shares); `specialisation` of its learnwares are in it, the rest in any domain (with
    the same shares). A learnware's task is drawn among its domain's (with the spaces'
    shares) and it carries its domain as its one scenario tag; a user's requirement
    names the domain of the task it searches.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        rng = np.random.default_rng([config.seed, 1])
        self.spaces = [f"table/d={d}" for d in TABLE_DIMS] + ["text"]
        share = (1.0 - config.text_share) / len(TABLE_DIMS)
        self.space_share = np.array([share] * len(TABLE_DIMS) + [config.text_share])
        self.dims = [*TABLE_DIMS, text_encoder.DIM]
        self.centres = [rng.normal(size=(TASKS_PER_SPACE, d)) * (2.0 if d < 384 else 1.0)
                        for d in self.dims]
        ranks = np.arange(1, config.nodes + 1, dtype=float)
        weights = ranks ** -config.zipf
        self.org_share = weights / weights.sum()
        order = np.random.default_rng([config.seed, 2]).permutation(config.nodes)
        self.org_share = self.org_share[np.argsort(order)]  # the largest is not node 0
        self.domains = list(DOMAINS[:config.domains])
        self.groups_of: list[list[tuple[int, int]]] = []
        if self.domains:
            shares = np.arange(1, len(self.domains) + 1, dtype=float) ** -config.zipf
            self.domain_share = shares / shares.sum()
            # each space's tasks dealt to the domains: a domain spans every space (one
            # task of each when D = 8), so the spaces keep their shares
            deal = np.random.default_rng([config.seed, 8])
            self.groups_of = [[] for _ in self.domains]
            for s in range(len(self.spaces)):
                for n, task in enumerate(deal.permutation(TASKS_PER_SPACE)):
                    self.groups_of[(n + s) % len(self.domains)].append((s, int(task)))

    def org_domain(self, owner: int) -> str:
        """The domain an organization works in (its users search it): tagged markets."""
        rng = np.random.default_rng([self.config.seed, 9, owner])
        return self.domains[int(rng.choice(len(self.domains), p=self.domain_share))]

    def _group(self, domain: str, rng: np.random.Generator) -> tuple[int, int]:
        """A (space, task) of `domain`, with the spaces' shares."""
        groups = self.groups_of[self.domains.index(domain)]
        weights = np.array([self.space_share[s] for s, _ in groups])
        return groups[int(rng.choice(len(groups), p=weights / weights.sum()))]

    def owner_of(self, i: int) -> int:
        rng = np.random.default_rng([self.config.seed, 3, i])
        return int(rng.choice(self.config.nodes, p=self.org_share))

    def _points(self, s: int, task: int, scale: float, rng: np.random.Generator
                ) -> np.ndarray:
        k, d = self.config.points, self.dims[s]
        x = self.centres[s][task] + rng.normal(scale=scale, size=(k, d))
        if d == text_encoder.DIM:  # text specs live on the unit sphere
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def _spec(self, s: int, points: np.ndarray, n: int, rng: np.random.Generator
              ) -> RKMESpec:
        d = self.dims[s]
        text = d == text_encoder.DIM
        return spec_from_dict({
            "type": "rkme_text" if text else "rkme_table", "format": 1,
            "space": text_encoder.SPACE if text else self.spaces[s],
            "gamma": 1.0 if text else 1.0 / d, "n_samples": n, "points": points,
            "weights": rng.dirichlet(np.full(len(points), 5.0)), "params": {}})

    def learnware(self, i: int, owner: int | None = None, space: str | None = None
                  ) -> Learnware:
        rng = np.random.default_rng([self.config.seed, 4, i])
        s = int(rng.choice(len(self.spaces), p=self.space_share))
        task = int(rng.integers(TASKS_PER_SPACE))
        owner = self.owner_of(i) if owner is None else owner
        domain = ""
        if self.domains:  # the domain follows the owner; the task, the domain
            pick = np.random.default_rng([self.config.seed, 10, i])
            domain = (self.org_domain(owner) if pick.random() < self.config.specialisation
                      else self.domains[int(pick.choice(len(self.domains),
                                                        p=self.domain_share))])
            s, task = self._group(domain, pick)
        s = s if space is None else self.spaces.index(space)
        spec = self._spec(s, self._points(s, task, rng.uniform(0.3, 1.5), rng), 1000, rng)
        d = self.dims[s]
        kind = "classification" if task % 2 else "regression"
        semantic = SemanticSpec.from_dict({
            "data_type": "text" if d == text_encoder.DIM else "table", "task_type": kind,
            "library": "scikit_learn", "name": f"model {i}", "input": {"dimension": d},
            "scenarios": [domain] if domain else [],
            "output": {"dimension": 1, "labels": ["a", "b"] if kind == "classification"
                       else []}})
        lid = "sha256:" + hashlib.sha256(f"{self.config.seed}/{i}".encode()).hexdigest()
        return Learnware(lid, owner, organization_of(owner), self.spaces[s], semantic, spec,
                         100_000, f"http://org{owner}.example:8470/v1/learnwares/{lid}/package",
                         domain)

    def requirement(self, j: int) -> Requirement:
        """User j's requirement; in a tagged market it names its task's domain (as the
        page's or CLI's semantic TOML does), drawn with the domains' shares."""
        rng = np.random.default_rng([self.config.seed, 5, j])
        s = int(rng.choice(len(self.spaces), p=self.space_share))
        task = int(rng.integers(TASKS_PER_SPACE))
        semantic = None
        if self.domains:
            pick = np.random.default_rng([self.config.seed, 11, j])
            domain = self.domains[int(pick.choice(len(self.domains), p=self.domain_share))]
            s, task = self._group(domain, pick)
            semantic = SemanticSpec(scenarios=(domain,))
        return Requirement(semantic, self._spec(s, self._points(s, task, 0.8, rng), 500, rng))

    def kept_domains(self, learnwares: Sequence[Learnware]) -> list[frozenset[str] | None]:
        """What each node keeps (``--keep``): None for everything; in "own" mode the
        domains of its own learnwares and its organization's domain (so a node with no
        learnwares keeps the domain its users search, not nothing)."""
        if self.config.keep == "all":
            return [None] * self.config.nodes
        keeps = [{self.org_domain(n)} for n in range(self.config.nodes)]
        for lw in learnwares:
            keeps[lw.owner].add(lw.domain)
        return [frozenset(k) for k in keeps]


def organization_of(owner: int) -> str:
    return f"Org {owner}"


def identity_of(config: SimConfig, owner: int) -> Identity:
    return Identity.from_seed(hashlib.sha256(f"sim/{config.seed}/{owner}".encode()).digest())


# -- nodes -----------------------------------------------------------------------------------
@dataclass
class SimNode:
    index: int
    identity: Identity
    store: MemoryStore
    service: NodeService
    network: InProcessNetwork
    keeps: frozenset[str] | None = None
    """The domains it replicates (``[replication] scenarios``); None: everything."""
    online: bool = True

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def keeps_domain(self, domain: str) -> bool:
        return self.keeps is None or domain in self.keeps

    def should_hold(self, lw: Learnware) -> bool:
        """What it converges on: what it keeps, and its own learnwares."""
        return self.keeps_domain(lw.domain) or lw.owner == self.index

    def holds(self, learnware_id: str) -> bool:
        return bool(self.service.catalog.locations(learnware_id))


def node_config(config: SimConfig, owner: int, most_per_owner: int,
                keeps: frozenset[str] | None = None) -> Any:
    # Two settings a market this size needs raised (docs/scale.md): one organization
    # may hold more than the default 1,000 records, and a node meets every owner of
    # the network through its few peers (default: 20 new owners per peer at once).
    return load_config(None, env={}, overrides={
        "node": {"organization": organization_of(owner)}, "checks": {"isolation": "thread"},
        "p2p": {"sync_interval": config.sync_interval,
                "search_deadline_ms": config.deadline_ms, "search_ttl": config.search_ttl,
                "spec_owner_dials": config.owner_dials,
                "announce": DESIGNS[config.design]().announce_mode},
        "peer_limits": {"max_records_per_owner": max(1000, 2 * most_per_owner),
                        "new_owners_burst": max(20, config.nodes + 1)},
        "replication": {"scenarios": sorted(keeps)} if keeps is not None else {}})


async def start_node(hub: InProcessHub, config: SimConfig, owner: int, store: MemoryStore,
                     peers: Sequence[str], most_per_owner: int,
                     keeps: frozenset[str] | None = None) -> SimNode:
    identity = identity_of(config, owner)
    network = InProcessNetwork(hub, identity.node_id,
                               bootstrap=tuple(memory_addr(p) for p in peers))
    service = NodeService(node_config(config, owner, most_per_owner, keeps), identity, store,
                          Federation(network))
    await service.start()
    return SimNode(owner, identity, store, service, network, keeps)


async def wait(predicate: Callable[[], bool], what: str, timeout: float,
               progress: Callable[[], None] | None = None) -> float:
    """Seconds (the loop's clock) until `predicate` holds (polled every `POLL`); raises
    after `timeout`. `progress` is called every 30 s of real time meanwhile."""
    loop = asyncio.get_running_loop()
    began, told = loop.time(), time.perf_counter()
    while not predicate():
        if loop.time() - began > timeout:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        if progress is not None and time.perf_counter() - told > 30:
            told = time.perf_counter()
            progress()
        await asyncio.sleep(POLL)
    return loop.time() - began


# -- results ---------------------------------------------------------------------------------
@dataclass
class Probe:
    learnware_id: str
    to_99: float
    """Seconds until 99 % of the online nodes that keep its domain held it (all of them
    unless ``--keep own``; its publisher counts as one)."""
    to_all: float
    gossip_messages: int
    gossip_bytes: int
    envelope_bytes: int
    owner: int = 0
    domain: str = ""
    keepers: int = 0
    """Online nodes that keep its domain (its publisher included)."""
    held_by_others: int = 0
    """Online nodes not keeping its domain that held it all the same (expected: 0)."""
    missed: int = 0
    """Online nodes keeping its domain that did not hold it within `SimConfig.timeout`
    (then `to_all`, and `to_99` if they were over 1 %, are infinite)."""


@dataclass
class Search:
    recall: float
    seconds: float
    requests: int
    bytes: int
    asked: int
    partial: bool
    keeps: bool = True
    """The asking node keeps the requirement's domain (always, unless ``--keep own``)."""
    keepers_asked: int = 0
    """Peers asked that keep the requirement's domain."""
    spec_requests: int = 0
    """Full-spec fetches (requests + responses, every hop) the search caused: the
    compact design's shortlist, fetched by the asker and by the peers it asked."""
    spec_bytes: int = 0
    missed_unlisted: int = 0
    """True top-5 learnwares missed that were not on the asker's sketch shortlist."""
    missed_unfetched: int = 0
    """... on it, but their full spec had not reached the asker (ranked by sketch)."""
    missed_fetched: int = 0
    """... on it with their full spec at the asker (ranked exactly, still missed)."""
    shortlist_fetched: float = 1.0
    """Share of the asker's summarised shortlist whose full spec it holds afterwards."""
    owner_dials: int = 0
    """Short-lived connections to owners the search's spec fetches opened."""


@dataclass
class SimResult:
    config: SimConfig
    spaces: dict[str, int]
    owners: list[int]
    online: int
    replicate_s: float
    stored: list[tuple[int, int, int]]
    """Per online node: (learnwares held, store announcement bytes, catalog bytes),
    before the searches (a search's answers are taken in, whatever they hold)."""
    probes: list[Probe]
    returns: list[float]
    searches: list[Search]
    sync_traffic: HubTraffic
    sync_seconds: float
    online_probing: int
    """Nodes online while the probes ran (and the anti-entropy traffic was counted)."""
    returns_late: int
    """Returning nodes whose catalog was not complete within `SimConfig.timeout`."""
    phases: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds of each phase of the run."""
    phases_loop: dict[str, float] = field(default_factory=dict)
    """The loop's seconds of each phase (``--clock virtual``: simulated time)."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the process (every thread) in each phase."""
    converged: bool = False
    """Every online node held exactly what it should before the searches: every
    learnware (``--keep all``), or those of the domains it keeps and its own."""
    domains: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Tagged market, per domain: (learnwares, online nodes keeping it at the end)."""
    total: int = 0
    """Learnwares in the network at the end (probes included)."""
    by_space: dict[str, tuple[float, float]] = field(default_factory=dict)
    """`bytes_by_space` (filled by `main`: not needed by the test)."""
    isolated: int = 0
    """Online nodes with no online peer while the probes ran (their links all went to
    nodes taken offline): nothing reaches them but what they publish, and the probes'
    "findable from" figures leave them out."""


# -- the run ---------------------------------------------------------------------------------
def links_of(config: SimConfig, keeps: Sequence[frozenset[str] | None] = ()
             ) -> list[list[int]]:
    """The earlier nodes node i dials: `degree` at random, and (``--keep own``), for each
    domain it keeps that none of those keeps, one earlier node that keeps it.

    The second rule is a deployment rule the design needs: anti-entropy pulls only what
    both ends keep, so a domain's existing records reach a node only through a chain of
    nodes that keep it; a node whose peers keep none of its domains would never get
    them (gossip still floods it new ones). Each keeper linked to an earlier one keeps
    every domain's keepers connected.
    """
    rng = np.random.default_rng([config.seed, 6])
    links = [sorted(int(j) for j in rng.choice(i, size=min(i, config.degree), replace=False))
             if i else [] for i in range(config.nodes)]
    extra = np.random.default_rng([config.seed, 12])
    for i, kept in enumerate(keeps):
        for domain in sorted(kept or ()):
            known = [j for j in range(i) if domain in (keeps[j] or {domain})]
            if known and not any(j in known for j in links[i]):
                links[i] = sorted({*links[i], int(extra.choice(known))})
    return links


class Stopwatch:
    """Wall-clock, loop-clock and CPU seconds of the run's phases (`SimResult.phases`,
    ``phases_loop``, ``cpu``): on ``--clock virtual`` the loop's are simulated time."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.loop: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.restart()

    def restart(self) -> None:
        self._at = (time.perf_counter(), asyncio.get_running_loop().time(),
                    time.process_time())

    def lap(self, name: str) -> float:
        """Record phase `name` (since the last `restart`); its loop-clock seconds."""
        wall, at, cpu = self._at
        self.wall[name] = time.perf_counter() - wall
        self.loop[name] = asyncio.get_running_loop().time() - at
        self.cpu[name] = time.process_time() - cpu
        return self.loop[name]


def channel_total(traffic: HubTraffic, protocol_id: str) -> tuple[int, int]:
    keys = (f"request {protocol_id}", f"response {protocol_id}")
    return (sum(traffic.messages[k] for k in keys), sum(traffic.bytes[k] for k in keys))


async def run_sim(config: SimConfig, log: Callable[[str], None] = lambda _: None
                  ) -> SimResult:
    design = DESIGNS[config.design]()
    market = Market(config)
    watch = Stopwatch()
    learnwares = [market.learnware(i) for i in range(config.learnwares)]
    owners = Counter(lw.owner for lw in learnwares)
    most = max(owners.values()) + config.probes
    keeps = market.kept_domains(learnwares)
    identities = [identity_of(config, n) for n in range(config.nodes)]
    stores = [MemoryStore() for _ in range(config.nodes)]
    sequence = Counter[int]()
    by_owner: dict[int, list[RecordRow]] = {}
    for lw in learnwares:
        sequence[lw.owner] += 1
        by_owner.setdefault(lw.owner, []).append(
            design.announce(identities[lw.owner], lw, sequence[lw.owner]))
    for owner, rows in by_owner.items():
        stores[owner].put_records(rows)
    if config.preload:
        preload(config, design, learnwares, by_owner, identities, keeps, stores)
    central = Catalog()
    central.add_many((lw.id, lw.semantic, lw.spec) for lw in learnwares)
    watch.lap("market: sign, store, central catalog")
    log(f"market of {len(learnwares)} learnwares ready")

    rng = np.random.default_rng([config.seed, 7])
    hub = InProcessHub(drop=config.loss, seed=config.seed, process=config.process_ms / 1e3,
                       process_per_byte=config.process_us_per_kb / 1e9,
                       dial_round_trips=config.dial_round_trips)
    low, high = (ms / 2000.0 for ms in config.latency_ms)
    for identity in identities:
        hub.set_delay(identity.node_id, float(rng.uniform(low, high)))
    links = links_of(config, keeps)
    async with AsyncExitStack() as stack:
        stack.callback(lambda: [s.close() for s in stores])  # after the nodes stop
        nodes: list[SimNode] = []
        watch.restart()
        for n in range(config.nodes):
            node = await start_node(hub, config, n, stores[n],
                                    [identities[j].node_id for j in links[n]], most, keeps[n])
            stack.push_async_callback(stop_node, node)
            nodes.append(node)
            if (n + 1) % 100 == 0:
                log(f"{n + 1} nodes started")
        # what each node converges on: everything, or its part (`SimNode.should_hold`)
        target = [sum(n.should_hold(lw) for lw in learnwares) for n in nodes]
        replicate_s = await wait(
            lambda: all(len(n.service.catalog) == target[n.index] for n in nodes),
            # bulk intake is CPU-bound: 20 records a second at the least (a loaded machine)
            "the initial replication", config.timeout + sum(target) / 20,
            lambda: log(f"replicating: {sum(len(n.service.catalog) for n in nodes):,} of "
                        f"{sum(target):,} held, loop clock "
                        f"{asyncio.get_running_loop().time():.1f} s, peak RSS "
                        f"{peak_rss_mb():,.0f} MiB"))
        watch.lap("start-up and initial replication")
        log(f"{config.nodes} nodes replicated {sum(target):,} of {len(learnwares) * len(nodes):,}"
            f" (learnwares x nodes) in {replicate_s:.1f} s")

        offline = sorted(int(i) for i in rng.choice(
            config.nodes, size=round(config.offline * config.nodes), replace=False))
        for i in offline:
            hub.kill(nodes[i].node_id)
            nodes[i].online = False
            await nodes[i].service.stop()
        online = [n for n in nodes if n.online]
        online_probing = len(online)
        isolated = sum(not hub.neighbours(n.node_id) for n in online)
        if isolated:
            log(f"{isolated} online node(s) have no online peer")

        watch.restart()
        sync_before = hub.traffic.copy()
        probes = []
        for p in range(config.probes):
            i = config.learnwares + p
            probes.append(await probe(hub, market, online, config, rng, i))
            if (p + 1) % 10 == 0:
                log(f"{p + 1} probes: last findable from all in {probes[-1].to_all:.2f} s "
                    f"(loop clock), peak RSS {peak_rss_mb():,.0f} MiB")
            lw = market.learnware(i, owner=probes[-1].owner)  # as its publisher made it
            central.add(probes[-1].learnware_id, lw.semantic, lw.spec)
            learnwares.append(dataclasses.replace(lw, id=probes[-1].learnware_id))
            for each in nodes:
                target[each.index] += each.should_hold(lw)
        sync_traffic = hub.traffic.since(sync_before)
        sync_seconds = watch.lap("probes")
        log(f"{len(probes)} probes done in {sync_seconds:.1f} s")

        watch.restart()
        returning = offline[:round(config.returning * len(offline))]
        returns: list[float] = []
        late = 0
        for i in returning:
            restarted_at = asyncio.get_running_loop().time()
            node = await start_node(hub, config, i, nodes[i].store,
                                    [identities[j].node_id for j in links[i]], most, keeps[i])
            stack.push_async_callback(stop_node, node)
            nodes[i] = node
            try:
                await wait(lambda n=node: len(n.service.catalog) == target[n.index],
                           "a returning node", config.timeout)
            except TimeoutError:  # a finding, not a failure of the run: counted
                late += 1
            else:
                returns.append(asyncio.get_running_loop().time() - restarted_at)
        online = [n for n in nodes if n.online]
        watch.lap("returning nodes")

        # storage before the searches: a search's answers are taken in, whatever they hold
        stored = []
        for each in online:
            spec_bytes, catalog_bytes = design.stored(each)
            stored.append((len(each.service.catalog), spec_bytes, catalog_bytes))
        converged = all(n.service.catalog.ids() == {lw.id for lw in learnwares
                                                    if n.should_hold(lw)}
                        for n in online)  # late ones included
        watch.restart()
        searches = []
        for j in range(config.searches):
            searches += await search(hub, central, online, market, config, rng, j)
            if (j + 1) % 10 == 0:
                log(f"{j + 1} searches")
        watch.lap("searches")
    domains = Counter(lw.domain for lw in learnwares)
    return SimResult(config, dict(Counter(lw.space for lw in learnwares)),
                     [owners[n] for n in range(config.nodes)], len(online), replicate_s,
                     stored, probes, returns, searches, sync_traffic, sync_seconds,
                     online_probing, late, watch.wall, watch.loop, watch.cpu, converged,
                     domains={d: (domains[d], sum(n.keeps_domain(d) for n in online))
                              for d in market.domains},
                     total=len(learnwares), isolated=isolated)


def preload(config: SimConfig, design: FullReplication, learnwares: Sequence[Learnware],
            by_owner: dict[int, list[RecordRow]], identities: Sequence[Identity],
            keeps: Sequence[frozenset[str] | None], stores: Sequence[MemoryStore]) -> None:
    """Put in each node's store the peers' learnwares it keeps (`SimConfig.preload`):
    the envelope a peer is offered for each (`FullReplication.offered_of`), verified
    once, as the intake would store it."""
    received = now_ms()
    peer_rows: list[RecordRow] = []
    index = Counter[int]()
    for lw in learnwares:
        own = by_owner[lw.owner][index[lw.owner]]
        index[lw.owner] += 1
        checked = check_envelope(design.offered_of(identities[lw.owner], own), received)
        assert isinstance(checked, Checked), checked
        peer_rows.append(checked.row)
    for n, store in enumerate(stores):
        kept = keeps[n]
        store.put_records([row for lw, row in zip(learnwares, peer_rows, strict=True)
                           if lw.owner != n and (kept is None or lw.domain in kept)])


def simulate(config: SimConfig, log: Callable[[str], None] = lambda _: None) -> SimResult:
    """`run_sim` on the loop its ``clock`` asks for: asyncio's, or a `VirtualTimeLoop`
    that runs the nodes' executor jobs inline (they take no simulated time either way;
    inline spares a thread hand-off per job)."""
    if config.clock == "virtual":
        return run_virtual(run_sim(config, log), inline_jobs=True)
    return asyncio.run(run_sim(config, log))


async def stop_node(node: SimNode) -> None:
    if node.online:
        await node.service.stop()
        node.online = False


async def probe(hub: InProcessHub, market: Market, online: list[SimNode], config: SimConfig,
                rng: np.random.Generator, i: int) -> Probe:
    """Publish learnware `i` on an online node (organizations' shares) and time its spread
    to the online nodes that keep its domain (all of them unless ``--keep own``)."""
    weights = market.org_share[[n.index for n in online]]
    origin = online[int(rng.choice(len(online), p=weights / weights.sum()))]
    lw = market.learnware(i, owner=origin.index)
    service = origin.service
    lid, _ = publish_bytes(service.store, service.identity, content_of(i),
                           semantic=lw.semantic, spec=lw.spec,
                           organization=service.organization)
    row = service.store.get_record(origin.node_id, lid)
    assert row is not None
    # nodes with no online peer (their links all went to offline nodes) cannot get it:
    # counted apart (`SimResult.isolated`), not waited for
    keepers = [n for n in online if (n.keeps_domain(lw.domain) or n is origin)
               and (n is origin or hub.neighbours(n.node_id))]
    before = hub.traffic.copy()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert isinstance(service.peers, Federation)
    await service.offer(row)  # indexed here, its specs servable, gossiped
    need = math.ceil(0.99 * len(keepers))
    waiting = {n.index: n for n in keepers}  # one that holds it keeps it: look at the rest

    def holding() -> int:
        for index in [i for i, n in waiting.items() if n.holds(lid)]:
            del waiting[index]
        return len(keepers) - len(waiting)

    try:  # a node cut off from every online peer never gets it: counted, not fatal
        to_99 = await wait(lambda: holding() >= need,
                           "99 % of the online nodes keeping its domain", config.timeout)
    except TimeoutError:
        to_99 = math.inf
    try:
        await wait(lambda: holding() == len(keepers),
                   "every online node keeping its domain", config.timeout - (loop.time() - t0))
        to_all = loop.time() - t0
    except TimeoutError:
        to_all = math.inf
    # copies still in flight (to nodes that have it already) are part of the cost
    await asyncio.sleep(2 * config.latency_ms[1] / 1000.0)
    gossip = f"gossip {DESIGNS[config.design]().topic}"
    traffic = hub.traffic.since(before)
    others = sum(n.holds(lid) for n in online if n not in keepers)
    return Probe(lid, to_99, to_all, traffic.messages[gossip], traffic.bytes[gossip],
                 len(service.summary_envelope(row) if service.offers_summaries
                     else row.envelope), origin.index, lw.domain, len(keepers), others,
                 len(waiting))


async def search(hub: InProcessHub, central: Catalog, online: list[SimNode], market: Market,
                 config: SimConfig, rng: np.random.Generator, j: int) -> list[Search]:
    """User j's requirement from a random online node; with ``--keep own``, from a random
    online node that keeps its domain and from one that does not (each when there is one)."""
    requirement = market.requirement(j)
    truth = central.search(requirement, k=5, max_mixture=1, exact=True)
    want = [m.id for m in truth.single]
    domain = requirement.semantic.scenarios[0] if requirement.semantic is not None else ""
    if config.keep == "all":
        askers = [online[int(rng.integers(len(online)))]]
    else:
        askers = []
        for keeps in (True, False):
            group = [n for n in online if n.keeps_domain(domain) == keeps]
            if group:
                askers.append(group[int(rng.integers(len(group)))])
    by_id = {n.node_id: n for n in online}
    out = []
    for node in askers:
        before = hub.traffic.copy()
        loop = asyncio.get_running_loop()
        began = loop.time()
        answer = await node.service.search(SearchQuery(requirement, 5, config.mixture))
        seconds = loop.time() - began
        await asyncio.sleep(2 * config.latency_ms[1] / 1000.0)  # late answers count too
        carried = hub.traffic.since(before)
        messages, size = channel_total(carried, SEARCH_PROTOCOL)
        spec_messages, spec_size = channel_total(carried, SPECS_PROTOCOL)
        got = [h.learnware_id for h in answer.hits[:5]]
        recall = len(set(got) & set(want)) / len(want) if want else 1.0
        keepers_asked = sum(1 for p in answer.asked
                            if p in by_id and by_id[p].keeps_domain(domain))
        misses = miss_kinds(node, requirement, [i for i in want if i not in got])
        out.append(Search(recall, seconds, messages, size, len(answer.asked), answer.partial,
                          node.keeps_domain(domain), keepers_asked, spec_messages, spec_size,
                          *misses, carried.messages[f"dial {SPECS_PROTOCOL}"]))
    return out


def miss_kinds(node: SimNode, requirement: Requirement, missed: list[str]
               ) -> tuple[int, int, int, float]:
    """The asker's missed true top-5 by why: (not on its sketch shortlist, on it without
    its full spec at the asker, on it with the spec there), and the share of its
    summarised shortlist whose full spec it holds."""
    service = node.service
    shortlisted = service.catalog.shortlist(requirement)
    spec_of = {t.learnware_id: t.spec_id for t in shortlisted.to_fetch}
    listed = {m.id for m in shortlisted.matches} | set(spec_of)
    unlisted = sum(1 for i in missed if i not in listed)
    unfetched = sum(1 for i in missed if i in spec_of and spec_of[i] not in service.spec_cache)
    held = sum(i in service.spec_cache for i in spec_of.values()) / len(spec_of) if spec_of \
        else 1.0
    return unlisted, unfetched, len(missed) - unlisted - unfetched, held


def bytes_by_space(market: Market, design: FullReplication, n: int = 256
                   ) -> dict[str, tuple[float, float]]:
    """Per space: (signed announcement, catalog) bytes per learnware, measured on `n`
    learnwares of that space alone (the per-node cost of each kind of learnware)."""
    identity = identity_of(market.config, 0)
    out = {}
    for space in market.spaces:
        envelope = 0
        offers = []
        for i in range(n):
            lw = market.learnware(i, owner=0, space=space)
            offered = design.offered(identity, lw, i + 1)
            envelope += len(offered)
            offers.append(verify(offered))
        catalog = NodeCatalog()
        for offer in offers:
            catalog.add(offer)
        out[space] = (envelope / n, catalog.nbytes() / n)
    return out


# -- tables ----------------------------------------------------------------------------------
def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def print_result(r: SimResult, wall: float) -> None:
    c = r.config
    top = sorted(r.owners, reverse=True)
    keep_rows = []
    if c.domains:
        keep_rows = [["scenario domains (Zipf-like shares), organizations' specialisation",
                      f"{c.domains}, {c.specialisation:.0%} of an organization's learnwares "
                      "in its domain"],
                     ["what a node keeps", "everything" if c.keep == "all" else
                      "the domains of its own learnwares and its organization's domain"]]
    print_table(f"Network simulation: {c.design} replication, keep {c.keep} ({machine()})",
                ["setting", "value"], [
                    ["nodes (organizations) / online at the end", f"{c.nodes} / {r.online}"],
                    ["learnwares (+ probes)", f"{c.learnwares:,} (+{c.probes})"],
                    ["per space", ", ".join(f"{s}: {n}" for s, n in sorted(r.spaces.items()))],
                    ["points per spec (K)", c.points],
                    ["share of the largest 1 / 3 organizations",
                     f"{top[0] / c.learnwares:.0%} / {sum(top[:3]) / c.learnwares:.0%} "
                     f"(Zipf s = {c.zipf})"],
                    *keep_rows,
                    ["links", f"each node dials {c.degree} earlier nodes"],
                    ["one-way link latency", f"{c.latency_ms[0]:g}-{c.latency_ms[1]:g} ms"],
                    ["gossip loss per link", f"{c.loss:.1%}"],
                    ["routed search", f"ttl {c.search_ttl}, fan-out 4, deadline "
                                      f"{c.deadline_ms} ms"],
                    ["full specs of a search's shortlist", f"from linked owners, up to "
                     f"{c.owner_dials} other owners dialled ({c.dial_round_trips} round "
                     f"trips a dial), the rest through 2 relays (ttl 2)"],
                    ["offline during probes / of them back", f"{c.offline:.0%} / "
                     f"{c.returning:.0%}"],
                    ["anti-entropy interval", f"{c.sync_interval:g} s"],
                    ["initial state", "preloaded: each node's store holds what it keeps "
                     "(the nodes start converged)" if c.preload else
                     "each owner's own learnwares; the rest replicated over the network"],
                    ["clock", "virtual: simulated delays only, CPU takes no time (modelled "
                     f"intake {c.process_ms:g} ms + {c.process_us_per_kb:g} us/kB a message)"
                     if c.clock == "virtual" else "wall: every node's CPU work included"],
                    *[[f"phase: {k}", f"{v:.1f} s wall, {r.cpu.get(k, 0.0):.1f} s CPU" +
                       (f", {r.phases_loop[k]:.1f} s simulated" if c.clock == "virtual"
                        and k in r.phases_loop else "")] for k, v in r.phases.items()],
                    ["wall time, peak RSS", f"{wall:.0f} s, {peak_rss_mb():,.0f} MiB"]])
    if r.domains:
        print_table("Domains (scenario tags) at the end",
                    ["domain", "learnwares", "share", "online nodes keeping it"],
                    [[d, n, f"{n / r.total:.1%}", f"{k} of {r.online}"]
                     for d, (n, k) in sorted(r.domains.items(), key=lambda kv: -kv[1][0])])

    held = [h for h, _, _ in r.stored]
    spec = [s for _, s, _ in r.stored]
    cat = [k for _, _, k in r.stored]
    per_lw = statistics.mean((s + k) / h for h, s, k in r.stored)
    share = [h / r.total for h in held]
    both = [s + k for _, s, k in r.stored]
    print_table("Bytes stored per online node (MiB)",
                ["", "mean", "min", "max"], [
                    ["learnwares held", f"{statistics.mean(held):,.0f}", min(held), max(held)],
                    ["share of the network's learnwares held", f"{statistics.mean(share):.1%}",
                     f"{min(share):.1%}", f"{max(share):.1%}"],
                    ["signed announcements in the store", mib(statistics.mean(spec)),
                     mib(min(spec)), mib(max(spec))],
                    ["catalog arrays (points, weights, index)", mib(statistics.mean(cat)),
                     mib(min(cat)), mib(max(cat))],
                    ["store + catalog", mib(statistics.mean(both)), mib(min(both)),
                     mib(max(both))],
                    ["bytes per learnware held (store + catalog)", f"{per_lw:,.0f} B", "", ""]])

    env = [p.envelope_bytes for p in r.probes]
    msgs = [p.gossip_messages for p in r.probes]
    gbytes = [p.gossip_bytes for p in r.probes]
    sync_msgs, sync_bytes = channel_total(r.sync_traffic, SYNC_PROTOCOL)
    per_node_min = 60.0 / max(r.sync_seconds, 1e-9) / r.online_probing
    search_rows = []
    for label, group in kinds_of_asker(r):
        search_rows.append([f"one search{label}: requests + responses (mean)",
                            f"{statistics.mean(s.requests for s in group):,.1f}",
                            f"{statistics.mean(s.bytes for s in group):,.0f}",
                            f"{statistics.mean(s.asked for s in group):.1f} peers asked"])
        search_rows.append([f"one search{label}: full-spec fetches, every hop (mean)",
                            f"{statistics.mean(s.spec_requests for s in group):,.1f}",
                            f"{statistics.mean(s.spec_bytes for s in group):,.0f}",
                            f"requests + responses; "
                            f"{statistics.mean(s.owner_dials for s in group):.1f} owners "
                            f"dialled"])
    print_table("Traffic counted at the hub", ["what", "messages", "bytes", "note"], [
        ["one publish: gossip copies (mean)", f"{statistics.mean(msgs):,.0f}",
         f"{statistics.mean(gbytes):,.0f}",
         f"envelope {statistics.mean(env):,.0f} B; "
         f"{statistics.mean(msgs) / r.online_probing:.1f} copies per online node"],
        *search_rows,
        ["anti-entropy while probing, per node-minute", f"{sync_msgs * per_node_min:,.1f}",
         f"{sync_bytes * per_node_min:,.0f}", f"over {r.sync_seconds:.0f} s"]])

    to99 = [p.to_99 for p in r.probes]
    to_all = [p.to_all for p in r.probes]
    whom = "online nodes" if c.keep == "all" else "online nodes keeping its domain"
    if r.isolated:
        whom += f" with an online peer ({r.isolated} had none)"
    rows = [[f"findable from 99 % of {whom}", len(to99), f"{pct(to99, 50):.2f}",
             f"{pct(to99, 95):.2f}", f"{max(to99):.2f}"],
            [f"findable from every one of the {whom}", len(to_all), f"{pct(to_all, 50):.2f}",
             f"{pct(to_all, 95):.2f}", f"{max(to_all):.2f}"]]
    if c.keep != "all":
        keepers = [float(p.keepers) for p in r.probes]
        rows.append([f"online nodes keeping the probe's domain (count, of "
                     f"{r.online_probing})", len(keepers), f"{pct(keepers, 50):.0f}",
                     f"{pct(keepers, 95):.0f}", f"{max(keepers):.0f}"])
        rows.append(["other online nodes holding it all the same (count)", len(r.probes),
                     "", "", f"{max(p.held_by_others for p in r.probes)}"])
    missed = [p.missed for p in r.probes if p.missed]
    if missed:
        rows.append([f"probes some online node did not hold within {c.timeout:g} s (nodes "
                     f"missed: max; {r.isolated} online node(s) had no online peer)",
                     len(missed), "", "", max(missed)])
    if r.returns:
        rows.append(["returning node: restart to complete catalog", len(r.returns),
                     f"{pct(r.returns, 50):.2f}", f"{pct(r.returns, 95):.2f}",
                     f"{max(r.returns):.2f}"])
    if r.returns_late:
        rows.append([f"returning nodes not complete within {c.timeout:g} s", r.returns_late,
                     "", "", ""])
    rows.append(["initial replication (all nodes, what each keeps)", 1,
                 f"{r.replicate_s:.1f}", "", ""])
    print_table(f"Time to findable (s, {'simulated' if c.clock == 'virtual' else 'wall clock'})",
                ["", "n", "p50", "p95", "max"], rows)

    rows = []
    for label, group in kinds_of_asker(r):
        lat = [s.seconds * 1000 for s in group]
        recall = [s.recall for s in group]
        rows.append([f"random online node{label}", len(lat), f"{statistics.mean(recall):.3f}",
                     f"{min(recall):.2f}", sum(s.recall == 1.0 for s in group),
                     f"{statistics.mean(s.keepers_asked for s in group):.1f}",
                     f"{pct(lat, 50):.0f}", f"{pct(lat, 95):.0f}", f"{max(lat):.0f}",
                     sum(s.partial for s in group)])
    print_table("Search (k = 5) vs one central exact catalog",
                ["asker", "searches", "recall@5 mean", "recall@5 min", "recall 1",
                 "keepers asked", "p50 ms", "p95 ms", "max ms", "partial answers"], rows)
    rows = [[f"random online node{label}", sum(s.missed_unlisted for s in group),
             sum(s.missed_unfetched for s in group), sum(s.missed_fetched for s in group),
             f"{statistics.mean(s.shortlist_fetched for s in group):.0%}"]
            for label, group in kinds_of_asker(r)]
    print_table("True top-5 missed, by why (at the asker, after the search)",
                ["asker", "not on its sketch shortlist", "shortlisted, full spec not fetched",
                 "shortlisted, full spec fetched", "shortlist's specs at the asker, mean"],
                rows)
    print_extrapolation(r, per_lw, statistics.mean(msgs) / r.online_probing,
                        statistics.mean(gbytes) / statistics.mean(msgs))


def kinds_of_asker(r: SimResult) -> list[tuple[str, list[Search]]]:
    """The searches by asker: all of them, or (``--keep own``) by whether the asking node
    keeps the requirement's domain."""
    if r.config.keep == "all":
        return [("", r.searches)]
    groups = [(" keeping the domain", [s for s in r.searches if s.keeps]),
              (" not keeping it", [s for s in r.searches if not s.keeps])]
    return [(label, group) for label, group in groups if group]


def print_extrapolation(r: SimResult, per_lw: float, copies_per_node: float,
                        envelope: float) -> None:
    """The design's per-node cost at 1,000 nodes / 1,000,000 learnwares, from the
    measured bytes per learnware held (both designs: every node holds every learnware,
    in full or as a summary), the bytes of a peer's learnware by space (`bytes_by_space`)
    and, with ``--keep own``, the measured share of the learnwares a node holds."""
    target_nodes, target_lw = 1000, 1_000_000
    text = sum(n for s, n in r.spaces.items() if s == "text") / sum(r.spaces.values())
    rows = [["per-node storage, this market's mix, every learnware",
             f"{per_lw * target_lw / 1e9:,.2f} GB",
             f"{per_lw:,.0f} B/learnware held x 1,000,000 (text share {text:.0%}, K = "
             f"{r.config.points})"]]
    # a peer's learnware costs what it costs in its space (summary or announcement, and
    # catalog), measured apart; a node's own full learnwares do not grow with the
    # market, so the rows from `mix` leave them out
    mix = (sum(n * sum(r.by_space[s]) for s, n in r.spaces.items()) / r.total
           if r.by_space else 0.0)
    if mix:
        rows.append(["per-node storage, every peer's learnware (this mix)",
                     f"{mix * target_lw / 1e9:,.2f} GB",
                     f"{mix:,.0f} B per peer's learnware (by space, measured apart) x "
                     "1,000,000"])
    if r.config.keep != "all" and mix:
        share = [h / r.total for h, _, _ in r.stored]
        rows += [[f"per-node storage, own domains: {label} node",
                  f"{mix * s * target_lw / 1e9:,.2f} GB",
                  f"{mix:,.0f} B per peer's learnware (this mix) x {s:.1%} held (measured) "
                  "x 1,000,000"]
                 for label, s in (("mean", statistics.mean(share)), ("median",
                                  statistics.median(share)), ("largest", max(share)))]
        smallest, largest = (f(n for n, _ in r.domains.values()) / r.total for f in (min, max))
        rows += [[f"per-node storage, one domain of {len(r.domains)}: {label}",
                  f"{mix * s * target_lw / 1e9:,.2f} GB",
                  f"{mix:,.0f} B x {s:.1%} of the learnwares x 1,000,000"]
                 for label, s in (("the smallest", smallest), ("the largest", largest))]
    rows += [*[[f"per-node storage, all in {space}",
                f"{(env + cat) * target_lw / 1e9:,.1f} GB",
                f"{env:,.0f} B signed record + {cat:,.0f} B catalog per learnware"]
               for space, (env, cat) in r.by_space.items()],
             ["gossip per publish, network-wide",
              f"{copies_per_node * target_nodes:,.0f} copies, "
              f"{copies_per_node * target_nodes * envelope / 2**20:,.0f} MiB",
              f"{copies_per_node:.1f} copies per node (same link degree) x 1,000 nodes"],
             ["gossip received by one node for 1,000,000 publishes",
              f"{copies_per_node * target_lw * envelope / 1e9:,.0f} GB",
              "every announcement reaches every node (relayed, kept or not)"]]
    print_table(f"Extrapolation (not measured): the {r.config.design} design, keep "
                f"{r.config.keep}, at 1,000 nodes and 1,000,000 learnwares",
                ["", "value", "from"], rows)


def parse(argv: Sequence[str] | None = None) -> tuple[SimConfig, str | None]:
    """A `SimConfig` from the command line: one flag per field (``--text-share`` ...)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(SimConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "design":
            parser.add_argument(flag, choices=sorted(DESIGNS), default=f.default)
        elif f.name == "clock":
            parser.add_argument(flag, choices=CLOCKS, default=f.default,
                                help="wall (CPU work counts as time) or virtual (only the "
                                     "simulated delays do: benchmarks/virtual_time.py)")
        elif f.name == "keep":
            parser.add_argument(flag, choices=KEEPS, default=f.default,
                                help="what a node replicates: all (today), or own: the "
                                     "scenario domains of its own learnwares (--domains)")
        elif isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true")
        elif isinstance(f.default, tuple):
            parser.add_argument(flag, type=float, nargs=2, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    parser.add_argument("--plot", metavar="PNG", help="also draw the figure of docs/scale.md")
    a = vars(parser.parse_args(argv))
    plot = a.pop("plot")
    return SimConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in a.items()}), plot


def main() -> None:
    config, plot_path = parse()
    began = time.perf_counter()
    result = simulate(config, log=lambda m: print(m, file=sys.stderr, flush=True))
    wall = time.perf_counter() - began
    result.by_space = bytes_by_space(Market(config), DESIGNS[config.design]())
    print_result(result, wall)
    if plot_path:
        from benchmarks.network_sim_plot import plot

        plot(result, plot_path)


if __name__ == "__main__":
    main()
