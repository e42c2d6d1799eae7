"""Federation on real nodes: libp2p on loopback, HTTP APIs, real packages and checks.

A module-wide chain of four nodes A - B - C - D (each dials the one before; A and C
are not connected) carries the gossip, anti-entropy, trust and routed-search tests;
the privacy test records every byte two nodes send; the kill/restart test runs a
node as a ``lwnode run`` subprocess. Every wait is a poll with a timeout.
"""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import asynccontextmanager

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from lwtesting import (
    announcement_row,
    region_centres,
    region_labels,
    region_package,
    region_rows,
    tiny_semantic,
    tiny_spec,
    until,
    with_manifest,
)
from real_nodes import NodeProcess, cluster, publish, start_node, status_of

from engine.specification import RKMETableSpec
from lwnode.client import NodeClient
from lwnode.federation.p2p.libp2p_network import Libp2pNetwork
from lwnode.http.jsonio import spec_json
from lwnode.node.records import envelope_of, sign_announcement
from lwnode.userside.local import fetch_package, reuse
from protocol.codec import encode_envelope
from protocol.content import content_id
from protocol.signing import Identity
from protocol.versions import ANNOUNCE_TOPIC

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

D = 6
REGIONS = 4


@pytest.fixture(scope="module")
def centres():
    return region_centres(REGIONS, D, seed=5)


@pytest.fixture(scope="module")
def packages(centres):
    return [region_package(centres, i, n_points=20) for i in range(REGIONS)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chain4(tmp_path_factory):
    async with cluster(4, tmp_path_factory.mktemp("chain")) as nodes:
        yield nodes


@pytest_asyncio.fixture(loop_scope="module")
async def http():
    async with aiohttp.ClientSession() as s:
        yield s


def user_requirement(x: np.ndarray, **extra) -> dict:
    spec = RKMETableSpec(n_points=30, random_state=0).fit(x)
    return {"statistical": spec_json(spec), **extra}


async def connected(node, other_id: str) -> bool:
    return any(p.node_id == other_id and p.connected for p in await node.federation.peers())


# -- gossip ----------------------------------------------------------------------------------
async def test_a_publication_on_a_reaches_c_which_is_not_connected_to_a(chain4, http,
                                                                         packages):
    a, b, c, _ = chain4
    assert not await connected(c, a.id) and await connected(c, b.id)
    lid = await publish(http, a, packages[0])
    url = f"{c.url}/v1/learnwares/{lid}"
    took = await until(lambda: _is(http, url, 200), "the announcement on C")
    print(f"publish on A -> catalog of C (2 hops) in {took * 1000:.0f} ms")
    async with http.get(url) as r:
        offer = (await r.json())["offers"][0]
    assert offer["owner"] == a.id and offer["package_urls"][0].startswith(a.url)
    # a withdrawal travels the same way
    async with http.delete(f"{a.url}/v1/learnwares/{lid}", headers=a.auth) as r:
        assert r.status == 200
    await until(lambda: _is(http, url, 410), "the withdrawal on C")
    assert c.counters()["records_rejected"] == 0


async def _is(http, url, status) -> bool:
    return await status_of(http, url) == status


async def test_a_node_started_after_fifty_publications_catches_up_by_anti_entropy(
        chain4, http, packages, tmp_path_factory):
    a, _, c, d = chain4

    def variant(i: int) -> bytes:
        def edit(manifest):
            manifest["semantic"]["description"] = f"variant {i}"
            manifest["semantic"]["name"] += f" v{i}"  # a handle names one
        return with_manifest(packages[2], edit)

    ids = [await publish(http, a, variant(i)) for i in range(50)]
    await until(lambda: _all_known(c, ids), "the 50 on C")
    # GossipSub re-offers the last ~3 s of messages to a new peer (IHAVE/IWANT), so a
    # node joining right away may get them by gossip: E hears no gossip at all, and
    # must catch up by anti-entropy alone: by the round it runs as it connects, since its
    # next round is an hour away (not by a clock bound, which a loaded machine breaks).
    async with start_node(tmp_path_factory.mktemp("late"), "E", [d.multiaddr],
                          wrap=lambda name, net: Deaf(net), sync_interval=3600.0) as e:
        took = await until(lambda: _all_known(e, ids), "the late joiner in sync")
        print(f"late joiner holds the 50 publications {took:.2f} s after its start")
        counters = e.counters()
        assert counters["sync_records_pulled"] >= 50 and counters["records_rejected"] == 0
        assert e.service.catalog.ids() >= set(ids)


class Deaf:
    """A node's network that hears no gossip (the subscription exists, deliveries are
    dropped): a node that was offline while everything was announced."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def subscribe(self, topic):
        await self._inner.subscribe(topic)
        return asyncio.Queue()


async def _all_known(node, ids) -> bool:
    return set(ids) <= node.service.catalog.ids()


# -- trust: every bad record refused, the catalog unchanged ----------------------------------
async def test_forged_modified_untrusted_and_replayed_records_are_each_refused(
        chain4, http, packages, centres):
    a, b, _, _ = chain4
    lid = await publish(http, a, packages[1])
    await until(lambda: _all_known(b, [lid]), "A's learnware on B")
    old = b.service.store.get_record(a.id, lid).envelope
    async with http.delete(f"{a.url}/v1/learnwares/{lid}", headers=a.auth) as r:
        assert r.status == 200
    await until(lambda: _gone(b, lid), "the withdrawal on B")
    keep = await publish(http, a, packages[3])
    await until(lambda: _all_known(b, [keep]), "A's second learnware on B")

    mallory = Identity.from_seed(b"\x66" * 32)
    at = old.index(b"points")
    forged = old[:at + 60] + bytes([old[at + 60] ^ 0x40]) + old[at + 61:]
    other_spec = announcement_row(mallory, keep, 1, organization="Mallory Inc",
                                  semantic=tiny_semantic("region 3 classifier", D),
                                  spec=tiny_spec(3, d=D, loc=9.0))
    impostor = announcement_row(mallory, "sha256:" + "ee" * 32, 2,
                                organization=a.service.organization,
                                semantic=tiny_semantic("totally region 0", D))
    before = (b.service.catalog.ids(), records_of(b),
              [b.service.store.get_record(a.id, i) for i in (lid, keep)], b.counters())
    attacker = Libp2pNetwork(b"\x66" * 32, bootstrap=[b.multiaddr])
    await attacker.subscribe(ANNOUNCE_TOPIC)
    async with attacker:
        await attacker.wait_connected(b.id, 10)
        cases = [(forged, "bad_signature"), (other_spec.envelope, "spec_mismatch"),
                 (impostor.envelope, "untrusted"), (old, "stale")]
        for data, reason in cases:
            async def refused(reason=reason) -> bool:
                return b.counters()[f"rejected_{reason}"] > before[3][f"rejected_{reason}"]

            async def send_until_refused(data=data, refused=refused) -> bool:
                if not await refused():  # gossip is best-effort: repeat until it arrives
                    await attacker.publish(ANNOUNCE_TOPIC, data)
                    await asyncio.sleep(0.1)
                return await refused()

            await until(send_until_refused, f"a {reason} rejection on B")
    after = (b.service.catalog.ids(), records_of(b),
             [b.service.store.get_record(a.id, i) for i in (lid, keep)])
    assert after == before[:3]
    assert b.counters()["records_accepted"] == before[3]["records_accepted"]
    peers = {p["node_id"]: p for p in (await (await http.get(f"{b.url}/v1/peers")).json())[
        "peers"]}
    assert peers[mallory.node_id]["records_rejected"] >= 4
    health = await (await http.get(f"{b.url}/v1/health")).json()
    assert health["peer_layer"]["counters"]["rejected_untrusted"] >= 1


def records_of(node) -> list:
    """(owner, max sequence, records) of every owner the node's store holds records of."""
    return node.service.store.owners()


async def _gone(node, lid) -> bool:
    return lid not in node.service.catalog.ids()


# -- routed search, fetch, reuse -------------------------------------------------------------
async def test_search_from_d_mixes_learnwares_of_a_and_b_and_a_fetched_one_predicts(
        chain4, http, packages, centres, tmp_path):
    a, b, _, d = chain4
    on_a = await publish(http, a, packages[0])
    on_b = await publish(http, b, packages[1])
    x = np.vstack([region_rows(centres, 0, 150, seed=21), region_rows(centres, 1, 150,
                                                                        seed=22)])
    truth = np.concatenate([region_labels(centres, 0, x[:150]),
                            region_labels(centres, 1, x[150:])])
    await until(lambda: _all_known(d, [on_a, on_b]), "both on D")
    async with http.post(f"{d.url}/v1/search", json=user_requirement(x, k=4)) as r:
        answer = await r.json()
    assert r.status == 200, answer
    owners = {h["id"]: h["owner"] for h in answer["single"]}
    assert owners[on_a] == a.id and owners[on_b] == b.id
    mixture = answer["mixture"]
    assert sorted(mixture["ids"]) == sorted([on_a, on_b])
    assert {m["owner"] for m in mixture["members"]} == {a.id, b.id}
    assert {m["package_url"].split("/v1/")[0] for m in mixture["members"]} == {a.url, b.url}
    names = {n.id: n.name for n in chain4}
    assert answer["peers"]["asked"] and answer["peers"]["answered"] == \
        answer["peers"]["asked"] and not answer["partial"], (
            [names.get(p, p) for p in answer["peers"]["asked"]],
            [names.get(p, p) for p in answer["peers"]["answered"]], answer["missed"],
            [(names.get(p.node_id, p.node_id), p.connected) for p in
             await d.federation.network.peers()])

    client = NodeClient(d.url)
    fetched = await asyncio.to_thread(fetch_package, client, on_a, tmp_path / "cache")
    assert fetched.owner == a.id and not fetched.cached
    assert fetched.path.read_bytes() == packages[0]
    weights = mixture["weights"] if mixture["ids"][0] == on_a else mixture["weights"][::-1]
    other = await asyncio.to_thread(fetch_package, client, on_b, tmp_path / "cache")
    predictions = await asyncio.to_thread(reuse, [fetched.path, other.path], x,
                                          method="job-selector", weights=weights)
    accuracy = float((predictions == truth).mean())
    print(f"job selector over A's and B's learnwares: accuracy {accuracy:.3f}")
    assert accuracy > 0.85


# -- privacy on the wire ---------------------------------------------------------------------
class Recording:
    """Wraps a node's `PeerNetwork`: every byte it publishes, requests or answers is kept."""

    def __init__(self, inner, sent: list[bytes]) -> None:
        self._inner = inner
        self._sent = sent

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def publish(self, topic, data):
        self._sent.append(bytes(data))
        await self._inner.publish(topic, data)

    async def request(self, peer, protocol_id, data, *, timeout=None):
        self._sent.append(bytes(data))
        return await self._inner.request(peer, protocol_id, data, timeout=timeout)

    def set_handler(self, protocol_id, handler):
        async def recorded(peer, data):
            answer = await handler(peer, data)
            self._sent.append(bytes(answer))
            return answer

        self._inner.set_handler(protocol_id, recorded)

    async def __aenter__(self):
        await self._inner.start()
        return self

    async def __aexit__(self, *exc):
        await self._inner.stop()


def specs_on_wire(blobs: list[bytes]) -> list:
    """Every statistical spec inside the recorded messages and signed envelopes (an
    owner's full spec crosses in a `spec_response` when a peer fetches it by id)."""
    import dataclasses

    from engine.specification import RKMESpec
    from protocol.codec import decode_envelope, decode_message, decode_spec
    from protocol.content import content_id
    from protocol.messages import SpecResponse

    found: list = []

    def walk(value) -> None:
        if isinstance(value, RKMESpec):
            found.append(value)
        elif isinstance(value, SpecResponse):  # full specs fetched by id (schema 1.3)
            found.extend(decode_spec(item, content_id(item)) for item in value.specs)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                walk(getattr(value, field.name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for blob in blobs:
        try:
            walk(decode_message(decode_envelope(blob).payload))
            continue
        except Exception:  # not an envelope: try a bare message
            pass
        try:
            walk(decode_message(blob))
        except Exception:  # a frame that is neither (e.g. an error reply)
            pass
    return found


def nearest_row_over_spacing(points: np.ndarray, rows: np.ndarray) -> float:
    """Distance from the closest point to its nearest row, over the rows' median
    nearest-neighbour spacing: ~0 for a copied row, >> 0.05 for a private point."""
    from engine import kernel

    d = kernel.sq_dists(rows, rows)
    np.fill_diagonal(d, np.inf)
    spacing = float(np.median(np.sqrt(d.min(axis=1))))
    return float(np.sqrt(kernel.sq_dists(points, rows).min())) / spacing


def raw_forms(rows: np.ndarray) -> tuple[list[bytes], list[str]]:
    """Byte patterns (rows and value pairs as float32/float64; single values as float64)
    and text forms (each value's repr) of raw rows."""
    patterns: list[bytes] = []
    for dtype in (np.float32, np.float64):
        typed = rows.astype(dtype)
        patterns += [r.tobytes() for r in typed]
        patterns += [r[i:i + 2].tobytes() for r in typed for i in range(rows.shape[1] - 1)]
    patterns += [np.float64(v).tobytes() for v in rows.ravel()]
    texts = {repr(float(v)) for v in rows.ravel()} | {
        repr(float(np.float32(v))) for v in rows.ravel()}
    return patterns, sorted(texts)


async def test_no_raw_row_of_developer_or_user_crosses_the_wire(tmp_path, centres):
    sent: dict[str, list[bytes]] = {}

    def wrap(name, network):
        return Recording(network, sent.setdefault(name, []))

    dev_rows = region_rows(centres, 2, 300, seed=0)  # what region_package(…, 2) trains on
    package = region_package(centres, 2, n_points=20)
    user_rows = region_rows(centres, 2, 120, seed=77)
    http_sent: list[bytes] = []
    async with cluster(2, tmp_path, wrap=wrap) as (a, b), aiohttp.ClientSession() as http:
        lid = await publish(http, a, package)
        await until(lambda: _all_known(b, [lid]), "the announcement on B")
        body = user_requirement(user_rows, k=3)
        import json as _json

        data = _json.dumps(body).encode()
        http_sent.append(data)
        async with http.post(f"{b.url}/v1/search", data=data,
                             headers={"Content-Type": "application/json"}) as r:
            http_sent.append(await r.read())
            assert r.status == 200 and (await r.json())["single"][0]["id"] == lid
        # a sync round both ways too: digests and pages
        await b.federation.sync_now(a.id)
        await a.federation.sync_now(b.id)
    wire = b"".join(sent["A"] + sent["B"])
    # (private specs are small: 15 points for the 300 rows, 6 for the user's 120)
    assert len(sent["A"]) >= 2 and len(sent["B"]) >= 2 and len(wire) > 2000
    for who, rows in (("developer", dev_rows), ("user", user_rows)):
        patterns, texts = raw_forms(rows)
        assert not [p for p in patterns if p in wire], f"a raw {who} row crossed libp2p"
        everything = wire + b"".join(http_sent)
        assert not [p for p in patterns if p in everything], f"a raw {who} row left as bytes"
        text = b"".join(http_sent).decode()
        assert not [t for t in texts if t in text], f"a raw {who} value left as text"
    # Bytes are not enough: a point 1e-6 from a row passes them. Every spec that crossed
    # libp2p (the developer's announcement, the user's routed requirement) is decoded,
    # and none of its points is within 5 % of the rows' spacing of any row.
    specs = specs_on_wire(sent["A"] + sent["B"])
    assert len(specs) >= 2, "the announcement and the routed requirement were both seen"
    for who, rows in (("developer", dev_rows), ("user", user_rows)):
        closest = min(nearest_row_over_spacing(s.points_, rows) for s in specs)
        assert closest > 0.05, f"a {who} row (or a near-copy) crossed libp2p: {closest:.3f}"
    # The check can fail: the spec's own points are on the wire, and they are found.
    spec_points = np.asarray(body["statistical"]["points"], dtype=np.float64)
    assert repr(float(spec_points[0, 0])) in b"".join(http_sent).decode()


# -- a node killed mid-search, then restarted --------------------------------------------------
async def test_a_peer_killed_mid_search_costs_nothing_and_comes_back_when_restarted(
        tmp_path, centres, packages):
    async with cluster(1, tmp_path / "a") as (a,), aiohttp.ClientSession() as http:
        p = NodeProcess(tmp_path, "P", [a.multiaddr])
        try:
            await asyncio.to_thread(p.start)
            await a.federation.network.connect(p.multiaddr, keep=True, timeout=10)
            await until(lambda: connected(a, p.id), "P connected to A")
            on_a = await publish(http, a, packages[0])
            p.signal(signal.SIGSTOP)  # P hangs: it will get the search and never answer
            sent_before = a.counters()["requests_sent"]
            # a deadline far beyond what a dead peer's failure takes, even under load
            body = user_requirement(region_rows(centres, 0, 100, seed=3), deadline_ms=60_000)
            began = time.perf_counter()
            search = asyncio.ensure_future(http.post(f"{a.url}/v1/search", json=body))

            async def asked_p() -> bool:
                return a.counters()["requests_sent"] > sent_before

            await until(asked_p, "the search forwarded to P")
            p.kill()
            async with await search as r:
                answer = await r.json()
            took = time.perf_counter() - began
            print(f"search with a peer killed mid-search answered in {took * 1000:.0f} ms")
            assert r.status == 200 and took < 30.0  # P's death ended the wait, not the deadline
            assert answer["partial"] and p.id in answer["missed"]
            assert answer["single"][0]["id"] == on_a

            # restart on the same port: reconnected and gossiping both ways
            await until(lambda: _disconnected(a, p.id), "A to notice P's death")
            await asyncio.to_thread(p.start)
            ready = time.perf_counter()
            await until(lambda: connected(a, p.id), "P reconnected")
            lid = await publish(http, a, packages[2])
            await until(lambda: _is(http, f"{p.url}/v1/learnwares/{lid}", 200),
                        "A's gossip on P")
            token = p.home.token()
            async with http.post(f"{p.url}/v1/learnwares", data=packages[3],
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                theirs = (await r.json())["id"]
            await until(lambda: _all_known(a, [theirs]), "P's gossip on A")
            print(f"restarted peer: reconnected and gossip both ways "
                  f"{time.perf_counter() - ready:.2f} s after its API was up")
        finally:
            p.stop()


async def _disconnected(node, other_id) -> bool:
    return not await connected(node, other_id)


# -- fetch: what a remote owner serves is checked --------------------------------------------
@asynccontextmanager
async def package_server(package: bytes):
    """A remote owner's HTTP server for one package (honours ``Range: bytes=N-``); yields
    the package URL and the list of Range headers it was asked with."""
    from aiohttp import web

    ranges: list[str | None] = []

    async def serve(request):
        ranges.append(request.headers.get("Range"))
        first = int(request.headers.get("Range", "bytes=0-").split("=")[1].split("-")[0])
        return web.Response(body=package[first:], status=206 if first else 200,
                            content_type="application/zip")

    app = web.Application()
    app.router.add_get("/v1/learnwares/{id}/package", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1/learnwares/{content_id(package)}/package", ranges
    finally:
        await runner.cleanup()


async def offered(node, owner: Identity, package: bytes, url: str, sequence: int, *,
                  semantic=None, spec=None, size: int | None = None) -> None:
    """`owner`'s signed announcement of `package` at `url` reaches `node` (true to the
    package unless `semantic`, `spec` or `size` say otherwise)."""
    from engine.package import open_package

    own = open_package(package)
    row = sign_announcement(owner, learnware_id=content_id(package), organization="Owner",
                            semantic=semantic or own.semantic, spec=spec or own.spec,
                            size=size or len(package), urls=(url,), sequence=sequence, now=0)
    await node.service.receive_record(encode_envelope(envelope_of(row)))


async def test_fetch_refuses_a_package_whose_owner_misstates_its_spec_or_size(
        tmp_path, packages):
    """A rogue owner announces a real package under the wrong spec / the wrong size."""
    from lwnode.errors import NodeError

    package = packages[0]
    lid = content_id(package)
    rogue = Identity.from_seed(b"\x42" * 32)
    async with package_server(package) as (url, ranges), \
            start_node(tmp_path, "U", enabled=False) as user_node:
        client = NodeClient(user_node.url)
        cases = [("differs from its owner's signed announcement",
                  dict(spec=tiny_spec(1, d=D, loc=3.0))),
                 ("owner signed", dict(size=len(package) - 100))]
        for i, (message, lie) in enumerate(cases):
            await offered(user_node, rogue, package, url, i + 1, **lie)
            with pytest.raises(NodeError, match=message):
                await asyncio.to_thread(fetch_package, client, lid, tmp_path / "dl")
            assert not (tmp_path / "dl" / f"{lid.split(':')[1]}.zip").exists()
    assert ranges  # the bytes were fetched from the rogue owner, then refused


async def test_fetch_resumes_a_cut_download_from_a_remote_owner_with_range(tmp_path,
                                                                           packages):
    """An honest remote owner; the user's first download was cut after 1,000 bytes."""
    package = packages[1]
    lid = content_id(package)
    owner = Identity.from_seed(b"\x43" * 32)
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / f"{lid.split(':')[1]}.zip.part").write_bytes(package[:1000])
    async with package_server(package) as (url, ranges), \
            start_node(tmp_path, "U", enabled=False) as user_node:
        await offered(user_node, owner, package, url, 1)
        fetched = await asyncio.to_thread(fetch_package, NodeClient(user_node.url), lid, dest)
    assert ranges == ["bytes=1000-"]
    assert fetched.path.read_bytes() == package and fetched.owner == owner.node_id
    assert not (dest / f"{lid.split(':')[1]}.zip.part").exists()


# -- across feature spaces -------------------------------------------------------------------
async def test_a_heterogeneous_match_travels_with_its_column_mapping(tmp_path):
    """A's learnware takes other columns than B's user: B's answer says so and maps the
    columns, and A's answer on the wire carried the mapping (protocol 1.1)."""
    from dataclasses import replace

    from engine.hetero.synthetic import make_market
    from engine.package import build_bytes
    from engine.vocabulary import Library
    from protocol.codec import decode_message
    from protocol.messages import SearchResponse

    market = make_market(n_per_task=1, n_columns=(7,), n_train=1500, n_points=30,
                         tasks=("city-a",))
    lw = market.learnwares[0]
    semantic = replace(lw.semantic, library=Library.SCIKIT_LEARN, license="mit")
    package = build_bytes(lw.model, semantic, lw.spec)
    user = market.user("city-a", 5, seed=3, n_pool=300, n_test=10)
    spec = RKMETableSpec(n_points=30, random_state=0).fit(user.x_pool)
    body = {"statistical": spec_json(spec), "semantic": user.semantic().to_dict(), "k": 3}
    sent: dict[str, list[bytes]] = {}

    def wrap(name, network):
        return Recording(network, sent.setdefault(name, []))

    async with cluster(2, tmp_path, wrap=wrap) as (a, b), aiohttp.ClientSession() as http:
        lid = await publish(http, a, package)
        await until(lambda: _all_known(b, [lid]), "the announcement on B")
        async with http.post(f"{b.url}/v1/search", json=body) as r:
            answer = await r.json()
        assert r.status == 200, answer
    hit = answer["single"][0]
    assert hit["id"] == lid and hit["owner"] == a.id and hit["heterogeneous"], answer
    mapping = hit["mapping"]
    assert mapping["user_columns"] == [f.name for f in user.semantic().input.features]
    assert mapping["learnware_columns"] == [f.name for f in semantic.input.features]
    assert mapping["pairs"] and len(mapping["lines"]) >= len(mapping["learnware_columns"])
    answers = []
    for data in sent["A"]:
        try:
            answers.append(decode_message(data, SearchResponse))
        except Exception:
            continue  # gossip and sync messages
    assert answers and answers[0].hits[0].mapping is not None
    assert answers[0].hits[0].mapping.to_dict()["pairs"] == mapping["pairs"]
