"""`NodeConfig`: one typed, validated configuration, resolved once at start-up.

Sources, later ones winning: the defaults below, ``node.toml``, ``LWDOCK_*``
environment variables, command-line flags. An unknown key in any source is an
error (a typo must not silently fall back to a default).

Environment variables are named ``LWDOCK_<SECTION>_<KEY>`` in capitals, e.g.
``LWDOCK_HTTP_PORT=9000`` or ``LWDOCK_CHECKS_ALLOW_CODE=true``; lists are
comma-separated. ``LWDOCK_HOME``, ``LWDOCK_NODE`` and ``LWDOCK_TOKEN`` are read by
the command line, not by the node's config.

`render_toml` writes a commented file with every setting and its default:
``configs/node.toml`` is its output (a test keeps them equal), and ``lwnode init``
writes the same text with the organization filled in.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
import textwrap
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.vocabulary import DataType
from lwnode.errors import ConfigError
from protocol.errors import ProtocolError
from protocol.owneraddrs import own_addrs
from protocol.replication import ReplicationFilter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV_PREFIX = "LWDOCK_"
CLI_ENV = frozenset({"LWDOCK_HOME", "LWDOCK_NODE", "LWDOCK_TOKEN"})
"""Variables of the command line (not config keys), allowed beside the config's."""

DEFAULT_HTTP_PORT = 8470


def _opt(default: Any, doc: str, **limits: Any) -> Any:
    """A config field with its documentation and bounds (``lo``, ``hi``)."""
    return field(default=default, metadata={"doc": doc, **limits})


@dataclass(frozen=True)
class NodeSection:
    """[node]: who runs this node."""

    organization: str = _opt("", "Organization name shown to peers and users; empty: the "
                                 "host name followed by the start of the node id. Give each "
                                 "node its own name: peers pin a name to the first node "
                                 "using it ([trust] mode = 'tofu').")


@dataclass(frozen=True)
class HttpSection:
    """[http]: the HTTP API."""

    host: str = _opt("127.0.0.1", "Address the API listens on (127.0.0.1: this machine only).")
    port: int = _opt(DEFAULT_HTTP_PORT, "TCP port of the API (0: any free port).", lo=0,
                     hi=65535)
    public_url: str = _opt("", "URL peers and users reach the API at, used in package URLs; "
                               "empty: http://<host>:<port>.")
    max_upload_bytes: int = _opt(512 << 20, "Largest package upload accepted (bytes).", lo=1024)
    max_request_bytes: int = _opt(2 << 20, "Largest JSON request body (bytes); a search with "
                                           "the largest spec the protocol allows is ~1.4 MB.",
                                  lo=1024)
    open_reads: bool = _opt(True, "Let anyone read (health, list, search, download); false: "
                                  "reads need the token too.")
    # Hostile clients and pages (issue 14): lwnode.http.guard, lwnode.http.server.
    allowed_hosts: tuple[str, ...] = _opt((), "Host names (the Host header) the node answers "
                                              "to besides localhost, 'host' and the host of "
                                              "'public_url'; IP addresses are always answered. "
                                              "Other names are refused (421), which stops DNS "
                                              "rebinding. '*': any name (only behind a proxy "
                                              "that checks Host itself).")
    allowed_origins: tuple[str, ...] = _opt((), "Web origins (scheme://host[:port]) besides the "
                                                "node's own whose pages may POST or DELETE to "
                                                "it; a browser's request from any other site "
                                                "is refused (403).")
    header_timeout: float = _opt(10.0, "Seconds a client has, from connecting or from the "
                                       "first byte of a request, to send the request line and "
                                       "headers; slower clients are disconnected.",
                                 lo=0.1, hi=3600.0)
    body_timeout: float = _opt(30.0, "Window (seconds) over which a request body's progress is "
                                     "measured: a client that sends less than "
                                     "'body_min_rate' bytes a second over one (nothing: a "
                                     "stall) while the node waits for its body is "
                                     "disconnected.", lo=0.1, hi=3600.0)
    body_min_rate: int = _opt(1024, "Least average speed (bytes a second, over each "
                                    "'body_timeout' window) of a request body; 0: only a "
                                    "stall is dropped.", lo=0)
    send_timeout: float = _opt(60.0, "Seconds a client may leave the node's answer unread (its "
                                     "connection's buffers full) before it is disconnected.",
                               lo=0.1, hi=3600.0)
    idle_timeout: float = _opt(60.0, "Seconds an idle keep-alive connection stays open.",
                               lo=0.1, hi=3600.0)
    max_connections: int = _opt(1024, "Open HTTP connections at most; more are answered 503 "
                                      "and closed.", lo=1)
    max_connections_per_ip: int = _opt(256, "Open HTTP connections from one client address "
                                            "at most (behind a reverse proxy every client "
                                            "shares its address: raise it).", lo=1)


@dataclass(frozen=True)
class P2pSection:
    """[p2p]: the peer layer (libp2p)."""

    enabled: bool = _opt(True, "Join the dock network: gossip specs, catch up with peers, "
                               "route searches (false: the node runs alone, libp2p is not "
                               "loaded).")
    listen: tuple[str, ...] = _opt(("/ip4/127.0.0.1/tcp/0",),
                                   "Multiaddrs the peer layer listens on (127.0.0.1: this "
                                   "machine only; port 0: a free port, chosen once and kept "
                                   "in p2p.port in the home when keep_port is on; shown in "
                                   "/v1/health).")
    keep_port: bool = _opt(True, "Keep the port chosen for port 0 in p2p.port in the home, so "
                                 "a restarted node listens where its peers knew it (false: a "
                                 "new port at every start, which peers never find again).")
    bootstrap: tuple[str, ...] = _opt((), "Multiaddrs (ending in /p2p/<peer id>) of peers to "
                                          "connect to at start-up and keep connected.")
    sync_interval: float = _opt(30.0, "Seconds between anti-entropy rounds with each connected "
                                      "peer (a round also runs as soon as a peer connects).",
                                lo=0.2, hi=86400.0)
    search_deadline_ms: int = _opt(1000, "Time budget of a routed search (ms) when the request "
                                         "does not give one: peers silent past it are named "
                                         "in 'missed' and the answer is partial.",
                                   lo=1, hi=120_000)
    search_ttl: int = _opt(1, "Hops a routed search travels (0: answer from this node's "
                              "catalog only; 1: its peers answer, each from its whole "
                              "catalog; each further hop costs ~30 ms on loopback).",
                           lo=0, hi=8)
    search_fanout: int = _opt(4, "Peers each hop forwards a search to.", lo=0, hi=64)
    spec_owner_dials: int = _opt(32, "Owners a search's spec fetch dials at most when it is "
                                     "not connected to them (a short-lived connection each, "
                                     "not kept, not a gossip link; those of the best-ranked "
                                     "candidates first); the other candidates' specs come "
                                     "through peers (0: through peers only).", lo=0, hi=256)
    announce_addrs: tuple[str, ...] = _opt(
        (), "Multiaddrs where peers that never met this node can reach it (/ip4/<host>/tcp/"
            "<port> or /ip6/...; at most 4; e.g. a public address behind NAT): put, with the "
            "peer id, in this node's signed summaries, so a search elsewhere can fetch its "
            "full specs directly. Empty: the listen addresses (without 0.0.0.0 and ::).")
    announce: Literal["summary", "full"] = _opt(
        "summary", "How this node offers its learnwares to peers: 'summary' (schema 1.3: "
                   "spec ids and sketches, ~1.2 kB whatever the spec; peers fetch full specs "
                   "when a search needs them) or 'full' (the whole signed announcement, as "
                   "1.2 nodes did: every peer keeps every full spec, and 1.2 peers learn the "
                   "learnwares by gossip too).")

    def __post_init__(self) -> None:
        try:
            own_addrs(self.announce_addrs, "")
        except ProtocolError as exc:
            raise ConfigError(f"[p2p] announce_addrs: {exc}") from None


@dataclass(frozen=True)
class PeerLimitsSection:
    """[peer_limits]: what one peer or one owner may cost this node (issue 14)."""

    max_inbound_per_peer: int = _opt(24, "Requests from one peer served at once (all peers "
                                         "together: 64); more are reset at once.",
                                     lo=1, hi=65536)
    max_outbound_per_peer: int = _opt(16, "This node's own requests (routed searches, sync) "
                                          "in flight at once to one peer; more wait for a "
                                          "slot within their deadline. Keep it below peers' "
                                          "max_inbound_per_peer.", lo=1, hi=65536)
    first_frame_timeout: float = _opt(5.0, "Seconds a peer's request stream has to deliver "
                                           "its request; a silent stream is reset and counts "
                                           "as a fault.", lo=0.1, hi=600.0)
    max_faults: int = _opt(3, "Faults (malformed frames, silent streams) within fault_window "
                              "that get a peer disconnected and banned.", lo=1, hi=65536)
    fault_window: float = _opt(60.0, "Seconds over which a peer's faults are counted.",
                               lo=0.1, hi=86400.0)
    ban_seconds: float = _opt(300.0, "Seconds a banned peer is refused and not re-dialled.",
                              lo=0.1, hi=31_536_000.0)
    gossip_rate: float = _opt(20.0, "Records a second one peer may gossip to this node "
                                    "(beyond the burst; more are refused as rate_limited).",
                              lo=0.01, hi=1e6)
    gossip_burst: int = _opt(400, "Records one peer may gossip at once.", lo=1, hi=10_000_000)
    owner_rate: float = _opt(1.0, "New records a second of one owner taken by gossip or in "
                                  "search answers (beyond the burst; sync catches up).",
                             lo=0.001, hi=1e6)
    owner_burst: int = _opt(200, "New records of one owner taken at once by gossip or search.",
                            lo=1, hi=10_000_000)
    new_owners_per_minute: float = _opt(2.0, "Owners never seen before that one peer may "
                                             "bring a minute, by any route (beyond the burst).",
                                        lo=0.001, hi=1e6)
    new_owners_burst: int = _opt(20, "New owners one peer may bring at once.", lo=1,
                                 hi=10_000_000)
    max_records_per_owner: int = _opt(1000, "Records (learnwares, withdrawn ones included) "
                                            "kept for one owner.", lo=1, hi=100_000_000)


@dataclass(frozen=True)
class TrustSection:
    """[trust]: whose signed announcements this node accepts."""

    mode: Literal["tofu", "allowlist"] = _opt(
        "tofu", "'tofu' (trust on first use): any owner whose signature verifies, but the first "
                "key seen for an organization name is pinned and another key claiming that "
                "name is refused; 'allowlist': only the owners listed in 'allow'.")
    allow: tuple[str, ...] = _opt((), "Owners trusted in 'allowlist' mode: node ids (lwn1...) or "
                                      "Ed25519 public keys (64 hex digits).")


@dataclass(frozen=True)
class SearchSection:
    """[search]: answering searches."""

    default_k: int = _opt(5, "Single learnwares returned when a search does not say.", lo=1,
                          hi=100)
    max_k: int = _opt(100, "Most single learnwares one search may ask for.", lo=1, hi=100)
    max_mixture: int = _opt(3, "Most learnwares in a mixture (1: no mixtures).", lo=1, hi=16)
    workers: int = _opt(2, "Threads that run searches (the maths releases the GIL).", lo=1,
                        hi=64)
    shortlist: int = _opt(200, "Index candidates re-ranked exactly per search.", lo=1)
    points_on_disk: bool = _opt(True, "Keep the catalog's reduced-set points in a scratch "
                                      "file under the store (rebuilt at start-up) instead of "
                                      "memory: a large catalog then needs a fraction of the "
                                      "RAM.")
    sketch_shortlist: int = _opt(100, "Learnwares known only by their owner's summary "
                                      "(spec ids and sketches) that a search ranks exactly: "
                                      "the nearest by sketch, their full specs fetched from "
                                      "the owner or a peer.", lo=1, hi=1000)
    spec_cache_mb: int = _opt(64, "Full specs fetched for searches kept for the next ones and "
                                  "served to peers (MiB; least recently used out first).",
                              lo=0, hi=65_536)


@dataclass(frozen=True)
class BudgetSection:
    """[budget]: what one peer's record or one client's search may cost this node."""

    spec_points: int = _opt(1000, "Most points in a statistical spec this node takes in: peers' "
                                  "announcements (gossip, sync, search answers; refused and "
                                  "counted as 'too_many_points') and own publishes (413). Specs "
                                  "made here have 100 by default, the web page's at most 500.",
                            lo=1, hi=10_000)
    requirement_points: int = _opt(1000, "Most points in the spec of a search (HTTP: 413 "
                                         "'too_many_points'; a peer's routed search: refused).",
                                   lo=1, hi=10_000)
    search_memory_mb: int = _opt(128, "Working memory of one search (MiB): kernel sums run in "
                                      "blocks within it whatever the candidates' sizes.",
                                 lo=8, hi=65_536)
    open_per_minute: float = _opt(60.0, "Expensive requests (search; the web page's requirement, "
                                        "reuse and fetch) one client address may start per "
                                        "minute without the API token; more get 429 "
                                        "'rate_limited' (0: no limit).", lo=0.0)
    open_burst: int = _opt(20, "Expensive requests one address may start at once before "
                               "'open_per_minute' paces it.", lo=1)
    open_concurrent: int = _opt(4, "Expensive requests without the token running at once, all "
                                   "clients together; more get 429 'concurrency_limited'.",
                                lo=1)


@dataclass(frozen=True)
class ChecksSection:
    """[checks]: usability checks run on every upload."""

    time_limit: float = _opt(30.0, "Seconds a package's model may take to predict during "
                                   "the checks.", lo=0.1)
    allow_code: bool = _opt(False, "Accept code models (run in the sandbox: time, memory, "
                                   "no network).")
    trusted_types: tuple[str, ...] = _opt((), "skops types trusted beyond scikit-learn, numpy and "
                                        "scipy.")
    isolation: Literal["process", "thread"] = _opt(
        "process", "Where checks run: 'process' (a worker process; a crashing model cannot "
                   "take the node down) or 'thread'.")
    workers: int = _opt(1, "Check workers (processes or threads).", lo=1, hi=64)


@dataclass(frozen=True)
class FetchSection:
    """[fetch]: downloading packages from their owners (lwnode fetch, the web page)."""

    deadline_seconds: float = _opt(300.0, "Overall time one package fetch may take, over "
                                          "every owner tried.", lo=1.0, hi=86400.0)
    min_bytes_per_second: int = _opt(16384, "Slowest transfer tolerated once 'stall_seconds' "
                                            "have passed: a slower owner is dropped and the "
                                            "next one tried.", lo=0)
    stall_seconds: float = _opt(15.0, "Longest silence of an owner's server, and the grace "
                                      "before 'min_bytes_per_second' applies.", lo=0.1,
                                hi=3600.0)
    disk_reserve_bytes: int = _opt(1 << 30, "Free disk a fetch must leave: a package that "
                                            "would leave less is refused before a byte is "
                                            "written (the size limit is [http] "
                                            "max_upload_bytes, as for publishing).", lo=0)
    private_network: bool = _opt(False, "Fetch from owners on private, link-local and "
                                        "loopback addresses (a network inside one "
                                        "organization); false: only public addresses, and "
                                        "loopback only when this node's own URL is "
                                        "loopback (a this-machine-only node).")
    concurrent: int = _opt(4, "Fetches the web page runs at once; one more waits up to "
                              "'stall_seconds' for a slot, then is answered 503 busy.",
                           lo=1, hi=64)


@dataclass(frozen=True)
class PrivacySection:
    """[privacy]: how private peers' specs must be for this node to take them."""

    min_rows_per_point: int = _opt(0, "Refuse peers' announcements whose specs do not state "
                                      "(signed privacy record) that every point stands for at "
                                      "least this many rows, unless differentially private; 0: "
                                      "take any, specs without a record included.",
                                   lo=0, hi=1_000_000)
    require_dp: bool = _opt(False, "Refuse peers' announcements whose specs are not "
                                   "differentially private (record 'gaussian-rff').")
    max_epsilon: float = _opt(0.0, "Refuse differentially private specs whose epsilon is "
                                   "above this; 0: any epsilon.", lo=0.0, hi=1e6)
    require_dp_requirements: bool = _opt(False, "Route a user's search to peers only when its "
                                                "spec is differentially private; others are "
                                                "answered from this node's catalog alone, with "
                                                "a note saying why.")


@dataclass(frozen=True)
class ReplicationSection:
    """[replication]: which peers' learnwares this node keeps (routed search reaches the rest)."""

    data_types: tuple[str, ...] = _opt((), "Keep peers' learnwares of these data types only "
                                           "('table', 'image', 'text'); empty: every type.",
                                       choices=tuple(t.value for t in DataType))
    scenarios: tuple[str, ...] = _opt((), "Keep only peers' learnwares tagged with one of these "
                                          "scenarios (semantic tags); empty: any tags.")
    max_disk_mb: int = _opt(1000, "Disk budget (MB of 10^6 bytes) of the database (with its "
                                  "log), index and scratch points this node keeps (its own "
                                  "packages aside). Over it, the node narrows what it keeps "
                                  "of peers' learnwares to its interests: the scenarios and "
                                  "data types above, the tags of its own learnwares, the "
                                  "tags its users search, else its own learnwares' data "
                                  "types; with no interests yet, the most common tags that "
                                  "fit. If nothing fits, it stops taking new peers' "
                                  "learnwares (health says so). Routed search reaches the "
                                  "rest. 0: no limit (keep every learnware peers offer, "
                                  "~1.6 kB each).",
                            lo=0, hi=100_000_000)

    def __post_init__(self) -> None:
        try:
            self.filter  # noqa: B018 - validates the tags (count, length)
        except ProtocolError as exc:
            raise ConfigError(f"[replication]: {exc}") from None

    @property
    def max_disk_bytes(self) -> int:
        """The budget in bytes (0: no limit)."""
        return self.max_disk_mb * 1_000_000

    @property
    def filter(self) -> ReplicationFilter:
        """The section as the filter peers are told (`protocol.replication`)."""
        return ReplicationFilter(self.data_types, self.scenarios)


@dataclass(frozen=True)
class StoreSection:
    """[store]: where the node keeps its data."""

    path: str = _opt("store", "Directory of the database and package blobs, relative to "
                              "the home.")


@dataclass(frozen=True)
class LogSection:
    """[log]: what the node logs (to stderr)."""

    level: Literal["debug", "info", "warning", "error"] = _opt("info", "Least severe level "
                                                                       "logged.")
    format: Literal["text", "json"] = _opt("text", "'text' for people, 'json' (one object "
                                                   "a line) for log collectors.")
    access_log: bool = _opt(True, "Log one line per HTTP request.")


@dataclass(frozen=True)
class NodeConfig:
    """The whole configuration of a node (see the module doc for its sources)."""

    node: NodeSection = field(default_factory=NodeSection)
    http: HttpSection = field(default_factory=HttpSection)
    p2p: P2pSection = field(default_factory=P2pSection)
    peer_limits: PeerLimitsSection = field(default_factory=PeerLimitsSection)
    trust: TrustSection = field(default_factory=TrustSection)
    search: SearchSection = field(default_factory=SearchSection)
    budget: BudgetSection = field(default_factory=BudgetSection)
    checks: ChecksSection = field(default_factory=ChecksSection)
    fetch: FetchSection = field(default_factory=FetchSection)
    privacy: PrivacySection = field(default_factory=PrivacySection)
    replication: ReplicationSection = field(default_factory=ReplicationSection)
    store: StoreSection = field(default_factory=StoreSection)
    log: LogSection = field(default_factory=LogSection)

    @property
    def organization(self) -> str:
        """The configured organization name (the host name when none is set)."""
        return self.node.organization or socket.gethostname() or "unnamed"

    def organization_of(self, node_id: str) -> str:
        """The name a node announces: the configured one, else host name + node id start.

        The node id part keeps two unnamed nodes on one machine from announcing the
        same name (peers pin a name to the first key seen using it).
        """
        if self.node.organization:
            return self.node.organization
        return f"{(socket.gethostname() or 'unnamed')[:150]} ({node_id[:12]})"

    def public_url(self, port: int | None = None) -> str:
        """The API's URL as others reach it (`port`: the port actually bound)."""
        if self.http.public_url:
            return self.http.public_url.rstrip("/")
        host = self.http.host
        if ":" in host:
            host = f"[{host}]"
        if host in ("0.0.0.0", "[::]"):
            host = socket.gethostname()
        return f"http://{host}:{self.http.port if port is None else port}"


SECTIONS: dict[str, type[Any]] = dict(typing.get_type_hints(NodeConfig))
"""Section name -> its dataclass, in file order."""


# -- validation ---------------------------------------------------------------------------
def _check_value(value: Any, hint: Any, meta: Mapping[str, Any], where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        allowed: tuple[str, ...] | None = meta.get("choices")
        wrong = [v for v in value if allowed is not None and v not in allowed]
        if wrong and allowed is not None:
            raise ConfigError(f"{where}: {wrong[0]!r} is not one of "
                              f"{', '.join(map(repr, allowed))}")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        value = float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"{lo if lo is not None else ''}..{hi if hi is not None else ''}"
        raise ConfigError(f"{where}: {value!r} is outside {bounds}")
    return value


def _from_text(text: str, hint: Any, where: str) -> Any:
    """Parse an environment variable's text as the field's type."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        return [part.strip() for part in text.split(",") if part.strip()]
    if hint is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {text!r}")
    if hint is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {text!r}") from None
    if hint is float:
        try:
            return float(text.strip())
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {text!r}") from None
    return text


def _fields(section: type[Any]) -> dict[str, tuple[Any, Mapping[str, Any]]]:
    hints = typing.get_type_hints(section)
    return {f.name: (hints[f.name], f.metadata) for f in dataclasses.fields(section)}


def _merge(base: NodeConfig, data: Mapping[str, Any], source: str, *,
           from_text: bool = False) -> NodeConfig:
    """`base` with the values of `data` ({section: {key: value}}) checked and applied."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a table of sections")
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise ConfigError(f"{source}: unknown section [{name}] (known: "
                              f"{', '.join(SECTIONS)})")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source} [{name}]: expected a table, got {values!r}")
        known = _fields(SECTIONS[name])
        changes = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{source} [{name}]: unknown key {key!r} (known: "
                                  f"{', '.join(known)})")
            hint, meta = known[key]
            where = f"{source} [{name}] {key}"
            if from_text and isinstance(value, str):
                value = _from_text(value, hint, where)
            changes[key] = _check_value(value, hint, meta, where)
        sections[name] = dataclasses.replace(getattr(base, name), **changes)
    return dataclasses.replace(base, **sections)


def _env_values(env: Mapping[str, str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    out: dict[str, dict[str, str]] = {}
    names = []
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX) or name in CLI_ENV:
            continue
        rest = name[len(ENV_PREFIX):].lower()
        # a section's name may hold an underscore itself (peer_limits): the known one
        # the name starts with decides where the key begins
        section = max((s for s in SECTIONS if rest.startswith(f"{s}_")), key=len, default="")
        key = rest[len(section) + 1:]
        if section not in SECTIONS or key not in _fields(SECTIONS[section]):
            raise ConfigError(f"environment variable {name}: not a setting (settings are "
                              f"LWDOCK_<SECTION>_<KEY>, e.g. LWDOCK_HTTP_PORT)")
        out.setdefault(section, {})[key] = text
        names.append(name)
    return out, names


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None,
                require_file: bool = False) -> NodeConfig:
    """Resolve the configuration: defaults < file < environment < overrides.

    Parameters
    ----------
    path
        ``node.toml``; a missing file means "all defaults" unless `require_file`.
    env
        Environment (``os.environ`` when None); only ``LWDOCK_*`` names are read.
    overrides
        ``{section: {key: value}}`` from command-line flags, already typed.

    Raises
    ------
    ConfigError
        Naming the source (file, variable or flag), the key and what is wrong.
    """
    import os

    config = NodeConfig()
    if path is not None:
        p = Path(path)
        if p.is_file():
            try:
                data = tomllib.loads(p.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{p}: not valid TOML ({exc})") from None
            config = _merge(config, data, str(p))
        elif require_file or p.exists():
            raise ConfigError(f"{p}: no such config file")
    env_data, _ = _env_values(os.environ if env is None else env)
    for section, values in env_data.items():
        for key, text in values.items():
            name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
            config = _merge(config, {section: {key: text}}, f"environment {name}",
                            from_text=True)
    if overrides:
        config = _merge(config, {s: dict(v) for s, v in overrides.items() if v},
                        "command line")
    return config


# -- rendering ---------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_toml(config: NodeConfig | None = None) -> str:
    """A commented ``node.toml`` holding every setting of `config` (default: defaults)."""
    config = config or NodeConfig()
    lines = ["# lwnode configuration. Every setting is shown with its default; delete what",
             "# you do not change. Environment variables LWDOCK_<SECTION>_<KEY> override",
             "# this file, and command-line flags override both. Unknown keys are errors.",
             ""]
    for name, section in SECTIONS.items():
        lines.append(f"# {section.__doc__}")
        lines.append(f"[{name}]")
        values = getattr(config, name)
        for f in dataclasses.fields(section):
            lines.extend(textwrap.wrap(f.metadata["doc"], 88, initial_indent="# ",
                                       subsequent_indent="# "))
            lines.append(f"{f.name} = {_toml_value(getattr(values, f.name))}")
        lines.append("")
    return "\n".join(lines)
