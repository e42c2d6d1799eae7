"""The one error table on real routes: a bug is a 500 logged once, never a 400.

Each bug is injected by replacing one function a real route calls (the only way to
have a bug on purpose); everything else is a real node on 127.0.0.1 port 0.
"""

from __future__ import annotations

import logging

import pytest
import pytest_asyncio
from real_nodes import lone_node

from lwnode.http import jsonio

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

SECRET = "a detail of the node's internals"
UNKNOWN_ID = "sha256:" + "0" * 64


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def node(tmp_path_factory):
    async with lone_node(tmp_path_factory.mktemp("errors"), "Error Table Org") as running:
        yield running


def _bug(*args, **kwargs):
    raise ValueError(SECRET)  # what a bug deep inside looks like: a bare ValueError


def _bug_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lwnode.api" and r.levelno >= logging.ERROR]


async def _expect_bug(response, caplog) -> None:
    body = await response.json()
    assert response.status == 500 and body["code"] == "internal", body
    assert SECRET not in body["message"]  # the client learns nothing of the internals
    lines = _bug_lines(caplog)
    assert len(lines) == 1 and lines[0].exc_info is not None  # logged once, with traceback
    assert lines[0].exc_info[1].args == (SECRET,)


async def test_a_bug_in_search_decoding_is_a_500_logged_once(node, http, monkeypatch, caplog):
    monkeypatch.setattr(jsonio, "parse_search_body", _bug)
    with caplog.at_level(logging.INFO):
        r = await http.post(f"{node.url}/v1/search", json={"semantic": {"data_type": "table"}})
        await _expect_bug(r, caplog)


async def test_a_bug_in_listing_is_a_500_logged_once(node, http, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        _bug()

    monkeypatch.setattr(node.service, "list_learnwares", broken)
    with caplog.at_level(logging.INFO):
        await _expect_bug(await http.get(f"{node.url}/v1/learnwares"), caplog)


async def test_a_bug_in_a_web_route_is_a_500_logged_once(node, http, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        _bug()

    monkeypatch.setattr(jsonio, "learnware_json", broken)  # the page's fetch route's first step
    with caplog.at_level(logging.INFO):
        await _expect_bug(await http.post(f"{node.url}/v1/web/fetch", json={"id": UNKNOWN_ID}),
                          caplog)


async def test_input_errors_stay_4xx_with_their_codes_and_log_no_bug(node, http, caplog):
    with caplog.at_level(logging.INFO):
        r = await http.post(f"{node.url}/v1/search", data=b"{not json")
        assert r.status == 400 and (await r.json())["code"] == "bad_request"
        r = await http.get(f"{node.url}/v1/learnwares/{UNKNOWN_ID}")
        assert r.status == 404 and (await r.json())["code"] == "not_found"
        r = await http.get(f"{node.url}/v1/learnwares?limit=0")
        assert r.status == 400 and (await r.json())["code"] == "bad_request"
        r = await http.post(f"{node.url}/v1/web/fetch", json={"id": UNKNOWN_ID})
        assert r.status == 404 and (await r.json())["code"] == "not_found"
    assert _bug_lines(caplog) == []


async def test_a_malformed_multipart_body_is_400_not_a_bug(node, http, caplog):
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    with caplog.at_level(logging.INFO):
        r = await http.post(f"{node.url}/v1/web/requirement", data=b"no boundary here\r\n",
                            headers=headers)
        body = await r.json()
        assert r.status == 400 and body["code"] == "bad_request", body
        assert "multipart" in body["message"]
    assert _bug_lines(caplog) == []
