"""What peers' specs and open clients' searches may cost a real node (issue 14, findings 2, 6).

Real nodes (HTTP API, SQLite store, libp2p on loopback): a hostile peer's 10,000-point
announcements (legal on the wire, ~240 KB each) are refused by gossip and by
anti-entropy; a node that is configured to take them searches them in bounded memory;
open clients meet the points cap, a per-address rate and a concurrency cap (429 with
Retry-After), while the token holder does not.
"""

from __future__ import annotations

import asyncio
import tracemalloc

import aiohttp
import numpy as np
import pytest
from lwtesting import announcement_row, region_centres, region_package, tiny_semantic, until

from engine.specification import RKMETableSpec, spec_from_dict
from lwnode.demo.cluster import federation_of, local_node
from lwnode.errors import TooManyPoints
from lwnode.federation.p2p.libp2p_network import Libp2pNetwork
from lwnode.http.app import LIMITS
from lwnode.http.jsonio import spec_json
from protocol.signing import Identity
from protocol.versions import ANNOUNCE_TOPIC

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

D = 5  # 10,000 x 5 float32 + weights: a ~240 KB signed payload, under the 256 KB limit
MiB = 1 << 20
HOSTILE_SEED = b"\x71" * 32


def big_spec(centre: np.ndarray, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return spec_from_dict({
        "type": "rkme_table", "format": 1, "space": f"table/d={len(centre)}", "gamma": 0.5,
        "n_samples": 10 * n, "points": centre + rng.normal(scale=0.7, size=(n, len(centre))),
        "weights": rng.dirichlet(np.full(n, 5.0)), "params": {}})


def hostile_rows(n_points: int, count: int, first: int = 0):
    """Signed announcements of `count` learnwares with specs of `n_points` points."""
    mallory = Identity.from_seed(HOSTILE_SEED)
    centres = region_centres(count + first, D, seed=3)
    return [announcement_row(mallory, f"sha256:{0xb16 + i:064x}", 1, organization="Mallory",
                             semantic=tiny_semantic(f"huge {i}", D),
                             spec=big_spec(centres[i], n_points, seed=i))
            for i in range(first, first + count)]


def counters(node) -> dict[str, int]:
    return federation_of(node).counters()


def auth(node) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.token}"}


def requirement(x: np.ndarray, n_points: int = 30) -> dict:
    spec = RKMETableSpec(n_points=n_points, refine_steps=0, random_state=0).fit(x)
    return {"statistical": spec_json(spec), "max_mixture": 3, "k": 5}


async def expect_error(response: aiohttp.ClientResponse, status: int, code: str) -> dict:
    body = await response.json()
    assert response.status == status and body["code"] == code, body
    return body


# -- finding 2: refused where records enter ------------------------------------------------------
async def test_over_cap_announcements_are_refused_by_gossip_and_by_sync(tmp_path):
    huge = hostile_rows(10_000, 2)
    small = hostile_rows(50, 1, first=2)[0]
    # H takes 10,000-point specs (its operator raised the cap); V keeps the default (1,000).
    async with local_node(tmp_path, "h", "Lenient", budget={"spec_points": 10_000}) as h:
        attacker = Libp2pNetwork(HOSTILE_SEED, bootstrap=[federation_of(h).multiaddrs()[0]])
        await attacker.subscribe(ANNOUNCE_TOPIC)
        async with attacker:
            await attacker.wait_connected(h.service.node_id, 10)
            async with local_node(tmp_path, "v", "Victim",
                                  [federation_of(h).multiaddrs()[0]]) as v:
                await federation_of(v).network.wait_connected(h.service.node_id, 15)
                await v.service.peers.sync_now(h.service.node_id)
                before = counters(v)["rejected_too_many_points"]
                # By gossip (repeated until it arrives: gossip is best-effort): V refuses,
                # H (which takes them) stores them.
                for row in [*huge, small]:
                    async def arrived(row=row) -> bool:
                        if h.service.store.get_record(row.owner, row.learnware_id) is None:
                            await attacker.publish(ANNOUNCE_TOPIC, row.envelope)
                            await asyncio.sleep(0.1)
                        return h.service.store.get_record(row.owner,
                                                          row.learnware_id) is not None

                    await until(arrived, f"{row.learnware_id} on H")
                await until(lambda: _known(v, small.learnware_id), "the small one on V")

                async def refused_by_gossip() -> bool:
                    return counters(v)["rejected_too_many_points"] > before

                await until(refused_by_gossip, "V to refuse a huge one")
                # By anti-entropy: V pulls everything H holds, and refuses the huge ones again.
                rejected = counters(v)["rejected_too_many_points"]
                await v.service.peers.sync_now(h.service.node_id)
                assert counters(v)["rejected_too_many_points"] >= rejected + 1
                for row in huge:
                    assert v.service.store.get_record(row.owner, row.learnware_id) is None
                    assert row.learnware_id not in v.service.catalog.ids()
                    assert row.learnware_id in h.service.catalog.ids()
                health = await _json(v, "/v1/health")
                assert health["peer_layer"]["counters"]["rejected_too_many_points"] >= 2


async def _known(node, learnware_id: str) -> bool:
    return learnware_id in node.service.catalog.ids()


async def _json(node, path: str) -> dict:
    async with aiohttp.ClientSession() as s, s.get(f"{node.url}{path}") as r:
        return await r.json()


async def test_a_received_record_and_a_publish_over_the_cap_are_refused(tmp_path, http):
    centres = region_centres(2, D, seed=1)
    async with local_node(tmp_path, "n", "Small Caps", p2p={"enabled": False},
                          budget={"spec_points": 10, "requirement_points": 10},
                          checks={"isolation": "thread"}) as node:
        row = hostile_rows(20, 1)[0]
        with pytest.raises(TooManyPoints):
            await node.service.receive_record(row.envelope)
        assert node.service.store.get_record(row.owner, row.learnware_id) is None
        package = region_package(centres, 0, n_points=20)
        async with http.post(f"{node.url}/v1/learnwares", data=package,
                             headers=auth(node)) as r:
            body = await expect_error(r, 413, "too_many_points")
        assert "spec_points" in body["message"]
        assert len(node.service.catalog) == 0
        # 1,000 rows: a private spec has one point per >= 20 rows, so 30 points need 600+
        x = np.random.default_rng(0).normal(size=(1000, D))
        async with http.post(f"{node.url}/v1/search", json=requirement(x, 30)) as r:
            body = await expect_error(r, 413, "too_many_points")
        assert "requirement_points" in body["message"]
        async with http.post(f"{node.url}/v1/search", json=requirement(x, 10)) as r:
            assert r.status == 200, await r.text()
        limits = (await _json(node, "/v1/health"))["limits"]
        assert limits["max_spec_points"] == 10 and limits["max_requirement_points"] == 10


async def test_search_over_large_but_legal_candidates_stays_in_its_memory_budget(tmp_path,
                                                                                 http):
    budget_mb = 64
    async with local_node(tmp_path, "big", "Big Specs", p2p={"enabled": False},
                          budget={"spec_points": 10_000, "search_memory_mb": budget_mb}
                          ) as node:
        for row in hostile_rows(10_000, 3):
            assert await node.service.receive_record(row.envelope)
        rng = np.random.default_rng(9)
        mixed = np.vstack([c + rng.normal(scale=0.7, size=(100, D)) for c in
                           region_centres(3, D, seed=3)])
        body = requirement(mixed, 60)
        body["statistical"]["gamma"] = 0.5
        tracemalloc.start()
        try:
            async with http.post(f"{node.url}/v1/search", json=body) as r:
                answer = await r.json()
                assert r.status == 200, answer
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(answer["single"]) == 3
        assert answer["mixture"] is not None and len(answer["mixture"]["ids"]) >= 2
        assert peak < budget_mb * MiB, f"peak {peak / MiB:.0f} MiB"


# -- finding 6: open clients are paced, the token holder is not ------------------------------------
async def test_open_searches_are_rate_limited_per_address_and_the_token_is_not(tmp_path, http):
    async with local_node(tmp_path, "rate", "Paced", p2p={"enabled": False},
                          budget={"open_per_minute": 1.0, "open_burst": 2}) as node:
        x = np.random.default_rng(1).normal(size=(100, D))
        body = requirement(x, 10)
        for _ in range(2):
            async with http.post(f"{node.url}/v1/search", json=body) as r:
                assert r.status == 200
        async with http.post(f"{node.url}/v1/search", json=body) as r:
            await expect_error(r, 429, "rate_limited")
            assert 1 <= int(r.headers["Retry-After"]) <= 60
        async with http.post(f"{node.url}/v1/web/fetch", json={"id": "sha256:" + "0" * 64}) as r:
            await expect_error(r, 429, "rate_limited")
        for _ in range(3):
            async with http.post(f"{node.url}/v1/search", json=body, headers=auth(node)) as r:
                assert r.status == 200
        async with http.get(f"{node.url}/v1/learnwares") as r:  # cheap reads stay open
            assert r.status == 200


async def test_open_expensive_requests_beyond_the_concurrency_cap_get_429(tmp_path, http):
    async with local_node(tmp_path, "conc", "Capped", p2p={"enabled": False},
                          budget={"open_concurrent": 1, "open_burst": 100}) as node:
        x = np.random.default_rng(2).normal(size=(100, D))
        data = aiohttp.JsonPayload(requirement(x, 10))._value
        release = asyncio.Event()

        async def slow_body():
            yield data[:10]
            await release.wait()  # the request holds its slot while its body is unsent
            yield data[10:]

        first = asyncio.ensure_future(http.post(
            f"{node.url}/v1/search", data=slow_body(),
            headers={"Content-Type": "application/json"}))
        limits = node.app[LIMITS]
        try:
            async def holding() -> bool:
                return limits.running == 1

            await until(holding, "the first search to take the slot")
            async with http.post(f"{node.url}/v1/search", data=data,
                                 headers={"Content-Type": "application/json"}) as r:
                await expect_error(r, 429, "concurrency_limited")
                assert r.headers["Retry-After"] == "1"
            assert limits.counts["concurrency_limited"] == 1
            async with http.post(f"{node.url}/v1/search", data=data, headers={
                    "Content-Type": "application/json", **auth(node)}) as r:
                assert r.status == 200  # the token holder is not capped
        finally:
            release.set()
        response = await first
        assert response.status == 200
        response.release()
        async with http.post(f"{node.url}/v1/search", data=data,
                             headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200  # the slot is free again
