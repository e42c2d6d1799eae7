"""The web page's routes against a real node (no browser): hostile uploads, clear errors.

The browser test (`test_web_page.py`) walks the page; this one checks the ``/v1/web``
routes' contracts directly: caps, names, statuses, the temp files left behind, and
the page's security headers.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from lwtesting import (
    decoy_market,
    housing_packages,
    publish_package,
    region_centres,
    region_labels,
    region_package,
    region_rows,
    until,
)
from real_nodes import lone_node

from lwnode.daemon import running_node
from lwnode.home import NodeHome
from lwnode.http.web.routes import WEB

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

D = 5


def _csv(x: np.ndarray, header: bool = True) -> bytes:
    lines = [",".join(f"f{j}" for j in range(x.shape[1]))] if header else []
    lines += [",".join(f"{v:.5f}" for v in row) for row in x]
    return ("\n".join(lines) + "\n").encode()


def _form(**fields) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        if isinstance(value, tuple):
            form.add_field(name, value[1], filename=value[0])
        else:
            form.add_field(name, value)
    return form


def _leftovers(node) -> list[str]:
    """Upload folders still in the node's scratch (each request removes its own)."""
    return os.listdir(node.service.store.root / "scratch" / "web" / "uploads")


@pytest.fixture(scope="module")
def centres():
    return region_centres(3, D)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def node(tmp_path_factory, centres):
    async with lone_node(tmp_path_factory.mktemp("web-api"), "Web API Org") as running:
        running.lid = await publish_package(running.service, region_package(centres, 0))
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def closed(tmp_path_factory):
    """A node with private reads and a 2 KiB upload cap."""
    async with lone_node(tmp_path_factory.mktemp("web-closed"), "Closed Org",
                         http={"open_reads": False, "max_upload_bytes": 2048}) as running:
        yield running


async def _error(response: aiohttp.ClientResponse, status: int, *words: str) -> dict:
    body = await response.json()
    assert response.status == status, body
    assert set(body) >= {"code", "message"}
    for word in words:
        assert word in body["message"], body
    return body


# -- the page ----------------------------------------------------------------------------------
async def test_the_page_and_its_files_are_served_with_strict_headers(node, http):
    r = await http.get(f"{node.url}/")
    assert r.status == 200 and r.content_type == "text/html"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "no point is one of your" in await r.text()
    for name in ("app.js", "style.css"):
        r = await http.get(f"{node.url}/web/{name}")
        assert r.status == 200 and "Content-Security-Policy" in r.headers
    r = await http.get(f"{node.url}/web/..%2F..%2Fapi.token")
    assert r.status in (403, 404)


async def test_private_reads_keep_the_page_open_and_its_data_closed(closed, http):
    assert (await http.get(f"{closed.url}/")).status == 200
    assert (await http.get(f"{closed.url}/web/app.js")).status == 200
    await _error(await http.get(f"{closed.url}/v1/web/vocabulary"), 401, "token")
    auth = {"Authorization": f"Bearer {closed.token}"}
    r = await http.get(f"{closed.url}/v1/web/vocabulary", headers=auth)
    assert (await r.json())["limits"]["max_data_bytes"] == 2048


async def test_the_page_fetches_through_its_node_in_process(tmp_path, centres, http, caplog):
    # The page asked its own node over HTTP (details, then the package from itself);
    # now the service answers in-process and the hosted copy is read from the store.
    home = NodeHome(tmp_path / "home")
    home.init("In-process Org")
    config = home.config(env={}, overrides={"http": {"port": 0, "open_reads": False},
                                            "log": {"access_log": True}})
    auth = {"Authorization": f"Bearer {home.token()}"}
    async with running_node(home, config) as running:
        lid = await publish_package(running.service, region_package(centres, 1))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="lwnode.access"):
            r = await http.post(f"{running.url}/v1/web/fetch", json={"id": lid}, headers=auth)
            body = await r.json()
    assert r.status == 200 and body["verified"] and body["size"] > 0, body
    served = [rec.getMessage() for rec in caplog.records if rec.name == "lwnode.access"]
    assert len(served) == 1 and "POST /v1/web/fetch" in served[0], served


# -- requirement: the rows stay on this node ---------------------------------------------------
async def test_rows_become_an_rkme_that_the_search_takes(node, http, centres):
    x = region_rows(centres, 0, 90, seed=9)
    r = await http.post(f"{node.url}/v1/web/requirement",
                        data=_form(data=("mine.csv", _csv(x)), n_points="30"))
    body = await r.json()
    assert r.status == 200, body
    # private: one point per >= 20 rows (the page no longer lowers n_points to the rows)
    assert (body["rows"], body["shape"]) == (90, [D]) and 1 <= body["points"] <= 90 // 20
    assert body["columns"] == [f"f{j}" for j in range(D)] and body["file"] == "mine.csv"
    # what the RKME reveals, measured on the rows here (90 rows: too few for an attack AUC)
    privacy = body["privacy_report"]
    assert privacy["mechanism"] == "group-means" and privacy["rows"] == 90
    assert privacy["min_rows_per_point"] == 10 and privacy["nearest_row_ratio"] > 0.05
    assert privacy["auc_nearest_point"] is None
    r = await http.post(f"{node.url}/v1/search", json={"statistical": body["statistical"]})
    hits = (await r.json())["single"]
    assert r.status == 200 and hits[0]["id"] == node.lid
    buf = io.BytesIO()
    np.save(buf, x)
    r = await http.post(f"{node.url}/v1/web/requirement",
                        data=_form(data=("mine.npy", buf.getvalue())))
    assert r.status == 200 and (await r.json())["rows"] == 90
    assert _leftovers(node) == []


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"data": ("rows.csv", b"a,b\n1,2\n3,oops\n")}, 400,
     ("rows.csv line 3, column 2 ('b'): 'oops' is not a finite number",)),
    ({"data": ("rows.txt", b"1,2\n")}, 400, ("unsupported file type '.txt'",)),
    ({"data": ("rows.csv", b"")}, 400, ("'rows.csv' is empty",)),
    ({"data": ("rows.npy", b"\x93NUMPY garbage")}, 400, ("rows.npy", "not a plain numeric")),
    ({"rows": ("rows.csv", b"1,2\n")}, 400, ("unknown field 'rows'",)),
    ({"n_points": "9999", "data": ("rows.csv", b"1,2\n")}, 400, ("n_points: 9999",)),
    ({"n_points": "5"}, 400, ("data: choose",)),
])
async def test_bad_uploads_get_a_message_naming_the_file_or_field(node, http, fields, status,
                                                                  words):
    r = await http.post(f"{node.url}/v1/web/requirement", data=_form(**fields))
    body = await _error(r, status, *words)
    assert "/scratch/" not in body["message"] and "form-" not in body["message"]
    assert _leftovers(node) == []


async def test_a_body_that_is_not_a_form_or_too_large_is_refused(node, closed, http):
    await _error(await http.post(f"{node.url}/v1/web/requirement", json={"rows": []}), 400,
                 "multipart/form-data")
    auth = {"Authorization": f"Bearer {closed.token}"}
    big = _csv(np.zeros((200, 4)))
    await _error(await http.post(f"{closed.url}/v1/web/requirement", headers=auth,
                                 data=_form(data=("big.csv", big))), 413, "2048")


# -- fetch and reuse ---------------------------------------------------------------------------
async def test_fetch_verifies_then_caches(node, http):
    r = await http.post(f"{node.url}/v1/web/fetch", json={"id": node.lid})
    first = await r.json()
    assert r.status == 200 and first["verified"] and first["name"] == "region 0 classifier"
    second = await (await http.post(f"{node.url}/v1/web/fetch", json={"id": node.lid})).json()
    assert second["cached"] is True and second["size"] == first["size"]
    await _error(await http.post(f"{node.url}/v1/web/fetch", json={"id": "sha256:" + "0" * 64}),
                 404, "not known")
    await _error(await http.post(f"{node.url}/v1/web/fetch", json={"id": "nope"}), 400, "id")
    await _error(await http.post(f"{node.url}/v1/web/fetch", data=b"{"), 400, "JSON")


async def test_reuse_predicts_and_scores_against_a_user_only_model(node, http, centres):
    x = region_rows(centres, 0, 60, seed=21)
    y = region_labels(centres, 0, x)
    labels = ("label\n" + "\n".join(y[:25]) + "\n").encode()
    r = await http.post(f"{node.url}/v1/web/reuse", data=_form(
        data=("mine.csv", _csv(x)), labels=("y.csv", labels), ids=json.dumps([node.lid]),
        method="ensemble-pruning"))
    body = await r.json()
    assert r.status == 200, body
    lines = body["predictions_csv"].splitlines()
    assert lines[0] == "prediction" and len(lines) == 61
    assert (body["n_rows"], body["n_labels"], body["task"]) == (60, 25, "classification")
    score = body["score"]
    assert score["metric"] == "accuracy" and "cross-validation" in score["protocol"]
    assert score["reuse"] > 0.8


def _stripes(style: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """8x8 images of horizontal (0) or vertical (1) stripes, two brightness classes."""
    ii, jj = np.mgrid[0:8, 0:8]
    pattern = (ii % 2 == 0) if style == 0 else (jj % 2 == 0)
    level = rng.integers(0, 2, n)
    x = pattern[None] * (1.0 + level[:, None, None]) + 0.1 * rng.normal(size=(n, 8, 8))
    return x, np.asarray([f"s{style}-{v}" for v in level])


def _npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


async def test_reuse_of_image_learnwares_takes_images_and_notes_a_one_class_draw(node, http):
    """Image learnwares (`RKMEImageSpec`) reused from a .npy of images through the page:
    the worker refused anything but a 2-D table before, and the reusers could not route
    images. A label file of one class falls back to the data-free answer, with a note."""
    from sklearn.linear_model import LogisticRegression

    from engine.package import build_bytes
    from engine.specification import InputSpec, OutputSpec, SemanticSpec
    from engine.specification.image import RKMEImageSpec

    rng = np.random.default_rng(0)
    ids = []
    for style in (0, 1):
        x, y = _stripes(style, 60, rng)
        semantic = SemanticSpec(data_type="image", task_type="classification",
                                library="scikit_learn", name=f"stripes {style}",
                                description="8x8 stripes", input=InputSpec(64),
                                output=OutputSpec(1, (), (f"s{style}-0", f"s{style}-1")))
        package = build_bytes(LogisticRegression(max_iter=2000).fit(x.reshape(60, -1), y),
                              semantic, RKMEImageSpec(n_points=8, random_state=style).fit(x))
        ids.append(await publish_package(node.service, package))
    parts = [_stripes(style, 20, rng) for style in (0, 1)]
    order = rng.permutation(40)
    x = np.concatenate([p[0] for p in parts])[order]
    y = np.concatenate([p[1] for p in parts])[order]
    for method in ("job-selector", "feature-augment"):
        labels = ("label\n" + "\n".join(y[:12]) + "\n").encode()
        fields = {"labels": ("y.csv", labels)} if method == "feature-augment" else {}
        r = await http.post(f"{node.url}/v1/web/reuse", data=_form(
            data=("images.npy", _npy(x)), ids=json.dumps(ids), method=method, **fields))
        body = await r.json()
        assert r.status == 200, body
        pred = np.asarray(body["predictions_csv"].splitlines()[1:])
        assert (pred == y).mean() >= 0.9 and body["notes"] == []
    one = np.flatnonzero(y == y[0])[:3]
    x_one = np.concatenate([x[one], np.delete(x, one, axis=0)])
    r = await http.post(f"{node.url}/v1/web/reuse", data=_form(
        data=("images.npy", _npy(x_one)), ids=json.dumps(ids), method="feature-augment",
        labels=("y.csv", ("label\n" + "\n".join(y[one]) + "\n").encode())))
    body = await r.json()
    assert r.status == 200, body
    assert len(body["notes"]) == 1 and "one class" in body["notes"][0]


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"method": "ensemble-pruning"}, 400, ("labels:", "learns from a few labels")),
    ({"method": "oracle"}, 400, ("method: 'oracle'",)),
    ({"ids": ",".join(f"sha256:{i:064x}" for i in range(11))}, 400, ("1 to 10",)),
    ({"ids": f"sha256:{1:064x}"}, 404, ("not known",)),
    ({"weights": "0.5,0.5"}, 400, ("2 weights for 1",)),
    ({"labels": ("y.csv", b"\n".join([b"pos"] * 61))}, 400, ("61 labels for 60 rows",)),
])
async def test_bad_reuse_requests_are_4xx_with_the_reason(node, http, centres, fields, status,
                                                          words):
    x = region_rows(centres, 0, 60, seed=21)
    base = {"data": ("mine.csv", _csv(x)), "ids": node.lid}
    await _error(await http.post(f"{node.url}/v1/web/reuse", data=_form(**{**base, **fields})),
                 status, *words)


# -- pack ----------------------------------------------------------------------------------------
async def test_pack_needs_the_token_and_refuses_what_it_cannot_load(node, http, centres):
    x = region_rows(centres, 1, 80)
    fields = {"model": ("m.skops", b"not a model"), "data": ("train.csv", _csv(x)),
              "name": "broken"}
    await _error(await http.post(f"{node.url}/v1/web/pack", data=_form(**fields)), 401, "token")
    auth = {"Authorization": f"Bearer {node.token}"}
    await _error(await http.post(f"{node.url}/v1/web/pack", headers=auth, data=_form(
        **{**fields, "model": ("m.pkl", b"x")})), 400, "unsupported file type '.pkl'")
    body = await _error(await http.post(f"{node.url}/v1/web/pack", headers=auth,
                                        data=_form(**fields)), 400, "m.skops")
    assert body["code"] == "bad_input"


async def test_pack_builds_checks_and_publishes(node, http, centres):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x = region_rows(centres, 2, 150)
    model = LogisticRegression(max_iter=1000).fit(x, region_labels(centres, 2, x))
    auth = {"Authorization": f"Bearer {node.token}"}

    def form() -> aiohttp.FormData:
        return _form(model=("m.skops", sio.dumps(model)), data=("train.csv", _csv(x)),
                     name="packed on the node", scenarios="retail, Energy", license="mit")

    r = await http.post(f"{node.url}/v1/web/pack", headers=auth, data=form())
    body = await r.json()
    assert r.status == 201, body
    assert body["report"]["status"] == "usable" and body["packed"]["rows"] == 150
    # the owner's privacy report went into the package and came back through the checks,
    # with the row count rounded (the package is public; the developer saw 150 above)
    privacy = body["report"]["privacy_report"]
    assert privacy["rows"] == 100 and privacy["mechanism"] == "group-means"
    assert 0.0 <= privacy["auc_nearest_point"] <= 1.0
    details = await (await http.get(f"{node.url}/v1/learnwares/{body['id']}")).json()
    assert details["hosted"]["report"]["privacy_report"] == privacy
    semantic = details["semantic"]
    assert semantic["scenarios"] == ["energy", "retail"] or set(semantic["scenarios"]) == {
        "energy", "retail"}
    assert semantic["input"]["dimension"] == D and semantic["output"]["labels"] == ["neg", "pos"]
    again = await http.post(f"{node.url}/v1/web/pack", headers=auth, data=form())
    assert again.status == 200 and (await again.json())["created"] is False


# -- differential privacy: the command line's --epsilon --delta --gamma --bounds ------------------
DP = {"epsilon": "1", "gamma": "0.1", "bounds": "-20,20"}


async def test_a_dp_requirement_sends_a_spec_that_says_so(node, http, centres):
    x = region_rows(centres, 0, 200, seed=9)
    r = await http.post(f"{node.url}/v1/web/requirement",
                        data=_form(data=("mine.csv", _csv(x)), **DP))
    body = await r.json()
    assert r.status == 200, body
    # the signed record of the spec the page sends: the stated epsilon, the CLI's delta
    record = body["statistical"]["privacy"]
    assert (record["mechanism"], record["epsilon"], record["delta"]) == ("gaussian-rff", 1.0,
                                                                        1e-5)
    assert body["statistical"]["gamma"] == 0.1  # declared, not read from the rows
    assert body["privacy_note"].startswith("differentially private at epsilon 1, delta 1e-05")
    assert body["privacy_report"]["mechanism"] == "gaussian-rff" and body["dp_choices"] == []
    r = await http.post(f"{node.url}/v1/search", json={"statistical": body["statistical"]})
    assert r.status == 200, await r.json()
    # gamma left out: the node's market convention (or the data-free rule), said and used
    r = await http.post(f"{node.url}/v1/web/requirement", data=_form(
        data=("mine.csv", _csv(x)), epsilon="1", bounds="-20,20"))
    body = await r.json()
    assert r.status == 200, body
    market = (await (await http.get(f"{node.url}/v1/gammas",
                                    params={"space": f"table/d={D}"})).json())["gammas"]
    if market:
        top = max(market, key=lambda g: g["learnwares"])["gamma"]
        assert body["statistical"]["gamma"] == top
        assert "the market's convention" in body["dp_choices"][0]
    else:
        assert body["statistical"]["gamma"] == 2.0 ** round(np.log2(1 / D))
    # without the fields: the private default, and the note says that instead
    r = await http.post(f"{node.url}/v1/web/requirement", data=_form(data=("mine.csv", _csv(x))))
    body = await r.json()
    assert body["statistical"]["privacy"]["mechanism"] == "group-means"
    assert body["privacy_note"].startswith("no row is in it: each point stands for at least 10")
    assert _leftovers(node) == []


async def test_a_dp_requirement_takes_each_columns_range_from_its_toml(node, http, centres):
    x = region_rows(centres, 0, 200, seed=9)
    ranges = "".join(f"f{j} = {{ description = \"feature {j}\", range = [{-20 - j}, {20 + j}] }}\n"
                     for j in range(D))
    toml = ("[input.columns]\n" + ranges).encode()
    r = await http.post(f"{node.url}/v1/web/requirement", data=_form(
        data=("mine.csv", _csv(x)), semantic=("cols.toml", toml), epsilon="1", gamma="0.1"))
    body = await r.json()
    assert r.status == 200, body
    points = np.asarray(body["statistical"]["points"])
    assert all((np.abs(points[:, j]) <= 20 + j).all() for j in range(D))
    # the columns the page searches with: named and described, the ranges left here
    assert [f["name"] for f in body["input"]["features"]] == [f"f{j}" for j in range(D)]
    assert all("range" not in f for f in body["input"]["features"])
    assert body["dp_choices"] == [f"bounds per column (public): the ranges cols.toml declares "
                                  f"for its {D} columns (f0 -20..20, f1 -21..21, f2 -22..22, "
                                  f"... ({D} in all)); bounds=LOW,HIGH sets one range for all"]
    # some columns without one: a 400 naming them, in the page's words
    toml = ("[input.columns]\n" + ranges.split("\n", 1)[1]).encode()
    await _error(await http.post(f"{node.url}/v1/web/requirement", data=_form(
        data=("mine.csv", _csv(x)), semantic=("cols.toml", toml), epsilon="1", gamma="0.1")),
        400, "bounds: differential privacy (epsilon) needs the range of every column; in "
        f"cols.toml, 1 of the {D} columns declare no range: f0")
    await _error(await http.post(f"{node.url}/v1/web/requirement", data=_form(
        data=("mine.csv", _csv(x)), epsilon="1", gamma="0.1")), 400,
        "or, per column, range = [LOW, HIGH] beside each in [input.columns] of a TOML under "
        "“Describe your columns”")
    assert _leftovers(node) == []


@pytest.mark.parametrize(("fields", "words"), [
    ({**DP, "epsilon": "-1"}, "epsilon: expected a number in (0, 10], got -1.0"),
    ({**DP, "epsilon": "lots"}, "epsilon: expected a number, got 'lots'"),
    ({**DP, "delta": "1"}, "delta: expected a number in (0, 1)"),
    ({"epsilon": "1", "gamma": "0.1"}, f"bounds: differential privacy (epsilon) needs the "
                                       f"range your {D} columns can take, as bounds=LOW,HIGH"),
    ({"epsilon": "1"}, "; gamma can stay out: 2^"),
    ({**DP, "gamma": "auto"}, "gamma: 'auto' would choose it from the rows"),
    ({**DP, "bounds": "20,-20"}, "bounds: need finite low < high"),
    ({**DP, "bounds": "-20"}, "bounds: expected LOW,HIGH, got '-20'"),
    ({"gamma": "0.1", "bounds": "-20,20"}, "gamma: only for differential privacy: give epsilon"),
])
async def test_bad_dp_fields_are_a_400_naming_the_field(node, http, centres, fields, words):
    x = region_rows(centres, 0, 50)
    body = await _error(await http.post(f"{node.url}/v1/web/requirement", data=_form(
        data=("mine.csv", _csv(x)), **fields)), 400, words)
    assert "--" not in body["message"]  # the page's field names, not the command line's
    assert _leftovers(node) == []


async def test_pack_with_dp_publishes_a_dp_spec(node, http, centres):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x = region_rows(centres, 1, 150, seed=4)
    model = LogisticRegression(max_iter=1000).fit(x, region_labels(centres, 1, x))
    auth = {"Authorization": f"Bearer {node.token}"}

    def form(**dp: str) -> aiohttp.FormData:
        return _form(model=("m.skops", sio.dumps(model)), data=("train.csv", _csv(x)),
                     name="packed with dp", **dp)

    # a missing declared value is refused before any work, naming the field
    await _error(await http.post(f"{node.url}/v1/web/pack", headers=auth, data=form(
        epsilon="2", gamma="0.1")), 400, "bounds: differential privacy (epsilon) needs")
    r = await http.post(f"{node.url}/v1/web/pack", headers=auth,
                        data=form(**{**DP, "epsilon": "2", "delta": "1e-6"}))
    body = await r.json()
    assert r.status == 201, body
    packed = body["packed"]
    assert (packed["privacy"]["mechanism"], packed["privacy"]["epsilon"],
            packed["privacy"]["delta"]) == ("gaussian-rff", 2.0, 1e-6)
    assert packed["privacy_note"].startswith("differentially private at epsilon 2, delta 1e-06")
    assert body["report"]["status"] == "usable"
    assert body["report"]["privacy_report"]["mechanism"] == "gaussian-rff"
    # what every node gets: the package's signed spec says DP at the stated epsilon
    r = await http.get(f"{node.url}/v1/learnwares/{body['id']}/spec")
    record = (await r.json())["statistical"][0]["privacy"]
    assert (record["mechanism"], record["epsilon"], record["delta"]) == ("gaussian-rff", 2.0,
                                                                        1e-6)
    assert _leftovers(node) == []


# -- worker processes: deadline and death ----------------------------------------------------------
async def test_a_worker_past_its_deadline_is_killed_and_a_dead_one_reported(tmp_path):
    from lwnode.http.web.jobs import WebJobs
    from lwnode.http.web.worker import JobFailed

    jobs = WebJobs(trusted_types=(), timeout=0.3)
    await jobs.start()
    try:
        began = asyncio.get_running_loop().time()
        with pytest.raises(JobFailed) as slow:  # its imports alone take longer than 0.3 s
            await jobs.run_worker({"kind": "reuse", "data": "x.csv"}, tmp_path)
        assert slow.value.status == 504 and "did not finish within 0.3 s" in str(slow.value)
        assert asyncio.get_running_loop().time() - began < 5
        jobs.timeout = 60.0
        (tmp_path / "result.json.partial").mkdir()  # its answer cannot be written: it dies
        with pytest.raises(JobFailed) as dead:
            await jobs.run_worker({"kind": "nothing"}, tmp_path)
        assert dead.value.status == 422 and "worker process died" in str(dead.value)
    finally:
        await jobs.stop()
    assert jobs.base is not None and not jobs.base.exists()  # its temp folder is gone


async def test_the_web_scratch_is_emptied_at_start(tmp_path_factory):
    home = NodeHome(tmp_path_factory.mktemp("web-restart") / "home")
    home.init("Restart Org")
    config = home.config(env={}, overrides={"http": {"port": 0}, "log": {"access_log": False}})
    stale = home.store_dir(config) / "scratch" / "web" / "uploads" / "form-killed"
    stale.mkdir(parents=True)
    (stale / "rows.csv").write_text("1,2\n")
    async with running_node(home, config):
        assert not stale.exists()  # a node killed mid-upload leaves nothing for long


# -- across feature spaces: the columns TOML -----------------------------------------------------
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def housing(tmp_path_factory):
    """A node with three organizations' house-price models, each over its own columns, and
    the user's files of ``docs/examples/housing.py``."""
    d = tmp_path_factory.mktemp("housing")
    packages = housing_packages(d)
    async with lone_node(d, "Housing Org") as running:
        running.ids = {}
        for name, package in packages.items():
            running.ids[name] = await publish_package(running.service, package)
        running.files = {n: (n, (d / n).read_bytes())
                         for n in ("user.csv", "user.toml", "labels.csv")}
        running.truth = np.loadtxt(d / "truth.csv", skiprows=1)
        yield running


async def test_described_columns_find_and_reuse_learnwares_over_other_columns(housing, http):
    f = housing.files
    r = await http.post(f"{housing.url}/v1/web/requirement",
                        data=_form(data=f["user.csv"], semantic=f["user.toml"]))
    req = await r.json()
    assert r.status == 200, req
    features = req["input"]["features"]
    assert req["input"]["dimension"] == 5 and features[1]["name"] == "livingSpace"
    assert features[1]["description"] == "interior floor space of the dwelling"
    r = await http.post(f"{housing.url}/v1/search", json={
        "statistical": req["statistical"], "semantic": {"input": req["input"]}, "k": 3})
    hits = (await r.json())["single"]
    assert r.status == 200, hits
    a_ids = [housing.ids["northwind"], housing.ids["acme"]]
    assert {h["id"] for h in hits[:2]} == set(a_ids), hits  # the user's city first
    assert all(h["heterogeneous"] for h in hits)
    assert any(line.endswith(")") and "<- livingSpace" in line
               for line in hits[0]["mapping"]["lines"])

    r = await http.post(f"{housing.url}/v1/web/reuse", data=_form(
        data=f["user.csv"], semantic=f["user.toml"], ids=json.dumps(a_ids)))
    body = await r.json()
    assert r.status == 200, body
    assert body["method"] == "hetero" and [m["id"] for m in body["mappings"]] == a_ids
    assert all(any("<- livingSpace" in line for line in m["lines"]) for m in body["mappings"])
    predictions = np.loadtxt(io.StringIO(body["predictions_csv"]), skiprows=1)
    truth = housing.truth
    assert np.sqrt(np.mean((predictions - truth) ** 2)) < 0.6 * truth.std()
    assert _leftovers(housing) == []


async def test_columns_without_descriptions_or_a_bad_toml_are_a_clear_400(housing, http):
    f = housing.files
    r = await http.post(f"{housing.url}/v1/web/requirement", data=_form(data=f["user.csv"]))
    req = await r.json()  # no TOML: the header's names, undescribed
    names = [x["name"] for x in req["input"]["features"]]
    assert r.status == 200 and names[:3] == ["cbdDistance", "livingSpace", "localEarnings"]
    assert not any(x["description"] for x in req["input"]["features"])
    # names without descriptions, and only learnwares over other columns: refused, saying so
    await _error(await http.post(f"{housing.url}/v1/search", json={
        "statistical": req["statistical"], "semantic": {"input": req["input"]}}), 400,
        "needs semantic.input.features with a description for every column")
    for toml, words in [
            (b'[input.columns]\nkm_to_dwntown = "distance to downtown"\n',
             ("cols.toml", "km_to_dwntown, which user.csv does not have")),
            (b"[input.columns\n", ("cols.toml: not valid TOML",)),
            (b'[input]\ncolumns = 3\n', ("input.columns must be a table",))]:
        r = await http.post(f"{housing.url}/v1/web/requirement",
                            data=_form(data=f["user.csv"], semantic=("cols.toml", toml)))
        body = await _error(r, 400, *words)
        assert "/scratch/" not in body["message"] and "form-" not in body["message"]
    await _error(await http.post(f"{housing.url}/v1/web/requirement", data=_form(
        data=f["user.csv"], semantic=("cols.txt", b"x"))), 400, "unsupported file type")
    await _error(await http.post(f"{housing.url}/v1/web/reuse", data=_form(
        data=f["user.csv"], ids=housing.ids["acme"])), 400, "names other columns",
        "Describe your columns")
    assert _leftovers(housing) == []


@pytest.mark.parametrize("route", ["reuse", "rerank"])
async def test_a_reuse_or_rerank_whose_client_left_is_stopped(node, centres, monkeypatch, route):
    """A user who closes the page mid-reuse must not keep a worker slot busy until the
    job's deadline (a new user's third reuse waited 108 s behind two abandoned ones).
    The worker is replaced by a slow stand-in (a model slow on purpose is the only
    other way to cause it) that records being cancelled, which `run_worker` turns into
    killing the process."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_worker(job, folder):
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    monkeypatch.setattr(node.app[WEB].jobs, "run_worker", slow_worker)
    x = region_rows(centres, 0, 20, seed=5)
    fields = ({"ids": json.dumps([node.lid]), "method": "job-selector"} if route == "reuse" else
              {"labels": ("y.csv", b"pos\nneg\n"),
               "answer": json.dumps({"single": [{"id": node.lid, "mmd2": 0.1}]})})
    form = _form(data=("mine.csv", _csv(x)), **fields)
    async with aiohttp.ClientSession() as client:
        with pytest.raises(asyncio.TimeoutError):
            await client.post(f"{node.url}/v1/web/{route}", data=form,
                              timeout=aiohttp.ClientTimeout(total=3))
    assert started.is_set()  # the job had begun when the client left
    await asyncio.wait_for(cancelled.wait(), 10)
    await until(lambda: _leftovers(node) == [], "the upload folder removed")


# -- re-rank the search's shortlist by labels: the command line's `search --labels` ---------------
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def decoys(tmp_path_factory):
    """A node with `lwtesting.decoy_market`: the learnware nearest the user's rows by MMD²
    labels by the wrong column, the useful one sits further away."""
    packages, x, y = decoy_market()
    async with lone_node(tmp_path_factory.mktemp("decoys"), "Decoy Org") as running:
        running.ids = {name: await publish_package(running.service, data)
                       for name, data in packages.items()}
        running.x, running.y = x, y
        running.answer = None
        yield running


async def _searched(node, http) -> tuple[dict, dict]:
    """The user's rows and the page's search answer for them (searched once: each
    search costs two expensive requests of the open client's burst)."""
    rows = ("user.csv", _csv(node.x))
    if node.answer is None:
        r = await http.post(f"{node.url}/v1/web/requirement", data=_form(data=rows))
        req = await r.json()
        r = await http.post(f"{node.url}/v1/search", json={
            "statistical": req["statistical"], "semantic": {"input": req["input"]}, "k": 5})
        node.answer = await r.json()
        assert r.status == 200 and node.answer["single"], node.answer
    return {"data": rows}, node.answer


def _labels(y: np.ndarray) -> tuple[str, bytes]:
    return ("labels.csv", ("label\n" + "\n".join(y) + "\n").encode())


async def test_rerank_orders_the_shortlist_by_labels_as_the_command_line(decoys, http):
    files, answer = await _searched(decoys, http)
    assert answer["single"][0]["id"] == decoys.ids["look-alike"]  # nearest, and useless
    r = await http.post(f"{decoys.url}/v1/web/rerank", data=_form(
        **files, labels=_labels(decoys.y[:20]), answer=json.dumps(answer), rerank="3"))
    body = await r.json()
    assert r.status == 200, body
    assert body["moved"] and (body["metric"], body["n_labels"], body["n_folds"]) == (
        "accuracy", 20, 5)
    first = body["ranking"][0]
    assert first["id"] in (decoys.ids["useful"], "mixture") and first["mmd2_rank"] > 1
    by_id = {e["id"]: e for e in body["ranking"]}
    assert by_id[decoys.ids["useful"]]["value"] > 0.85 > by_id[decoys.ids["look-alike"]]["value"]
    # numbered as the search's table the page shows; the mixture has no place there
    places = {h["id"]: i for i, h in enumerate(answer["single"], 1)}
    assert all(e["search_rank"] == places.get(e["id"]) for e in body["ranking"])
    called = f"the {first['name']}" if first["id"] == "mixture" else first["name"]
    assert body["why"].startswith(f"your labels put {called} first: it beats look-alike")
    expected = answer["mixture"]["ids"] if first["id"] == "mixture" else [first["id"]]
    assert body["reuse"]["ids"] == expected  # what the labels' first stands for, nothing else
    assert all(f["verified"] for f in body["fetched"])
    assert _leftovers(decoys) == []
    # labels that cannot separate anything keep the search's order, and say why
    r = await http.post(f"{decoys.url}/v1/web/rerank", data=_form(
        **files, labels=_labels(decoys.y[:3]), answer=json.dumps(answer)))
    body = await r.json()
    assert r.status == 200 and not body["moved"] and body["why"] is None, body
    assert any("too few to tell methods apart" in n for n in body["notes"]), body["notes"]


async def test_a_shortlisted_learnware_that_cannot_be_fetched_is_left_out_with_why(decoys,
                                                                                  http):
    """One fetch failing (here: an id withdrawn since, unknown to the node) does not
    fail the re-ranking of the others; the note names it."""
    files, answer = await _searched(decoys, http)
    gone = {**answer["single"][0], "id": f"sha256:{2:064x}", "name": "vanished"}
    answer = {**answer, "single": [gone, *answer["single"]]}
    r = await http.post(f"{decoys.url}/v1/web/rerank", data=_form(
        **files, labels=_labels(decoys.y[:20]), answer=json.dumps(answer), rerank="3"))
    body = await r.json()
    assert r.status == 200, body
    assert [n for n in body["notes"] if n.startswith("vanished not re-ranked: it could not "
                                                     "be fetched")], body["notes"]
    assert gone["id"] not in {e["id"] for e in body["ranking"]} and body["ranking"]
    assert _leftovers(decoys) == []


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"labels": None}, 400, ("labels: choose a file of labels",)),
    ({"rerank": "11"}, 400, ("rerank: 11 is outside 1..10",)),
    ({"answer": "{"}, 400, ("answer: not valid JSON",)),
    ({"answer": None}, 400, ("answer: send the search's answer",)),
    ({"answer": json.dumps({"single": [{"id": "nope"}]})}, 400, ("answer.single[0].id",)),
    ({"answer": json.dumps({"single": [{"id": f"sha256:{1:064x}", "mmd2": 0.1}]})}, 404,
     ("not known",)),
    ({"answer": json.dumps({"single": [{"id": f"sha256:{1:064x}", "mmd2": -1}]})}, 400,
     ("answer.single[0].mmd2: expected a finite number",)),
    ({"labels": ("y.csv", b"\n".join([b"pos"] * 201))}, 400, ("201 labels for 200 rows",)),
    ({"labels": ("y.txt", b"pos\n")}, 400, ("unsupported file type '.txt'",)),
])
async def test_bad_rerank_requests_are_4xx_with_the_reason(decoys, http, fields, status, words):
    files, answer = await _searched(decoys, http)
    form = {**files, "labels": _labels(decoys.y[:20]), "answer": json.dumps(answer), **fields}
    body = await _error(await http.post(f"{decoys.url}/v1/web/rerank", data=_form(
        **{k: v for k, v in form.items() if v is not None})), status, *words)
    assert "/scratch/" not in body["message"] and "form-" not in body["message"]
    assert _leftovers(decoys) == []
