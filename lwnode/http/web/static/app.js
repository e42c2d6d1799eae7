// lwnode's page: plain JavaScript, no build step, no third-party code.
// Everything a peer or a user sent (names, descriptions, messages) is written with
// textContent, never parsed as HTML.
"use strict";

const state = {
  token: sessionStorage.getItem("lwnode-token") || "",
  health: null,
  vocab: null,
  requirement: null,   // {statistical, file, rows, ...} of the last search's data
  dataFile: null,      // the File the user searched with (kept in the browser only)
  semanticFile: null,  // the .toml describing its columns, if any
  labelsFile: null,    // the labels of its first rows the hits were re-ranked with, if any
  answer: null,        // the last search answer
  selection: [],       // [{id, name, weight}] chosen for reuse
  useWeights: false,   // true while the selection is exactly the best mixture
  cursor: null,
  detailId: null,
  downloadUrl: null,
};

// -- small DOM helpers ---------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVGNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") el.textContent = v; else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

function short(id) {
  if (!id) return "";
  return (id.startsWith("sha256:") ? id.slice(7, 19) : id.slice(0, 14)) + "…";
}

function bytes(n) {
  // decimal units, as the command line prints sizes (lwnode.cli.common.human_size)
  if (n === null || n === undefined) return "";
  const units = ["B", "kB", "MB", "GB"];
  let i = 0; let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return (i ? v.toFixed(1) : String(v)) + " " + units[i];
}

function duration(seconds) {
  const s0 = Math.max(0, Math.round(seconds));
  const d = Math.floor(s0 / 86400), hh = Math.floor((s0 % 86400) / 3600);
  const m = Math.floor((s0 % 3600) / 60), sec = s0 % 60;
  if (d) return `${d} d ${hh} h`;
  if (hh) return `${hh} h ${m} min`;
  if (m) return `${m} min ${sec} s`;
  return `${sec} s`;
}

function ago(timestamp) {
  if (timestamp === null || timestamp === undefined) return "never";
  const t = timestamp > 1e12 ? timestamp / 1000 : timestamp;
  return duration(Date.now() / 1000 - t) + " ago";
}

function fmt(x, digits = 3) {
  return (x === null || x === undefined) ? "—" : Number(x).toFixed(digits);
}

// A number as the user typed it: 1, 0.5, 1e-5 (not 0.00001).
function num(x) {
  const v = Number(x);
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential() : String(v);
}

// The opt-in differential privacy fields of a form ("s" search, "k" pack) as
// [name, value] pairs; none while its checkbox is off (the node then makes the private
// default). The node checks them as `lwnode --epsilon --delta --gamma --bounds` does.
function dpFields(prefix) {
  if (!$(prefix + "-dp").checked) return [];
  return ["epsilon", "delta", "gamma", "bounds"].map((name) => [name, $(`${prefix}-${name}`).value.trim()])
    .filter(([, value]) => value);
}

// "differentially private, ε = 1, δ = 1e-5" for a spec's signed DP record, else null.
function dpWords(record) {
  if (!record || record.mechanism !== "gaussian-rff") return null;
  return record.epsilon == null ? "differentially private"
    : `differentially private, ε = ${num(record.epsilon)}, δ = ${num(record.delta)}`;
}

// -- messages and progress ------------------------------------------------------------------
function showMsg(id, kind, text, code) {
  const el = $(id);
  clear(el);
  el.className = "msg " + kind;
  el.append(text);
  if (code) el.append(" ", h("span", { class: "code", text: `(${code})` }));
  el.hidden = false;
}
function hideMsg(id) { $(id).hidden = true; }
function showError(id, err) {
  showMsg(id, "error", err && err.message ? err.message : String(err), err && err.code);
}

function progress(id, text, fraction) {
  const el = clear($(id));
  el.hidden = false;
  el.append(h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { text }));
  if (fraction !== undefined && fraction !== null) {
    el.append(h("progress", { max: "100", value: String(Math.round(fraction * 100)),
                              "aria-label": text }));
  }
}
function done(id) { clear($(id)).hidden = true; }

// Upload progress, then `after` (the node's own work) once the bytes are sent.
function uploading(id, sending, after) {
  return (fraction, finished) => progress(id, finished ? after : sending, finished ? null : fraction);
}

// A long step behind `button`: progress in `ids.progress`, an error in `ids.msg` (and the
// old result hidden), never a blank page.
async function step(button, ids, fn) {
  hideMsg(ids.msg);
  await busy(button, async () => {
    try { await fn(); } catch (err) {
      if (ids.result) $(ids.result).hidden = true;
      (ids.onError || showError)(ids.msg, err);
    } finally { done(ids.progress); }
  });
}

async function busy(button, fn) {
  const buttons = button ? [button] : [];
  buttons.forEach((b) => { b.disabled = true; b.setAttribute("aria-busy", "true"); });
  try { return await fn(); } finally {
    buttons.forEach((b) => { b.disabled = false; b.removeAttribute("aria-busy"); });
  }
}

// -- the API ----------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message); this.status = status; this.code = code; this.data = data || {};
  }
}

// One request; XHR rather than fetch so uploads report their progress.
function api(method, path, opts = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.timeout = opts.timeout || 15 * 60 * 1000;
    if (state.token) xhr.setRequestHeader("Authorization", "Bearer " + state.token);
    xhr.setRequestHeader("Accept", "application/json");
    let body = null;
    if (opts.json !== undefined) {
      xhr.setRequestHeader("Content-Type", "application/json");
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = opts.form;
    } else if (opts.body) {
      xhr.setRequestHeader("Content-Type", opts.contentType || "application/octet-stream");
      body = opts.body;
    }
    if (opts.onUpload) {
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) opts.onUpload(e.loaded / e.total); };
      xhr.upload.onload = () => opts.onUpload(1, true);
    }
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status >= 200 && xhr.status < 300 && data !== null) { resolve({ status: xhr.status, data }); return; }
      if (data && typeof data.message === "string") {
        let message = data.message;
        if (xhr.status === 401) message += " — enter the token under “API token” at the top.";
        reject(new ApiError(xhr.status, data.code, message, data));
      } else {
        reject(new ApiError(xhr.status, "http_error",
          `the node answered HTTP ${xhr.status} ${xhr.statusText || ""} without a JSON body`));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "unreachable", "the node did not answer (is it still running?)"));
    xhr.ontimeout = () => reject(new ApiError(0, "timeout", "the node took too long to answer"));
    xhr.send(body);
  });
}

function checkFile(file, suffixes, limit, what) {
  if (!file) throw new ApiError(0, "no_file", `${what}: choose a file`);
  const dot = file.name.lastIndexOf(".");
  const suffix = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
  if (!suffixes.includes(suffix)) {
    throw new ApiError(0, "bad_file", `${what}: ${file.name} is not one of ${suffixes.join(", ")}`);
  }
  if (limit && file.size > limit) {
    throw new ApiError(413, "too_large", `${what}: ${file.name} is ${bytes(file.size)}, more than this node's limit of ${bytes(limit)}`);
  }
  if (file.size === 0) throw new ApiError(0, "empty", `${what}: ${file.name} is empty`);
}

// -- navigation ------------------------------------------------------------------------------
const PAGES = ["overview", "learnwares", "search", "reuse", "publish"];

function route(ev) {
  if (ev) navigated = true;
  const hash = decodeURIComponent(location.hash.slice(1) || "overview");
  let page = hash.split("/")[0];
  if (page === "learnware") page = "learnwares";
  if (!PAGES.includes(page)) page = "overview";
  for (const p of PAGES) $("page-" + p).hidden = p !== page;
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · lwnode`;
  if (hash.startsWith("learnware/")) {
    showDetail(hash.slice("learnware/".length));
  } else if (page === "learnwares") {
    $("lw-detail").hidden = true; $("lw-list").hidden = false;
    if (!$("lw-table").tBodies[0].rows.length) loadLearnwares(false);
    focusHeading("h-learnwares");
  } else {
    if (page === "overview") loadOverview();
    if (page === "reuse") renderSelection();
    if (page === "publish") loadOwn();
    focusHeading("h-" + page);
  }
}

let navigated = false;  // the first view keeps the browser's focus (skip link first)
function focusHeading(id) {
  const el = $(id);
  if (navigated && el && document.activeElement && document.activeElement.tagName !== "INPUT") el.focus({ preventScroll: true });
}

// -- overview --------------------------------------------------------------------------------
function facts(dl, pairs) {
  clear(dl);
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    dl.append(h("dt", { text: k }), h("dd", {}, v instanceof Node ? v : String(v ?? "—")));
  }
}

function stat(n, label) {
  return h("div", { class: "stat" }, h("span", { class: "n", text: String(n ?? 0) }),
           h("span", { class: "k", text: label }));
}

async function loadHealth() {
  const { data } = await api("GET", "/v1/health");
  state.health = data;
  $("brand-org").textContent = data.organization || "";
  $("foot-version").textContent = data.version || "";
  return data;
}

// The peer layer's counters (/v1/health), grouped by what they count, each group with
// one line that says what it is; a counter no group claims is shown under "Other".
const COUNTER_GROUPS = [
  { title: "Connections", explain: "Links to other nodes: peers connected now, dials made and failed, " +
      "restarts of the peer layer, and peers banned for repeated faults.",
    match: (k) => /^(peers_|dials|restarts|peer_faults)/.test(k) },
  { title: "Announcements", explain: "Signed records of learnwares published or withdrawn: those this " +
      "node sent, those it took in from peers, and those it refused (with why).",
    match: (k) => /^(announced|gossip_|records_|rejected_)/.test(k) },
  { title: "Catch-up", explain: "Rounds in which this node compared its records with a peer's and " +
      "pulled the ones it lacked (after being offline, or joining late).",
    match: (k) => k.startsWith("sync_") },
  { title: "Searches", explain: "Searches this node routed to peers for its own users, and peers' " +
      "searches it answered; partial ones missed a peer's deadline.",
    match: (k) => k.startsWith("searches_") },
  { title: "Requests", explain: "Peer-to-peer requests sent and served; refused or abandoned ones " +
      "were over a budget, malformed, or too slow.",
    match: (k) => /^(requests_|streams_)/.test(k) },
];

function renderCounters(box, counters) {
  const left = new Map(Object.entries(counters));
  const groups = [...COUNTER_GROUPS, { title: "Other", explain: "Counters of the peer layer not grouped above.",
                                       match: () => true }];
  for (const g of groups) {
    const mine = [...left].filter(([k]) => g.match(k));
    if (!mine.length) continue;
    const list = h("dl", { class: "counters" });
    for (const [k, v] of mine) {
      left.delete(k);
      list.append(h("div", {}, h("dt", { text: k.replaceAll("_", " ") }), h("dd", { text: String(v) })));
    }
    box.append(h("section", { class: "counter-group" }, h("h3", { text: g.title }),
                 h("p", { class: "muted", text: g.explain }), list));
  }
}

async function loadOverview() {
  hideMsg("overview-msg");
  try {
    const hl = await loadHealth();
    facts($("node-facts"), [
      ["Organization", hl.organization], ["Node id", h("code", { text: hl.node_id })],
      ["Version", `${hl.version} (protocol ${hl.protocol})`], ["URL", hl.http_url],
      ["Up for", duration(hl.uptime_seconds)],
      ["Reads", hl.open_reads ? "open to anyone who reaches the node" : "need the token"],
      ["Largest package", bytes(hl.limits && hl.limits.max_upload_bytes)],
    ]);
    const c = hl.counts || {};
    clear($("node-counts")).append(stat(c.hosted, "hosted here"), stat(c.catalog, "searchable (own + network)"),
      stat(c.announcements, "announcements kept"), stat(c.owners, "owners"),
      stat(c.withdrawn, "withdrawn here"), stat(c.tombstones, "tombstones"));
    const layer = hl.peer_layer || {};
    $("peer-layer").textContent = layer.enabled
      ? `Joined a dock network; listening on ${(hl.peer_multiaddrs || []).join(", ") || "—"}.`
      : "Off: this node runs on its own (no peers are contacted).";
    renderCounters(clear($("peer-counters")), layer.counters || {});
  } catch (err) { showError("overview-msg", err); }
  try {
    const { data } = await api("GET", "/v1/peers");
    const body = clear($("peers-table").tBodies[0]);
    const peers = data.peers || [];
    $("peers-empty").hidden = peers.length > 0;
    $("peers-table").hidden = peers.length === 0;
    const known = new Set(["node_id", "organization", "connected", "last_seen", "http_url", "multiaddrs",
                           "records_accepted", "records_rejected"]);
    for (const p of peers) {
      const extra = Object.entries(p).filter(([k]) => !known.has(k))
        .map(([k, v]) => `${k.replaceAll("_", " ")}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
      body.append(h("tr", {},
        h("td", { text: p.organization || "—" }),
        h("td", {}, h("code", { title: p.node_id, text: short(p.node_id) })),
        h("td", { text: p.connected ? "yes" : "no" }),
        h("td", { text: ago(p.last_seen) }),
        h("td", { class: "num", text: p.records_accepted ?? "—" }),
        h("td", { class: "num", text: p.records_rejected ?? "—" }),
        h("td", { text: p.http_url || (p.multiaddrs || [])[0] || "—" }),
        h("td", { class: "muted", text: extra.join("; ") || "—" })));
    }
  } catch (err) { showError("overview-msg", err); }
}

// -- vocabulary-driven selects -------------------------------------------------------------
function fillSelect(id, values, anyLabel) {
  const el = clear($(id));
  if (anyLabel !== null) el.append(h("option", { value: "", text: anyLabel }));
  for (const v of values) el.append(h("option", { value: v, text: v.replaceAll("_", " ") }));
}

async function loadVocabulary() {
  const { data } = await api("GET", "/v1/web/vocabulary");
  state.vocab = data;
  fillSelect("f-data_type", data.data_type, "any");
  fillSelect("f-task_type", data.task_type, "any");
  fillSelect("f-library", data.library, "any");
  fillSelect("f-license", data.license, "any");
  fillSelect("f-scenario", data.scenarios, "any");
  fillSelect("s-task", data.task_type.filter((t) => t === "classification" || t === "regression"), "any");
  fillSelect("k-task", data.task_type.filter((t) => t === "classification" || t === "regression"), null);
  fillSelect("k-dtype", data.data_type.filter((t) => t !== "text"), null);
  fillSelect("k-license", data.license, "(none)");
  const dl = clear($("scenario-list"));
  for (const sc of data.scenarios) dl.append(h("option", { value: sc }));
  const methods = clear($("r-method"));
  methods.append(h("option", { value: "", text: "automatic" }));
  const words = { "job-selector": "job selector (no labels)", "average": "averaging (no labels)",
                  "ensemble-pruning": "ensemble pruning (needs labels)",
                  "feature-augment": "feature augment (needs labels)",
                  "hetero": "across feature spaces (other columns)" };
  for (const m of data.methods) methods.append(h("option", { value: m, text: words[m] || m }));
  $("s-k").max = data.limits.max_k;
  $("s-mix").max = data.limits.max_mixture;
  $("s-mix").value = Math.min(3, data.limits.max_mixture);
  $("rr-n").max = data.limits.max_rerank;
  $("rr-n").value = data.limits.default_rerank;
  $("rr-n").max = data.limits.max_rerank;
  $("rr-n").value = data.limits.default_rerank;
  methodHint();
}

// -- learnwares ------------------------------------------------------------------------------
function filterQuery() {
  const form = $("lw-filter");
  const params = new URLSearchParams();
  for (const el of form.elements) {
    if (!el.name || !el.value) continue;
    if (el.name === "owner") {
      if (el.value === "self" && state.health) params.set("owner", state.health.node_id);
    } else params.set(el.name, el.value.trim());
  }
  return params;
}

async function loadLearnwares(more) {
  hideMsg("lw-msg");
  const params = filterQuery();
  params.set("limit", "50");
  if (more && state.cursor) params.set("cursor", state.cursor);
  const body = $("lw-table").tBodies[0];
  if (!more) clear(body);
  try {
    if (!state.health) await loadHealth();
    const { data } = await api("GET", "/v1/learnwares?" + params.toString());
    for (const lw of data.items) body.append(learnwareRow(lw));
    state.cursor = data.next_cursor;
    $("lw-more").hidden = !data.next_cursor;
    $("lw-empty").hidden = body.rows.length > 0;
  } catch (err) { showError("lw-msg", err); }
}

function learnwareRow(lw) {
  const mine = state.health && lw.owner === state.health.node_id;
  return h("tr", {},
    h("td", {}, h("a", { href: "#learnware/" + encodeURIComponent(lw.id), text: lw.name || short(lw.id) })),
    h("td", { text: lw.organization || short(lw.owner) }),
    h("td", { text: lw.task_type || "—" }),
    h("td", { text: lw.data_type || "—" }),
    h("td", {}, (lw.scenarios || []).map((sc) => h("span", { class: "tag", text: sc }))),
    h("td", { class: "num", text: bytes(lw.size) }),
    h("td", {}, h("span", { class: mine ? "tag here" : "tag", text: mine ? "this node" : "peer" })));
}

async function showDetail(id) {
  state.detailId = id;
  $("lw-list").hidden = true; $("lw-detail").hidden = false;
  hideMsg("d-msg"); hideMsg("d-action-msg");
  $("d-title").textContent = "Learnware " + short(id);
  for (const el of ["d-facts", "d-semantic", "d-privacy", "d-offers", "d-report", "d-picture"]) clear($(el));
  $("d-description").textContent = "";
  $("d-picture-caption").textContent = "";
  $("d-withdraw").hidden = true;
  focusHeading("d-title");
  try {
    if (!state.health) await loadHealth();
    const [{ data: d }, { data: spec }] = await Promise.all([
      api("GET", "/v1/learnwares/" + encodeURIComponent(id)),
      api("GET", "/v1/learnwares/" + encodeURIComponent(id) + "/spec?max_points=" + PICTURE_POINTS)]);
    if (state.detailId !== id) return;
    const sem = d.semantic || {};
    $("d-title").textContent = sem.name || short(id);
    $("d-description").textContent = sem.description || "";
    const offer = (d.offers || [])[0] || {};
    facts($("d-facts"), [
      ["Content id", h("code", { text: d.id })],
      ["Owner", `${offer.organization || "—"} (${short(offer.owner)})`],
      ["Package", `${bytes(offer.size)}${d.package_url ? ", hosted by this node" : ""}`],
      ["Announcement", `sequence ${offer.sequence ?? "—"}`],
    ]);
    facts($("d-semantic"), [
      ["Data type", sem.data_type], ["Task", sem.task_type], ["Library", sem.library],
      ["License", sem.license || "—"], ["Scenarios", (sem.scenarios || []).join(", ") || "—"],
      ["Input", sem.input ? h("pre", { text: JSON.stringify(sem.input, null, 1) }) : "—"],
      ["Output", sem.output ? h("pre", { text: JSON.stringify(sem.output, null, 1) }) : "—"],
    ]);
    const stat = (spec.statistical || [])[0] || {};
    facts($("d-privacy"), privacyFacts(stat.privacy, d.hosted && d.hosted.report && d.hosted.report.privacy_report));
    const offers = clear($("d-offers"));
    for (const o of d.offers || []) {
      offers.append(h("li", {}, `${o.organization || "?"} `, h("code", { title: o.owner, text: short(o.owner) }),
        ` — ${(o.package_urls || []).length} package URL(s)`));
    }
    const report = $("d-report");
    if (d.hosted && d.hosted.report) report.append(reportView(d.hosted.report));
    else report.append(h("p", { class: "muted", text: "Checked by its owner's node when it was published. Fetching it here verifies the bytes against the owner's signature." }));
    $("d-withdraw").hidden = !(d.hosted && d.hosted.status === "active");
    drawSpec(spec);
  } catch (err) { showError("d-msg", err); }
}

// What a spec says of its rows: the owner's signed record (travels with the spec, so every
// node shows it) and, when this node hosts the package, the owner's measurement kept in the
// package's learnware.toml (a statement for people: nobody can check it against the rows).
function privacyFacts(record, measured) {
  const r = record || (measured ? { mechanism: measured.mechanism, min_rows_per_point: measured.min_rows_per_point }
                                : { mechanism: "none" });
  const mechanism = {
    "group-means": `every point is the mean of at least ${r.min_rows_per_point} rows`,
    "gaussian-rff": dpWords(r) + ": points synthesized from a noisy embedding",
    none: "none: its points may be close to single rows",
  }[r.mechanism] || r.mechanism;
  if (!record && !measured) {
    return [["Signed by the owner", "no privacy record (a spec from before protocol 1.2): its points may be close to single rows"],
            ["Measured by its owner", "in the package's learnware.toml, if it has one (fetch it to see)"]];
  }
  const pairs = [[record ? "Signed by the owner" : "Mechanism", mechanism]];
  if (measured) {
    pairs.push(["Closest point to a row", `${fmt(measured.nearest_row_ratio, 2)} × the rows' own spacing`]);
    pairs.push(["Membership attacks", measured.auc_nearest_point == null ? "not measured (fewer than 100 rows)"
      : `AUC ${fmt(measured.auc_nearest_point, 2)} nearest point, ${fmt(measured.auc_kernel_density, 2)} kernel density (0.5 = chance)`]);
    pairs.push(["Rows behind it", `about ${measured.rows} (${measured.points} points)`]);
  } else {
    pairs.push(["Measured by its owner", "in the package's learnware.toml (fetch it to see)"]);
  }
  return pairs;
}

function reportView(report) {
  const wrap = h("div", {});
  wrap.append(h("p", {}, "Status: ", h("span", { class: "status-" + report.status, text: report.status }),
                ` — ${report.reason || ""}`));
  const rows = (report.checks || []).map((c) => h("tr", {},
    h("td", { text: c.name }), h("td", { class: "status-" + c.status, text: c.status }),
    h("td", { text: c.reason || "" }), h("td", { class: "num", text: fmt(c.seconds, 2) + " s" })));
  wrap.append(h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only", text: "Usability checks" }),
    h("thead", {}, h("tr", {}, ["Check", "Status", "Reason", "Time"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows))));
  return wrap;
}

// -- the spec's picture: PCA of the reduced set (and the user's RKME when comparing) ------------
function flatten(points) { return points.map((p) => (Array.isArray(p) ? p.flat(Infinity) : [p]).map(Number)); }

// At most this many points of each set are drawn: the projection below costs n² per
// iteration, and a peer may announce specs of thousands of points (10,000 froze the
// tab). The node sends only the heaviest (GET .../spec?max_points=); the page keeps
// the heaviest of the user's RKME too. The heaviest points carry most of the weight,
// so the picture keeps its shape; the caption says when points were left out.
const PICTURE_POINTS = 250;

function heaviest(points, weights, n) {
  if (points.length <= n) return { points, weights };
  const order = weights.map((w, i) => [Number(w), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, n).map((p) => p[1]).sort((a, b) => a - b);
  return { points: order.map((i) => points[i]), weights: order.map((i) => weights[i]) };
}

// The top two principal axes of the stacked points, through the n x n Gram matrix
// (power iteration with deflation); returns 2-D coordinates per input point.
function pca2(rows) {
  const n = rows.length, d = rows[0].length;
  const mean = new Array(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j] / n;
  const c = rows.map((r) => r.map((v, j) => v - mean[j]));
  const g = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) for (let k = i; k < n; k++) {
    let acc = 0; for (let j = 0; j < d; j++) acc += c[i][j] * c[k][j];
    g[i][k] = acc; g[k][i] = acc;
  }
  const coords = rows.map(() => [0, 0]);
  for (let axis = 0; axis < 2; axis++) {
    let v = Array.from({ length: n }, (_, i) => Math.sin(i + 1 + axis));
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      const w = new Array(n).fill(0);
      for (let i = 0; i < n; i++) { let acc = 0; const gi = g[i]; for (let k = 0; k < n; k++) acc += gi[k] * v[k]; w[i] = acc; }
      const norm = Math.hypot(...w);
      if (norm < 1e-12) { lambda = 0; break; }
      lambda = norm; v = w.map((x) => x / norm);
    }
    const scale = Math.sqrt(Math.max(lambda, 0));
    for (let i = 0; i < n; i++) coords[i][axis] = v[i] * scale;
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) g[i][k] -= lambda * v[i] * v[k];
  }
  return coords;
}

function scatter(sets, title) {
  const rows = sets.flatMap((st) => st.points);
  const xy = pca2(rows);
  const W = 360, H = 300, pad = 24;
  const xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (W - 2 * pad);
  const sy = (y) => H - pad - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (H - 2 * pad);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 22}`, role: "img", "aria-label": title });
  svg.append(s("title", { text: title }), s("rect", { x: 0.5, y: 0.5, width: W - 1, height: H - 1, fill: "#fbfcfe", stroke: "#d9dde5" }));
  let offset = 0; let legendX = 8;
  for (const st of sets) {
    const wmax = Math.max(...st.weights, 1e-12);
    const g = s("g", { "data-set": st.label });
    st.points.forEach((_, i) => {
      const [px, py] = xy[offset + i];
      const r = 2 + 9 * Math.sqrt(Math.max(st.weights[i], 0) / wmax);
      if (st.shape === "square") {
        g.append(s("rect", { x: sx(px) - r * 0.8, y: sy(py) - r * 0.8, width: 1.6 * r, height: 1.6 * r,
                              fill: "none", stroke: st.color, "stroke-width": 1.6 }));
      } else {
        g.append(s("circle", { cx: sx(px), cy: sy(py), r, fill: st.color, "fill-opacity": 0.45, stroke: st.color }));
      }
    });
    svg.append(g);
    offset += st.points.length;
    svg.append(st.shape === "square"
      ? s("rect", { x: legendX, y: H + 7, width: 10, height: 10, fill: "none", stroke: st.color, "stroke-width": 1.6 })
      : s("circle", { cx: legendX + 5, cy: H + 12, r: 5, fill: st.color, "fill-opacity": 0.45, stroke: st.color }));
    svg.append(s("text", { x: legendX + 14, y: H + 16, text: st.label }));
    legendX += 24 + 7 * st.label.length;
  }
  return svg;
}

function drawSpec(spec) {
  const box = clear($("d-picture"));
  const stat = (spec.statistical || [])[0];
  if (!stat || !stat.points || !stat.points.length) {
    box.append(h("p", { class: "muted", text: "No statistical specification to draw." }));
    return;
  }
  const own = heaviest(flatten(stat.points), stat.weights, PICTURE_POINTS);
  const total = stat.points_total || stat.points.length;
  const sets = [{ label: "this learnware", ...own, color: "#1f5fbf" }];
  const req = state.requirement && state.requirement.statistical;
  let comparing = false;
  if (req && req.space === stat.space && flatten(req.points)[0].length === sets[0].points[0].length) {
    sets.push({ label: "your data", ...heaviest(flatten(req.points), req.weights, PICTURE_POINTS),
                color: "#d9480f", shape: "square" });
    comparing = true;
  }
  box.append(scatter(sets, comparing ? "The learnware's reduced set beside your data's, projected to 2-D"
                                     : "The learnware's reduced set projected to 2-D"));
  $("d-picture-caption").textContent =
    `Its RKME: ${total} weighted points in ${sets[0].points[0].length} dimensions ` +
    `(from ~${stat.n_samples} rows: the count is rounded down to its leading digit), first two principal axes; area follows weight.` +
    (total > own.points.length ? ` The ${own.points.length} heaviest are drawn.` : "") +
    (comparing ? ` Squares: the RKME of ${state.requirement.file}.`
               : (req ? " Your search data has another shape, so it is not drawn." : " Search with your data to compare."));
}

async function fetchAndVerify(id, msgId) {
  const { data } = await api("POST", "/v1/web/fetch", { json: { id } });
  showMsg(msgId, "ok", `Fetched and verified ${data.name || short(data.id)} (${bytes(data.size)}): ` +
          `sha256 matches its id, and the owner ${short(data.owner)} signed it.` + (data.cached ? " (cached)" : ""));
  return data;
}

// -- search ----------------------------------------------------------------------------------
async function runSearch(ev) {
  ev.preventDefault();
  const file = $("s-data").files[0];
  await step($("s-go"), { progress: "search-progress", msg: "search-msg", result: "search-result" }, async () => {
    const v = state.vocab;
    checkFile(file, v.data_suffixes, v.limits.max_data_bytes, "data");
    const toml = $("s-semantic").files[0] || null;
    if (toml) checkFile(toml, [".toml"], v.limits.max_semantic_bytes, "columns");
    const form = new FormData();
    form.append("data", file, file.name);
    if (toml) form.append("semantic", toml, toml.name);
    const dp = dpFields("s");
    for (const [name, value] of dp) form.append(name, value);
    progress("search-progress", `Sending ${file.name} to this node…`, 0);
    const { data: req } = await api("POST", "/v1/web/requirement", {
      form, onUpload: uploading("search-progress", `Sending ${file.name} to this node…`,
                                `Building the ${dp.length ? "differentially private " : ""}RKME on this node…`) });
    state.requirement = req; state.dataFile = file; state.semanticFile = toml; state.labelsFile = null;
    progress("search-progress", "Searching the network with the RKME…");
    const body = { statistical: req.statistical, k: Number($("s-k").value) || 5,
                   max_mixture: Number($("s-mix").value) || 1 };
    const task = $("s-task").value;
    // the columns (header names, described by the .toml) let the node match learnwares
    // over other columns, as `lwnode search --semantic` does
    const semantic = {};
    if (req.input) semantic.input = req.input;
    if (task) semantic.task_type = task;
    if (Object.keys(semantic).length) body.semantic = semantic;
    let answer;
    try {
      answer = (await api("POST", "/v1/search", { json: body })).data;
    } catch (err) { throw inPageWords(err); }
    state.answer = answer;
    renderAnswer(req, answer);
  });
}

// The engine's search messages say what it needs in API terms; say how to give it here.
function inPageWords(err) {
  if (!(err instanceof ApiError) || typeof err.message !== "string") return err;
  const how = "Describe your columns in a .toml under “Describe your columns” " +
              "([input.columns] name = \"description\")";
  err.message = err.message.replace("Build them with InputSpec.from_columns(names, descriptions)", how);
  return err;
}

function mappingLines(lines) {
  return h("ul", { class: "plain mapping" }, (lines || []).map((line) => h("li", {}, h("code", { text: line }))));
}

// What the user's own RKME reveals: how it was made, read from the signed record of the
// spec that was sent (so the words are true of what peers received), and what was measured
// here on their rows.
function privacySentence(record, pr) {
  const dp = dpWords(record);
  const how = dp ? `It is ${dp}: its points are synthetic, fitted to a noisy random-feature mean ` +
                   "of your rows with public gamma and bounds"
    : record && record.mechanism === "group-means" ? `Each point is the mean of at least ${record.min_rows_per_point} of your rows`
    : pr ? `Each point is the mean of at least ${pr.min_rows_per_point} of your rows` : "";
  if (!pr) return how ? how + ". " : "";
  // the stronger of the report's two attacks: a DP spec's density attack can read higher
  const strongest = Math.max(pr.auc_nearest_point, pr.auc_kernel_density ?? 0);
  const auc = pr.auc_nearest_point == null ? "" :
    `; the stronger of two membership attacks on it (nearest point, kernel density) ` +
    `scores AUC ${fmt(strongest, 2)} (0.5 = chance)`;
  return `${how}; the closest point lies ${fmt(pr.nearest_row_ratio, 2)} × your rows' spacing from any row${auc}. `;
}

function renderAnswer(req, answer) {
  $("search-result").hidden = false;
  const shape = req.shape.length === 1 ? `${req.shape[0]} columns` : `shape ${req.shape.join("×")}`;
  $("s-spec").textContent = `${req.file}: ${req.rows} rows × ${shape} → an RKME of ${req.points} weighted points, ` +
    `built on this node in ${fmt(req.seconds, 2)} s. Peers received only those points. ` +
    privacySentence(req.statistical && req.statistical.privacy, req.privacy_report) +
    (req.dp_choices || []).map((line) => `Chosen for you: ${line}. `).join("") +
    `${answer.n_candidates} candidate(s) compared${answer.exact ? "" : " (index shortlist)"}.`;
  const partial = $("s-partial");
  partial.hidden = !answer.partial;
  if (answer.partial) {
    partial.textContent = "Partial result: some peers did not answer in time" +
      ((answer.missed || []).length ? ` (${answer.missed.map(short).join(", ")})` : "") + ". Search again for a fuller answer.";
  }
  const notes = clear($("s-notes"));
  for (const n of answer.notes || []) notes.append(h("li", { text: n }));
  const body = clear($("hits-table").tBodies[0]);
  const hits = answer.single || [];
  $("hits-empty").hidden = hits.length > 0;
  hits.forEach((hit, i) => {
    const status = h("span", { class: "fetch-status", role: "status" });
    const fetchBtn = h("button", { type: "button", class: "fetch", "aria-label": `Fetch and verify ${hit.name}` }, "Fetch");
    fetchBtn.addEventListener("click", () => busy(fetchBtn, async () => {
      status.textContent = " fetching…";
      try {
        await api("POST", "/v1/web/fetch", { json: { id: hit.id } });
        status.textContent = " verified ✓"; status.className = "fetch-status verified";
      } catch (err) { status.textContent = ""; showError("search-msg", err); }
    }));
    const pick = h("input", { type: "checkbox", id: "pick-" + i, "data-id": hit.id, "data-name": hit.name,
                              checked: i === 0 ? true : null });
    body.append(h("tr", {},
      h("td", { "data-label": "Reuse" }, pick, h("label", { for: "pick-" + i, class: "sr-only", text: `Reuse ${hit.name}` })),
      h("td", { class: "num", "data-label": "#", text: String(i + 1) }),
      h("td", { class: "name" }, h("a", { href: "#learnware/" + encodeURIComponent(hit.id), text: hit.name || short(hit.id) }),
        hit.heterogeneous && hit.mapping ? h("details", { class: "hetero" },
          h("summary", {}, h("span", { class: "tag", text: `other columns: ${hit.mapping.pairs.length} of ` +
            `${hit.mapping.learnware_columns.length} mapped` })),
          mappingLines(hit.mapping.lines)) : null),
      h("td", { "data-label": "Owner" }, `${hit.organization || ""} `, h("span", { class: hit.local ? "tag here" : "tag", text: hit.local ? "this node" : "peer" })),
      h("td", { class: "num", "data-label": "MMD² (rank)", text: (hit.approximate ? "≈" : "") + fmt(hit.mmd2, 4),
        title: hit.approximate ? "estimated from the learnware's sketch: its full spec could not be fetched in time" : null }),
      h("td", { "data-label": "Score" }, h("span", { class: "scorebar", "aria-hidden": "true" }, scoreFill(hit.score)), fmt(hit.score)),
      h("td", { class: "num", "data-label": "Size", text: bytes(hit.size) }),
      h("td", { "data-label": "Package" }, fetchBtn, status)));
  });
  $("rerank").hidden = !hits.length;
  $("rerank-result").hidden = true;
  hideMsg("rerank-msg");
  const mix = answer.mixture;
  $("mixture").hidden = !mix;
  if (mix) {
    $("mixture-summary").textContent = `${mix.ids.length} learnwares whose weighted RKMEs together fit your data: ` +
      `score ${fmt(mix.score)}, MMD² ${fmt(mix.mmd2, 4)}.`;
    clear($("mixture-chart")).append(weightChart(mix));
  }
  const shortlist = shortlistToAverage(answer, state.vocab.limits.default_rerank);
  $("shortlist-average").hidden = !shortlist.length;
  $("shortlist-summary").textContent = `The equal average of the first ${shortlist.length} hits over ` +
    "your columns and the mixture's members. With no labels it predicted better than the mixture " +
    "where these learnwares are alternatives for one task (the same task from other sources), " +
    "not across a drift in time (docs/reuse.md, \"Held-out markets\").";
  $("shortlist-reuse").textContent = `Average these ${shortlist.length} learnwares`;
}

// The shortlist beside the mixture, as `lwnode search` prints it (lwnode.userside.rerank.
// average_ids: the first n hits over the user's columns, less those under half the best
// hit's score, then the mixture's members unless one takes other columns), or nothing when
// it is no more than what "Reuse this mixture" (or the top hit) already names.
function shortlistToAverage(answer, n) {
  const single = answer.single || [];
  const across = new Set(single.filter((hit) => hit.mapping).map((hit) => hit.id));
  const best = Math.max(0, ...single.map((hit) => hit.score));
  const ids = single.filter((hit) => !hit.mapping).slice(0, n)
    .filter((hit) => hit.score >= state.vocab.limits.average_score_floor * best).map((hit) => hit.id);
  const mix = answer.mixture;
  if (mix && !mix.ids.some((id) => across.has(id))) ids.push(...mix.ids.filter((id) => !ids.includes(id)));
  const hinted = new Set(mix ? mix.ids : single.slice(0, 1).map((hit) => hit.id));
  const same = ids.length === hinted.size && ids.every((id) => hinted.has(id));
  return ids.length > 1 && !same ? ids : [];
}

// -- re-rank by labels -------------------------------------------------------------------------
// The answer on show, sent back as POST /v1/web/rerank reads it: the hits up to the n-th
// over the user's own columns (the ones it fetches), and the mixture.
function rerankAnswer(answer, n) {
  const single = [];
  let own = 0;
  for (const hit of answer.single || []) {
    if (own >= n) break;
    single.push({ id: hit.id, name: hit.name, mmd2: hit.mmd2, heterogeneous: !!hit.heterogeneous });
    if (!hit.heterogeneous) own += 1;
  }
  const mix = answer.mixture;
  return { single, mixture: mix ? { ids: mix.ids, weights: mix.weights, mmd2: mix.mmd2,
    members: mix.ids.map((id, i) => ({ name: ((mix.members || [])[i] || {}).name || null })) } : null };
}

async function runRerank(ev) {
  ev.preventDefault();
  await step($("rr-go"), { progress: "rerank-progress", msg: "rerank-msg", result: "rerank-result" }, async () => {
    const v = state.vocab;
    if (!state.answer || !state.dataFile) throw new ApiError(0, "no_search", "search with your data first");
    const labels = $("rr-labels").files[0];
    checkFile(labels, [".csv", ".tsv", ".npy"], v.limits.max_label_bytes, "labels");
    const n = Number($("rr-n").value) || v.limits.default_rerank;
    const form = new FormData();
    form.append("data", state.dataFile, state.dataFile.name);
    if (state.semanticFile) form.append("semantic", state.semanticFile, state.semanticFile.name);
    form.append("labels", labels, labels.name);
    form.append("rerank", String(n));
    form.append("answer", JSON.stringify(rerankAnswer(state.answer, n)));
    const { data } = await api("POST", "/v1/web/rerank", { form, onUpload: uploading("rerank-progress",
      `Sending ${state.dataFile.name} and ${labels.name} to this node…`,
      "Fetching and verifying the shortlist, then scoring it on your labels on this node…") });
    renderRerank(data, labels);
  });
}

function renderRerank(data, labels) {
  $("rerank-result").hidden = false;
  $("rr-why").hidden = !data.why;
  $("rr-why").textContent = data.why ? data.why[0].toUpperCase() + data.why.slice(1) + "." : "";
  clear($("rr-notes")).append(...(data.notes || []).map((n) => h("li", { text: `Note: ${n}` })));
  const ranking = data.ranking || [];
  $("rr-ranked").hidden = !ranking.length;
  if (!ranking.length) return;
  const accuracy = data.metric === "accuracy";
  const metric = accuracy ? "Accuracy" : "RMSE";
  $("rr-caption").textContent = `Ranked by your ${data.n_labels} labels of ${labels.name} (${metric.toLowerCase()} ` +
    `on them, ${accuracy ? "higher" : "lower"} is better: the learnwares never saw them; ` +
    (data.n_folds ? `± the spread over ${data.n_folds} folds` : "too few labels to rank by") +
    "). Search # is each one's place in the table above.";
  $("rr-metric").textContent = metric;
  const mix = state.answer.mixture;
  const body = clear($("rr-table").tBodies[0]);
  ranking.forEach((e, i) => {
    const isMix = e.id === "mixture";
    body.append(h("tr", {},
      h("td", { class: "num", "data-label": "#", text: String(i + 1) }),
      h("td", { class: "name" }, isMix ? h("span", { text: e.name })
        : h("a", { href: "#learnware/" + encodeURIComponent(e.id), text: e.name || short(e.id) })),
      h("td", { class: "num", "data-label": metric, text: e.value === null ? "n/a" : fmt(e.value) }),
      h("td", { class: "num", "data-label": "±", text: fmt(e.spread) }),
      h("td", { class: "num", "data-label": "Search #", text: isMix ? "mixture" : `#${e.search_rank}` }),
      h("td", { class: "num", "data-label": "MMD²", text: fmt(e.mmd2, 4) })));
  });
  const top = ranking[0], reuse = data.reuse;
  const button = $("rr-reuse");
  button.hidden = !reuse;
  button.textContent = `Reuse the labels' first, ${top.id === "mixture" ? "the mixture" : top.name}, with your labels`;
  button.onclick = () => {
    const names = Object.fromEntries([...(state.answer.single || []), ...((mix && mix.members) || [])]
      .map((it) => [it.id, it.name]));
    state.labelsFile = labels;
    $("r-method").value = "";  // automatic: with labels, the method is chosen on them out of fold
    methodHint();
    selectIds(reuse.ids.map((id) => ({ id, name: names[id] })), reuse.weights);
  };
}

function scoreFill(score) {
  const fill = h("span", {});
  fill.style.width = `${Math.round(100 * Math.max(0, Math.min(1, score || 0)))}%`;
  return fill;
}

function weightChart(mix) {
  const names = mix.ids.map((id, i) => ((mix.members || [])[i] || {}).name || short(id));
  const rowH = 28, W = 560, left = 190, H = rowH * names.length + 10;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Mixture weights: " +
    names.map((n, i) => `${n} ${fmt(mix.weights[i], 2)}`).join(", ") });
  names.forEach((name, i) => {
    const y = 5 + i * rowH, w = Math.max(1, (W - left - 60) * mix.weights[i]);
    svg.append(s("text", { x: left - 8, y: y + 17, "text-anchor": "end", text: name.length > 28 ? name.slice(0, 27) + "…" : name }),
               s("rect", { x: left, y: y + 4, width: w, height: rowH - 10, fill: "#1f5fbf", rx: 3, class: "weight-bar" }),
               s("text", { x: left + w + 6, y: y + 17, text: fmt(mix.weights[i], 2) }));
  });
  return svg;
}

function selectIds(items, weights) {
  state.selection = items.map((it, i) => ({ id: it.id, name: it.name, weight: weights ? weights[i] : null }));
  state.useWeights = !!weights;
  location.hash = "#reuse";
}

// -- reuse -----------------------------------------------------------------------------------
function renderSelection() {
  const list = clear($("r-selection"));
  $("r-none").hidden = state.selection.length > 0;
  state.selection.forEach((it, i) => {
    const remove = h("button", { type: "button", class: "secondary", "aria-label": `Remove ${it.name || it.id}` }, "Remove");
    remove.addEventListener("click", () => { state.selection.splice(i, 1); state.useWeights = false; renderSelection(); });
    list.append(h("li", {}, h("strong", { text: it.name || short(it.id) }), h("code", { title: it.id, text: short(it.id) }),
      state.useWeights && it.weight !== null ? h("span", { class: "tag", text: `weight ${fmt(it.weight, 2)}` }) : null, remove));
  });
  $("r-data-hint").textContent = state.dataFile
    ? `Leave empty to use ${state.dataFile.name}, the file you searched with (still only on your machine and this node).`
    : "Choose the rows to predict.";
  $("r-labels-hint").textContent = state.labelsFile && state.dataFile
    ? `Leave empty to use ${state.labelsFile.name}, the labels you re-ranked the hits with.` : "";
  $("r-semantic-hint").textContent = state.semanticFile
    ? `Leave empty to use ${state.semanticFile.name}, the one you searched with.`
    : "Needed to reuse learnwares over other columns.";
}

function methodHint() {
  const m = $("r-method").value;
  const hints = {
    "": "Across feature spaces when a learnware takes other columns; else the job selector when it can tell where your rows belong, averaging when it cannot, unless your labels, if given, show another method clearly better out of fold.",
    "hetero": "Maps your columns onto each learnware's by their descriptions, then combines the learnwares.",
    "job-selector": "Routes each row to the learnware whose specification fits it best. No labels needed.",
    "average": "Averages the learnwares' predictions: weighted by the mixture's weights when you reuse the mixture, else equally. No labels needed.",
    "ensemble-pruning": "Keeps the subset of learnwares that scores best on your labelled rows.",
    "feature-augment": "Trains a small model on your labels with the learnwares' outputs as extra features.",
  };
  $("r-method-hint").textContent = hints[m] || "";
}

async function runReuse(ev) {
  ev.preventDefault();
  await step($("r-go"), { progress: "reuse-progress", msg: "reuse-msg", result: "reuse-result" }, async () => {
    if (!state.selection.length) throw new ApiError(0, "no_learnware", "choose at least one learnware first (Search page)");
    const v = state.vocab;
    const file = $("r-data").files[0] || state.dataFile;
    checkFile(file, v.data_suffixes, v.limits.max_data_bytes, "data");
    // the labels the hits were re-ranked with belong to the searched rows' first rows
    const labels = $("r-labels").files[0] || ($("r-data").files[0] ? null : state.labelsFile);
    if (labels) checkFile(labels, [".csv", ".tsv", ".npy"], v.limits.max_label_bytes, "labels");
    const toml = $("r-semantic").files[0] || ($("r-data").files[0] ? null : state.semanticFile);
    if (toml) checkFile(toml, [".toml"], v.limits.max_semantic_bytes, "columns");
    const form = new FormData();
    form.append("ids", JSON.stringify(state.selection.map((it) => it.id)));
    if ($("r-method").value) form.append("method", $("r-method").value);
    if (state.useWeights && ["", "job-selector", "average", "hetero"].includes($("r-method").value)) {
      form.append("weights", state.selection.map((it) => it.weight).join(","));
    }
    form.append("data", file, file.name);
    if (labels) form.append("labels", labels, labels.name);
    if (toml) form.append("semantic", toml, toml.name);
    const n = state.selection.length;
    progress("reuse-progress", `Sending ${file.name} to this node…`, 0);
    const { data } = await api("POST", "/v1/web/reuse", { form, onUpload: uploading("reuse-progress",
      `Sending ${file.name} to this node…`, `Fetching and verifying ${n} package(s), then predicting on this node…`) });
    renderReuse(data, file);
  });
}

function renderReuse(data, file) {
  $("reuse-result").hidden = false;
  $("r-summary").textContent = `Predicted ${data.n_rows} rows of ${file.name} by ${data.method} with ` +
    `${data.ids.length} learnware(s) (${data.task}) in ${fmt(data.seconds, 1)} s; every package verified.` +
    (data.notes && data.notes.length ? ` Note: ${data.notes.join(" ")}` : "");
  if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
  state.downloadUrl = URL.createObjectURL(new Blob([data.predictions_csv], { type: "text/csv" }));
  $("r-download").href = state.downloadUrl;
  const mappings = data.mappings || [];
  $("r-mappings").hidden = !mappings.length;
  const names = Object.fromEntries(state.selection.map((it) => [it.id, it.name]));
  clear($("r-mapping-list")).append(...mappings.map((m) => h("div", {},
    h("h3", {}, h("span", { text: `${names[m.id] || short(m.id)} ` }), h("code", { title: m.id, text: short(m.id) }),
      h("span", { class: "tag", text: `${m.pairs.length} of ${m.learnware_columns.length} of its columns mapped` })),
    mappingLines(m.lines))));
  const lines = data.predictions_csv.trim().split(/\r?\n/);
  const head = clear($("r-preview").tHead); const body = clear($("r-preview").tBodies[0]);
  head.append(h("tr", {}, h("th", { scope: "col", class: "num", text: "row" }),
    lines[0].split(",").map((c) => h("th", { scope: "col", text: c }))));
  lines.slice(1, 11).forEach((line, i) => body.append(h("tr", {}, h("td", { class: "num", text: String(i + 1) }),
    line.split(",").map((c) => h("td", { text: c })))));
  const sc = data.score;
  $("r-score").hidden = !sc;
  if (sc) {
    clear($("r-score-chart")).append(scoreChart(sc, data.method));
    $("r-score-protocol").textContent = `${sc.metric === "accuracy" ? "Accuracy (higher is better)" : "RMSE (lower is better)"}; ` +
      `${sc.protocol}.` + (sc.notes && sc.notes.length ? " " + sc.notes.join(" ") : "");
  }
}

function scoreChart(sc, method) {
  const bars = [[`reuse (${method})`, sc.reuse, "#1f5fbf"], [`your labels only (${sc.n_labels})`, sc.user_only, "#868e96"]];
  const top = sc.metric === "accuracy" ? 1 : Math.max(1e-9, ...bars.map((b) => b[1] || 0)) * 1.15;
  const W = 560, left = 190, rowH = 34, H = rowH * bars.length + 10;
  const label = sc.metric === "accuracy" ? "accuracy" : "RMSE";
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": bars.map((b) => `${b[0]}: ${label} ${fmt(b[1])}`).join("; ") });
  bars.forEach(([name, value, color], i) => {
    const y = 5 + i * rowH, w = value === null || value === undefined ? 0 : Math.max(1, (W - left - 90) * value / top);
    svg.append(s("text", { x: left - 8, y: y + 20, "text-anchor": "end", text: name }),
               s("rect", { x: left, y: y + 6, width: w, height: rowH - 12, fill: color, rx: 3, class: "score-bar" }),
               s("text", { x: left + w + 6, y: y + 20, text: value === null || value === undefined ? "n/a" : `${label} ${fmt(value)}` }));
  });
  return svg;
}

// -- publish ---------------------------------------------------------------------------------
function needToken() {
  $("p-token-note").hidden = !!state.token;
  return !state.token;
}

const PUBLISH_IDS = { progress: "publish-progress", msg: "publish-msg", result: "publish-report",
                      onError: publishFailed };

async function publishPackage(ev) {
  ev.preventDefault();
  await step(ev.submitter || ev.target.querySelector("button"), PUBLISH_IDS, async () => {
    $("publish-report").hidden = true;
    if (needToken()) throw new ApiError(401, "unauthorized", "enter the node's API token first (top of the page)");
    const file = $("p-zip").files[0];
    checkFile(file, [".zip"], state.vocab.limits.max_upload_bytes, "package");
    progress("publish-progress", `Uploading ${file.name}…`, 0);
    published(await api("POST", "/v1/learnwares", { body: file, contentType: "application/zip",
      onUpload: uploading("publish-progress", `Uploading ${file.name}…`, "Running the usability checks…") }));
  });
}

async function packAndPublish(ev) {
  ev.preventDefault();
  await step(ev.submitter || ev.target.querySelector("button"), PUBLISH_IDS, async () => {
    $("publish-report").hidden = true;
    if (needToken()) throw new ApiError(401, "unauthorized", "enter the node's API token first (top of the page)");
    const v = state.vocab;
    const model = $("k-model").files[0], data = $("k-data").files[0];
    checkFile(model, v.model_suffixes, v.limits.max_model_bytes, "model");
    checkFile(data, v.data_suffixes, v.limits.max_data_bytes, "data");
    const form = new FormData();
    for (const name of ["name", "description", "task_type", "data_type", "license", "scenarios"]) {
      const el = ev.target.elements[name];
      if (el && el.value.trim()) form.append(name, el.value.trim());
    }
    for (const [name, value] of dpFields("k")) form.append(name, value);
    form.append("model", model, model.name);
    form.append("data", data, data.name);
    progress("publish-progress", "Uploading the model and data…", 0);
    published(await api("POST", "/v1/web/pack", { form, onUpload: uploading("publish-progress",
      "Uploading the model and data…", "Packing (the RKME of your data), then running the usability checks…") }));
  });
}

function published({ status, data }) {
  showMsg("publish-msg", "ok", `${status === 201 ? "Published" : "Already published"}: ${data.id} (${bytes(data.size)}, sequence ${data.sequence}).`);
  const box = clear($("publish-report"));
  box.hidden = false;
  box.append(h("h2", { text: "Usability check report" }), reportView(data.report || {}));
  const pr = data.report && data.report.privacy_report;
  if (pr) {
    const dl = h("dl", { class: "facts" });
    facts(dl, privacyFacts(data.packed ? data.packed.privacy : null, pr));
    box.append(h("h2", { text: "What its spec reveals" }), dl);
  }
  box.append(h("p", {}, h("a", { href: "#learnware/" + encodeURIComponent(data.id), text: "See its page" })));
  loadOwn();
}

function publishFailed(msgId, err) {
  showError(msgId, err);
  if (err.data && err.data.report) {
    const box = clear($("publish-report"));
    box.hidden = false;
    box.append(h("h2", { text: "Usability check report" }), reportView(err.data.report));
  }
}

async function loadOwn() {
  needToken();
  hideMsg("own-msg");
  try {
    if (!state.health) await loadHealth();
    const { data } = await api("GET", "/v1/learnwares?limit=200&owner=" + encodeURIComponent(state.health.node_id));
    const body = clear($("own-table").tBodies[0]);
    $("own-empty").hidden = data.items.length > 0;
    for (const lw of data.items) {
      const btn = h("button", { type: "button", class: "danger", "aria-label": `Withdraw ${lw.name}` }, "Withdraw");
      btn.addEventListener("click", () => withdraw(lw.id, lw.name, btn, "own-msg"));
      body.append(h("tr", {}, h("td", {}, h("a", { href: "#learnware/" + encodeURIComponent(lw.id), text: lw.name })),
        h("td", {}, h("code", { title: lw.id, text: short(lw.id) })), h("td", { class: "num", text: bytes(lw.size) }), h("td", {}, btn)));
    }
  } catch (err) { showError("own-msg", err); }
}

async function withdraw(id, name, button, msgId) {
  if (!window.confirm(`Withdraw ${name || id}? Its package is deleted here and peers are told it is gone.`)) return;
  await busy(button, async () => {
    try {
      await api("DELETE", "/v1/learnwares/" + encodeURIComponent(id));
      showMsg(msgId, "ok", `Withdrew ${name || id}.`);
      loadOwn();
      if (msgId === "d-action-msg") $("d-withdraw").hidden = true;
    } catch (err) { showError(msgId, err); }
  });
}

// -- token -----------------------------------------------------------------------------------
function renderToken() {
  const pill = $("token-state");
  pill.textContent = state.token ? "set" : "none";
  pill.className = state.token ? "pill on" : "pill";
  needToken();
}

// -- wiring ----------------------------------------------------------------------------------
function wire() {
  window.addEventListener("hashchange", route);
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token-input").value.trim();
    $("token-input").value = "";
    if (state.token) sessionStorage.setItem("lwnode-token", state.token); else sessionStorage.removeItem("lwnode-token");
    renderToken();
    $("token-box").open = false;
    route(ev);
  });
  $("token-forget").addEventListener("click", () => {
    state.token = ""; sessionStorage.removeItem("lwnode-token"); renderToken();
  });
  $("overview-refresh").addEventListener("click", loadOverview);
  $("lw-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadLearnwares(false); });
  $("lw-filter").addEventListener("reset", () => setTimeout(() => loadLearnwares(false), 0));
  $("lw-more").addEventListener("click", () => loadLearnwares(true));
  $("d-fetch").addEventListener("click", () => busy($("d-fetch"), async () => {
    try {
      showMsg("d-action-msg", "", "Fetching and verifying…");
      await fetchAndVerify(state.detailId, "d-action-msg");
    } catch (err) { showError("d-action-msg", err); }
  }));
  $("d-select").addEventListener("click", () => {
    if (!state.selection.some((it) => it.id === state.detailId)) {
      state.selection.push({ id: state.detailId, name: $("d-title").textContent, weight: null });
    }
    state.useWeights = false;
    showMsg("d-action-msg", "ok", "Added to the reuse selection (Reuse page).");
  });
  $("d-withdraw").addEventListener("click", () => withdraw(state.detailId, $("d-title").textContent, $("d-withdraw"), "d-action-msg"));
  $("search-form").addEventListener("submit", runSearch);
  $("mixture-reuse").addEventListener("click", () => {
    const mix = state.answer.mixture;
    selectIds(mix.ids.map((id, i) => ({ id, name: ((mix.members || [])[i] || {}).name })), mix.weights);
  });
  $("shortlist-reuse").addEventListener("click", () => {
    const answer = state.answer, mix = answer.mixture;
    const names = Object.fromEntries([...(answer.single || []),
      ...(mix ? mix.ids.map((id, i) => ({ id, name: ((mix.members || [])[i] || {}).name })) : [])]
      .map((it) => [it.id, it.name]));
    $("r-method").value = "average";  // equal weights: the selection carries none
    methodHint();
    selectIds(shortlistToAverage(answer, state.vocab.limits.default_rerank)
      .map((id) => ({ id, name: names[id] })), null);
  });
  $("s-reuse-selected").addEventListener("click", () => {
    const picked = [...document.querySelectorAll("#hits-table input[type=checkbox]:checked")]
      .map((el) => ({ id: el.dataset.id, name: el.dataset.name }));
    if (!picked.length) { showMsg("search-msg", "warn", "Tick at least one hit to reuse."); return; }
    selectIds(picked, null);
  });
  $("rerank-form").addEventListener("submit", runRerank);
  $("reuse-form").addEventListener("submit", runReuse);
  $("r-method").addEventListener("change", methodHint);
  $("pub-package").addEventListener("submit", publishPackage);
  $("pub-pack").addEventListener("submit", packAndPublish);
  mountDp();
}

// The differential privacy fields: one <template>, put in each <fieldset data-dp=PREFIX>
// (search "s", pack "k"); ids PREFIX-dp (the opt-in checkbox) and PREFIX-epsilon,
// PREFIX-delta, PREFIX-gamma, PREFIX-bounds. Disabled until opted in.
function mountDp() {
  for (const box of document.querySelectorAll("fieldset[data-dp]")) {
    const prefix = box.dataset.dp;
    box.append($("dp-template").content.cloneNode(true));
    box.querySelector(".dp-what").textContent = box.dataset.dpWhat;
    box.querySelector(".dp-cmd").textContent = box.dataset.dpCmd;
    const on = box.querySelector(".dp-on"), fields = box.querySelector(".dp-fields");
    on.id = prefix + "-dp";
    for (const input of fields.querySelectorAll("input")) input.id = `${prefix}-${input.dataset.name}`;
    for (const label of fields.querySelectorAll("label")) label.htmlFor = `${prefix}-${label.dataset.for}`;
    on.addEventListener("change", () => {
      fields.disabled = !on.checked;
      if (on.checked) fields.querySelector("input").focus();
    });
  }
}

async function start() {
  wire();
  renderToken();
  try { await loadVocabulary(); } catch (err) {
    showError("overview-msg", err); showError("search-msg", err); showError("publish-msg", err);
  }
  route();
}

document.addEventListener("DOMContentLoaded", start);
