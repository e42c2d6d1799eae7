"""The web page in a real browser: Debian's Chromium driven by Playwright (no browser download).

Two real nodes (HTTP servers, SQLite stores, usability checks in worker processes) are
federated over the in-process peer network. Through the page: a developer publishes
on node A (a package, and a model + data packed on the node); a user on node B
searches with a CSV, sees A's learnware among the hits, fetches and verifies it,
reuses the mixture with a few labels and downloads the predictions; bad input shows
the API's message. Screenshots go to a temporary directory, or to docs/images when
``LWDOCK_SCREENSHOTS=1``.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import tempfile
import threading
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from lwtesting import (
    housing_packages,
    publish_package,
    region_centres,
    region_labels,
    region_package,
    region_rows,
    wait_for,
)
from real_nodes import cluster

from lwnode.daemon import RunningNode

pytestmark = pytest.mark.timeout(180)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
D = 6
WAIT_MS = 60_000

try:
    from playwright.sync_api import Page, expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # checks and reuse run in worker processes: seconds
except ImportError:  # pragma: no cover - .ci/setup-env.sh installs it
    sync_playwright = None



def _require_browser() -> None:
    missing = [what for what, ok in (("Chromium at /usr/bin/chromium", CHROMIUM.exists()),
                                     ("the playwright package", sync_playwright is not None))
               if not ok]
    if missing:
        reason = f"{' and '.join(missing)} not installed (.ci/setup-env.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


class NodeLoop:
    """Real nodes in one background event loop (Playwright's sync API owns this thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = AsyncExitStack()

    def call(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.call(self.stack.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@dataclass
class Nodes:
    a: RunningNode
    b: RunningNode
    loop: NodeLoop


@pytest.fixture(scope="module")
def centres():
    return region_centres(4, D)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, centres):
    _require_browser()
    root = tmp_path_factory.mktemp("web-nodes")
    loop = NodeLoop()

    async def start() -> Nodes:
        # real nodes on loopback (libp2p between them), as every integration test starts them
        a, b = await loop.stack.enter_async_context(
            cluster(2, root, names="ab", organizations=("Harbour Hospital", "Riverside Clinic")))
        # B hosts one learnware of its own (region 2), published through the API.
        await publish_package(b.service, region_package(centres, 2))
        return Nodes(a.running, b.running, loop)

    try:
        yield loop.call(start())
    finally:
        loop.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory, centres):
    """What the developer and the user have on their own machines."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    d = tmp_path_factory.mktemp("web-files")
    (d / "region0.zip").write_bytes(region_package(centres, 0))
    x1 = region_rows(centres, 1, 200, seed=3)
    sio.dump(LogisticRegression(max_iter=1000).fit(x1, region_labels(centres, 1, x1)),
             d / "model.skops")
    _write_csv(d / "train.csv", x1)
    rng = np.random.default_rng(5)
    x = np.vstack([region_rows(centres, 0, 60, seed=11), region_rows(centres, 2, 60, seed=11)])
    y = np.concatenate([region_labels(centres, 0, x[:60]), region_labels(centres, 2, x[60:])])
    order = rng.permutation(len(x))
    _write_csv(d / "my-rows.csv", x[order])
    (d / "my-labels.csv").write_text("label\n" + "\n".join(y[order][:40]) + "\n")
    (d / "broken.csv").write_text("f0,f1\n1.0,2.0\n3.0,abc\n")
    (d / "notes.txt").write_text("not data\n")
    return d


def _write_csv(path: Path, x: np.ndarray) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{j}" for j in range(x.shape[1])])
        w.writerows([f"{v:.5f}" for v in row] for row in x)


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    profile = tempfile.mkdtemp(prefix="lwnode-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800}, accept_downloads=True)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    if os.environ.get("LWDOCK_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        return IMAGES
    return tmp_path_factory.mktemp("web-shots")


@pytest.fixture
def page(browser):
    p = browser.new_page()
    p.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    p.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _open(page: Page, node: RunningNode, where: str = "overview") -> None:
    page.goto(f"{node.url}/#{where}")
    section = where.split("/")[0]
    section = "learnwares" if section == "learnware" else section
    expect(page.locator(f"#page-{section}")).to_be_visible()


def _set_token(page: Page, token: str) -> None:
    page.click("#token-box summary")
    page.fill("#token-input", token)
    page.press("#token-input", "Enter")
    expect(page.locator("#token-state")).to_have_text("set")


# -- the scenario of the issue -----------------------------------------------------------------
def test_publish_on_one_node_search_fetch_and_reuse_from_another(nodes, files, page, shots):
    a, b = nodes.a, nodes.b

    # A developer publishes on node A: a package, then a model + data packed on the node.
    _open(page, a, "publish")
    _set_token(page, a.token)
    page.set_input_files("#p-zip", str(files / "region0.zip"))
    page.click("#pub-package button[type=submit]")
    expect(page.locator("#publish-msg")).to_contain_text("Published")
    expect(page.locator("#publish-report")).to_contain_text("usable")
    page.set_input_files("#k-model", str(files / "model.skops"))
    page.set_input_files("#k-data", str(files / "train.csv"))
    page.fill("#k-name", "Ward 1 triage model")
    page.fill("#k-description", "Logistic regression trained on ward 1's admissions.")
    page.select_option("#k-license", "mit")
    page.fill("#k-scenarios", "retail")
    page.click("#pub-pack button[type=submit]")
    expect(page.locator("#publish-msg")).to_contain_text("Published")
    expect(page.locator("#publish-report .status-usable").first).to_be_visible()
    expect(page.locator("#own-table tbody tr")).to_have_count(2)
    page.screenshot(path=str(shots / "publish.png"), full_page=True)

    # Gossip brings both to node B.
    def b_knows() -> bool:
        return len(b.service.catalog) >= 3

    wait_for(b_knows, "node B to hear of A's two learnwares", 30)

    # The user, on node B, searches with a CSV of their own.
    _open(page, b, "search")
    expect(page.locator("#search-privacy")).to_contain_text("no point is one of your")
    page.set_input_files("#s-data", str(files / "my-rows.csv"))
    page.click("#s-go")
    hits = page.locator("#hits-table tbody tr")
    expect(hits.first).to_be_visible()
    expect(page.locator("#s-spec")).to_contain_text("120 rows")
    expect(page.locator("#hits-table")).to_contain_text("region 0 classifier")
    expect(page.locator("#hits-table")).to_contain_text("Harbour Hospital")
    remote = hits.filter(has_text="region 0 classifier")
    expect(remote.locator(".tag")).to_have_text("peer")
    expect(page.locator("#mixture-chart .weight-bar")).to_have_count(2)
    expect(page.locator("#s-spec")).to_contain_text("Each point is the mean of at least 10 of")
    expect(page.locator("#s-spec")).to_contain_text(
        "the stronger of two membership attacks on it (nearest point, kernel density)")
    page.screenshot(path=str(shots / "search.png"), full_page=True)

    # One click fetches A's package from node A and verifies it.
    remote.locator("button.fetch").click()
    expect(remote.locator(".fetch-status")).to_contain_text("verified")

    # Its detail page draws its spec beside the user's data.
    remote.locator("a").click()
    expect(page.locator("#d-title")).to_have_text("region 0 classifier")
    expect(page.locator("#d-facts")).to_contain_text("Harbour Hospital")
    # the owner's signed privacy record travels with the spec: node B shows it too
    expect(page.locator("#d-privacy")).to_contain_text("the mean of at least 10 rows")
    expect(page.locator("#d-picture svg circle").first).to_be_visible()
    expect(page.locator("#d-picture svg rect[fill=none]").first).to_be_visible()
    page.screenshot(path=str(shots / "learnware.png"), full_page=True)

    # Reuse the mixture (A's and B's learnwares) with 40 labels; download the predictions.
    page.go_back()
    page.click("#mixture-reuse")
    expect(page.locator("#r-selection li")).to_have_count(2)
    page.select_option("#r-method", "job-selector")
    page.set_input_files("#r-labels", str(files / "my-labels.csv"))
    page.click("#r-go")
    expect(page.locator("#reuse-result")).to_be_visible()
    expect(page.locator("#r-summary")).to_contain_text("Predicted 120 rows")
    expect(page.locator("#r-score-chart .score-bar")).to_have_count(2)
    page.screenshot(path=str(shots / "reuse.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#r-download")
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0] == "prediction" and len(rows) == 121
    assert set(rows[1:]) <= {"neg", "pos"}
    accuracy = float(page.locator("#r-score-chart text").nth(1).text_content().split()[-1])
    assert accuracy > 0.8  # job selection over the right mixture labels most rows right

    # Node B's overview lists node A as a peer; its learnwares list shows all three.
    _open(page, b, "overview")
    expect(page.locator("#peers-table")).to_contain_text("Harbour Hospital")
    expect(page.locator("#node-counts")).to_contain_text("searchable")
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    _open(page, b, "learnwares")
    expect(page.locator("#lw-table tbody tr")).to_have_count(3)
    page.select_option("#f-scenario", "health")
    page.click("#lw-filter button[type=submit]")
    expect(page.locator("#lw-table tbody tr")).to_have_count(2)
    page.screenshot(path=str(shots / "learnwares.png"), full_page=True)


# -- label-aware search: the command line's `search --labels` on the page -------------------------
def test_rerank_the_hits_by_labels_then_reuse_the_labels_first(nodes, files, centres, page,
                                                              shots):
    a, b = nodes.a, nodes.b
    nodes.loop.call(publish_package(a.service, region_package(centres, 0)))  # if not yet
    wait_for(lambda: len(b.service.catalog) >= 2, "node B to hear of A's region 0", 30)
    _open(page, b, "search")
    page.set_input_files("#s-data", str(files / "my-rows.csv"))
    page.click("#s-go")
    expect(page.locator("#hits-table tbody tr").first).to_be_visible()
    page.set_input_files("#rr-labels", str(files / "my-labels.csv"))
    page.click("#rr-go")
    rows = page.locator("#rr-table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 2
    # both orders: each entry's place in the search's table, the labels' metric, and why
    expect(page.locator("#rr-caption")).to_contain_text("Ranked by your 40 labels of "
                                                        "my-labels.csv (accuracy")
    places = page.locator("#rr-table td[data-label='Search #']").all_text_contents()
    assert "#1" in places, places
    expect(page.locator("#rr-why")).to_contain_text("Your labels")
    page.screenshot(path=str(shots / "rerank.png"), full_page=True)
    # the labels' first goes to Reuse with the labels, the method chosen on them
    page.click("#rr-reuse")
    expect(page.locator("#r-selection li").first).to_be_visible()
    expect(page.locator("#r-labels-hint")).to_contain_text("my-labels.csv")
    page.click("#r-go")
    expect(page.locator("#r-summary")).to_contain_text("Predicted 120 rows")
    expect(page.locator("#r-score-chart .score-bar")).to_have_count(2)


# -- the shortlist's equal average: `lwnode search`'s other data-free hint -------------------------
def test_average_the_shortlist_without_labels(nodes, files, centres, page):
    a, b = nodes.a, nodes.b
    # another region 0 learnware (a third source for the user's data), so that the
    # shortlist holds more than the mixture; region 1's, which does not fit the user's
    # rows (regions 0 and 2), stays out of the average
    nodes.loop.call(publish_package(a.service, region_package(centres, 0, seed=1)))
    nodes.loop.call(publish_package(a.service, region_package(centres, 1)))
    wait_for(lambda: len(b.service.catalog) >= 4, "node B to hear of A's learnwares", 30)
    _open(page, b, "search")
    page.set_input_files("#s-data", str(files / "my-rows.csv"))
    page.fill("#s-mix", "2")  # a mixture of two of the three sources
    page.click("#s-go")
    hits = page.locator("#hits-table tbody tr")
    expect(hits.first).to_be_visible()
    expect(page.locator("#shortlist-average")).to_be_visible()
    page.click("#shortlist-reuse")
    chosen = page.locator("#r-selection li")
    expect(chosen.first).to_be_visible()
    n = chosen.count()
    assert n >= 3, chosen.all_text_contents()
    assert not any("region 1" in t or "Ward 1" in t for t in chosen.all_text_contents())
    expect(page.locator("#r-method")).to_have_value("average")
    expect(page.locator("#r-selection .tag")).to_have_count(0)  # equal weights: none shown
    page.click("#r-go")
    expect(page.locator("#r-summary")).to_contain_text(
        f"Predicted 120 rows of my-rows.csv by average with {n} learnware(s)")


# -- errors are the API's messages --------------------------------------------------------------
def test_bad_files_and_a_wrong_token_show_the_apis_message(nodes, files, page):
    _open(page, nodes.b, "search")
    page.set_input_files("#s-data", str(files / "broken.csv"))
    page.click("#s-go")
    msg = page.locator("#search-msg")
    expect(msg).to_contain_text("broken.csv line 3, column 2 ('f1'): 'abc' is not a finite number")
    expect(msg).to_have_class("msg error")
    expect(page.locator("#search-result")).to_be_hidden()

    page.set_input_files("#s-data", str(files / "notes.txt"))
    page.click("#s-go")
    expect(msg).to_contain_text("notes.txt is not one of .csv, .tsv, .npy")

    _open(page, nodes.a, "publish")
    _set_token(page, "not-the-token")
    page.set_input_files("#p-zip", str(files / "region0.zip"))
    page.click("#pub-package button[type=submit]")
    expect(page.locator("#publish-msg")).to_contain_text(
        "the token sent is not this node's API token")
    expect(page.locator("#publish-msg")).to_contain_text("unauthorized")


def test_a_differentially_private_search_says_what_it_sent(nodes, files, page):
    _open(page, nodes.b, "search")
    expect(page.locator("#s-epsilon")).to_be_disabled()  # opt-in
    page.check("#s-dp")
    page.fill("#s-epsilon", "1")
    page.fill("#s-gamma", "0.05")
    page.set_input_files("#s-data", str(files / "my-rows.csv"))
    page.click("#s-go")
    msg = page.locator("#search-msg")
    expect(msg).to_contain_text("bounds: differential privacy (epsilon) needs the range your")
    page.fill("#s-bounds", "-20,20")
    page.click("#s-go")
    expect(page.locator("#hits-table tbody tr").first).to_be_visible()
    # the words come from the signed record of the spec that was sent, delta the default
    expect(page.locator("#s-spec")).to_contain_text("It is differentially private, ε = 1, "
                                                    "δ = 1e-5: its points are synthetic")


def test_withdraw_through_the_page(nodes, centres, page):
    a = nodes.a
    upload_bytes = region_package(centres, 3)

    lid = nodes.loop.call(publish_package(a.service, upload_bytes))
    _open(page, a, f"learnware/{lid}")
    expect(page.locator("#d-title")).to_have_text("region 3 classifier")
    expect(page.locator("#d-report")).to_contain_text("usable")
    _set_token(page, a.token)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#d-withdraw")
    expect(page.locator("#d-action-msg")).to_contain_text("Withdrew")
    page.reload()
    expect(page.locator("#d-msg")).to_contain_text("withdrawn")


# -- readable on a phone, usable from the keyboard ---------------------------------------------
def test_phone_width_and_keyboard(nodes, browser, shots):
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        for where in ("overview", "learnwares", "search", "reuse", "publish"):
            _open(page, nodes.b, where)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{where}: the page is {width} px wide on a 390 px phone"
        page.set_viewport_size({"width": 1280, "height": 800})
        _open(page, nodes.b, "overview")
        page.reload()  # a fresh load: focus starts at the top of the page
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        for _ in range(3):  # skip link, Overview, Learnwares, Search
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Search"
        page.keyboard.press("Enter")
        expect(page.locator("#page-search")).to_be_visible()
        assert page.locator("label[for=s-data]").count() == 1
    finally:
        page.close()


def test_results_fit_a_375_px_phone_and_say_how_they_are_ranked(nodes, files, browser, shots):
    page = browser.new_page()
    page.set_viewport_size({"width": 375, "height": 812})
    try:
        _open(page, nodes.b, "search")
        page.set_input_files("#s-data", str(files / "my-rows.csv"))
        page.click("#s-go")
        hits = page.locator("#hits-table tbody tr")
        expect(hits.first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # no sideways scrolling inside the table's frame either: each hit is a card
        wide = page.evaluate("""() => { const t = document.querySelector('#hits-table');
            return [t.scrollWidth, t.parentElement.clientWidth]; }""")
        assert wide[0] <= wide[1], f"the results table is {wide[0]} px in a {wide[1]} px frame"
        expect(hits.first.locator("td[data-label='MMD² (rank)']")).to_be_visible()
        box = hits.first.locator("button.fetch").bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 375, box
        # rank is by MMD², which the page says, and the column order shows
        expect(page.locator("#rank-note")).to_contain_text("Ranked by MMD²")
        mmd2 = [float(t) for t in page.locator(
            "#hits-table td[data-label='MMD² (rank)']").all_text_contents()]
        assert mmd2 == sorted(mmd2) and mmd2
        page.screenshot(path=str(shots / "phone-search.png"), full_page=True)
        # the Overview's counters come in groups, each with a heading and one line
        _open(page, nodes.b, "overview")
        groups = page.locator("#peer-counters .counter-group")
        expect(groups.first).to_be_visible()
        titles = groups.locator("h3").all_text_contents()
        assert {"Connections", "Announcements", "Searches"} <= set(titles), titles
        for i in range(groups.count()):
            assert groups.nth(i).locator("p").text_content().strip()
            assert groups.nth(i).locator("dt").count() >= 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        page.close()


# -- across feature spaces ----------------------------------------------------------------------
def test_search_and_reuse_across_feature_spaces(nodes, page, tmp_path):
    """A user whose columns differ from the learnwares' describes them in a .toml; without
    it the page shows the node's refusal and what to add."""
    a = nodes.a
    packages = housing_packages(tmp_path)

    async def publish() -> None:
        for package in packages.values():
            await publish_package(a.service, package)

    nodes.loop.call(publish())
    _open(page, a, "search")
    page.set_input_files("#s-data", str(tmp_path / "user.csv"))
    page.click("#s-go")
    expect(page.locator("#search-msg")).to_contain_text("a description for every column")
    expect(page.locator("#search-msg")).to_contain_text("Describe your columns")
    page.set_input_files("#s-semantic", str(tmp_path / "user.toml"))
    page.click("#s-go")
    hits = page.locator("#hits-table tbody tr")
    expect(hits.first.locator("details.hetero .tag")).to_contain_text("other columns:")
    hits.first.locator("details.hetero summary").click()
    expect(hits.first.locator("ul.mapping")).to_contain_text("<- livingSpace")
    hits.nth(1).locator("input[type=checkbox]").check()
    page.click("#s-reuse-selected")
    expect(page.locator("#r-selection li")).to_have_count(2)
    page.click("#r-go")  # the search's data and .toml, the method chosen by itself
    expect(page.locator("#r-summary")).to_contain_text("Predicted 400 rows of user.csv by hetero")
    expect(page.locator("#r-mapping-list h3")).to_have_count(2)
    expect(page.locator("#r-mapping-list")).to_contain_text("<- livingSpace")
