"""Host allowlist and Origin check on a real node: plain HTTP clients and headless Chromium.

The browser part is the attack of issue 14 (finding 10) as a user would meet it: a
page from another site (a second real aiohttp server, on another port) makes the
user's browser POST to the node, and a hostile name resolving to the node (DNS
rebinding, played by Chromium's ``--host-resolver-rules``) reads from it. Nothing
may happen: the node's web cache stays empty and the access log shows the refusals.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from lwtesting import publish_package, region_centres, region_package, until
from real_nodes import lone_node

from lwnode.http.web.routes import WEB

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

CHROMIUM = Path("/usr/bin/chromium")
REBIND_NAME = "rebind.test"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--host-resolver-rules=MAP {REBIND_NAME} 127.0.0.1"]
EVIL = "http://evil.example"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def node(tmp_path_factory):
    async with lone_node(tmp_path_factory.mktemp("guard"), "Guarded Org",
                         log={"access_log": True}) as running:
        running.lid = await publish_package(running.service,
                                            region_package(region_centres(2, 4), 0))
        yield running


def _cached(node) -> list[str]:
    cache = node.app[WEB].jobs.cache
    return sorted(p.name for p in cache.glob("*.zip"))


def _clear_cache(node) -> None:
    for p in node.app[WEB].jobs.cache.glob("*.zip"):
        p.unlink()


async def _refused(response, status: int, code: str) -> None:
    body = await response.json()
    assert response.status == status and body["code"] == code, body


# -- plain clients -------------------------------------------------------------------------------
async def test_a_host_that_is_not_the_nodes_is_refused_on_every_route(node, http):
    port = node.url.rsplit(":", 1)[1]
    for path in ("/v1/health", "/v1/learnwares", f"/v1/learnwares/{node.lid}/package", "/",
                 "/web/app.js", "/v1/web/vocabulary", "/v1/nothing"):
        r = await http.get(f"{node.url}{path}", headers={"Host": f"{REBIND_NAME}:{port}"})
        await _refused(r, 421, "unknown_host")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        r = await http.get(f"{node.url}/v1/health", headers={"Host": host})
        assert r.status == 200, host


async def test_a_post_from_another_sites_page_is_refused_and_does_nothing(node, http):
    _clear_cache(node)
    body = f'{{"id": "{node.lid}"}}'
    for headers in ({"Origin": EVIL, "Content-Type": "text/plain"},
                    {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}):  # a browser that left Origin out
        r = await http.post(f"{node.url}/v1/web/fetch", data=body, headers=headers)
        await _refused(r, 403, "cross_origin")
        r = await http.post(f"{node.url}/v1/search", data='{"semantic": {}}', headers=headers)
        await _refused(r, 403, "cross_origin")
    assert _cached(node) == []
    # even with the token (a browser never has it ambiently, but refuse all the same)
    r = await http.delete(f"{node.url}/v1/learnwares/{node.lid}",
                          headers={"Origin": EVIL, "Authorization": f"Bearer {node.token}"})
    await _refused(r, 403, "cross_origin")
    assert (await http.get(f"{node.url}/v1/learnwares/{node.lid}")).status == 200


async def test_the_nodes_own_page_and_programs_still_post(node, http):
    _clear_cache(node)
    body = f'{{"id": "{node.lid}"}}'
    r = await http.post(f"{node.url}/v1/web/fetch", data=body,
                        headers={"Origin": node.url, "Sec-Fetch-Site": "same-origin"})
    assert r.status == 200, await r.text()
    _clear_cache(node)
    r = await http.post(f"{node.url}/v1/web/fetch", data=body)  # curl, the CLI
    assert r.status == 200, await r.text()
    assert len(_cached(node)) == 1


# -- the browser ---------------------------------------------------------------------------------
def _attack_page(node_url: str, lid: str) -> str:
    """What a hostile site serves: a no-cors fetch and a text/plain form, both POSTing
    the fetch of a package to the node (the form's body is valid JSON)."""
    return f"""<!doctype html><html><head><title>loading</title></head><body>
<form id="f" method="POST" action="{node_url}/v1/web/fetch" enctype="text/plain">
<input type="hidden" name='{{"id": "{lid}", "x": "' value='"}}'></form>
<script>
fetch("{node_url}/v1/web/fetch", {{method: "POST", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{id: "{lid}"}})}})
  .then(() => {{ document.title = "sent"; }}, (e) => {{ document.title = "failed " + e; }});
</script></body></html>"""


@pytest_asyncio.fixture(loop_scope="module")
async def attacker(node):
    """A second real HTTP server, on another port: the hostile site."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=_attack_page(node.url, node.lid), content_type="text/html")

    app = web.Application()
    app.router.add_get("/attack", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module")
async def chromium():
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - .ci/setup-env.sh installs it
        async_playwright = None
    if async_playwright is None or not CHROMIUM.exists():
        reason = "Chromium at /usr/bin/chromium and playwright are needed"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    profile = tempfile.mkdtemp(prefix="lwnode-chromium-")
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield context
        finally:
            await context.close()
            shutil.rmtree(profile, ignore_errors=True)


async def _settled(page) -> bool:
    return (await page.title()) != "loading"


def _access_lines(caplog, method_path: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "lwnode.access" and method_path in r.getMessage()]


async def test_chromium_cross_site_posts_are_refused_and_fetch_nothing(node, attacker,
                                                                       chromium, caplog):
    _clear_cache(node)
    page = await chromium.new_page()
    with caplog.at_level(logging.INFO, logger="lwnode.access"):
        await page.goto(f"{attacker}/attack")
        await until(lambda: _settled(page), "the script's fetch to settle (an opaque answer "
                    "either way)")
        assert await page.title() == "sent"
        async with page.expect_navigation() as navigation:
            await page.evaluate("document.getElementById('f').submit()")
        response = await navigation.value
        assert response is not None and response.status == 403
        assert '"cross_origin"' in await response.text()
    await page.close()
    lines = _access_lines(caplog, "POST /v1/web/fetch")
    assert len(lines) == 2 and all('" 403 ' in line for line in lines), lines
    assert _cached(node) == []  # nothing was fetched


async def test_chromium_dns_rebinding_reads_nothing(node, chromium):
    port = node.url.rsplit(":", 1)[1]
    page = await chromium.new_page()
    try:
        response = await page.goto(f"http://{REBIND_NAME}:{port}/v1/learnwares")
        assert response is not None and response.status == 421
        assert node.lid not in await response.text()
        own = await page.goto(f"{node.url}/v1/learnwares")  # the node's own name still works
        assert own is not None and own.status == 200 and node.lid in await own.text()
    finally:
        await page.close()
