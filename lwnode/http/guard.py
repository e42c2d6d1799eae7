"""Which requests the node serves at all: the bearer token, the Host and the Origin.

A browser is a confused deputy: a page from any site can make it send requests to
the node (its user's own machine, or the organization's network), and DNS
rebinding can make a hostile name resolve to the node so that the page reads the
answers too. Two checks close both, for every route (API and web page alike):

- **Host allowlist** (every request). A rebinding page talks to the node under the
  attacker's *name*, so the ``Host`` header must be one of the node's names:
  ``localhost``, ``[http] host``, the host of ``[http] public_url`` and ``[http]
  allowed_hosts`` (``"*"``: any, for a proxy that checks Host itself). An IP address
  is always accepted: a page can only use one if it was loaded from that address,
  i.e. from the node itself. A request without ``Host`` (HTTP/1.0) is not a browser's.
  Refused: 421 ``unknown_host``.
- **Origin check** (every method but GET, HEAD and OPTIONS). Browsers send ``Origin``
  with every such request; it must be the node's own origin (the ``Host`` it was
  sent to, or ``[http] public_url``) or one of ``[http] allowed_origins``. A
  request without ``Origin`` is a program's (curl, the CLI, a peer), unless
  ``Sec-Fetch-Site`` says a browser sent it from another site. ``Origin: null``
  (sandboxed frames, ``file:``) is refused. Refused: 403 ``cross_origin``.

Programs are unaffected: they send no ``Origin`` and use the node's names.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from lwnode.config import NodeConfig
from lwnode.errors import CrossOrigin, Unauthorized, UnknownHost

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_ok(request: web.Request, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def refuse_token(request: web.Request, needs: str, where: str) -> Unauthorized:
    """The 401 for a request without this node's token: `needs` says what needs it,
    `where` where the token is; a token sent but not this node's is told apart from none
    sent (a mistyped or another node's token is the likelier mistake then)."""
    sent = bool(request.headers.get("Authorization", "").strip())
    why = ("the token sent is not this node's API token" if sent
           else f"{needs} needs the node's API token")
    exc = Unauthorized(f"{why} ({where})")
    exc.headers = {"WWW-Authenticate": 'Bearer realm="lwnode"'}
    return exc


def _hostname(host: str) -> str | None:
    """``name[:port]`` or ``[v6]:port`` -> the lower-case name, None when malformed."""
    try:
        name = urlsplit(f"//{host.strip()}").hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _origin(url: str, default_scheme: str | None = None) -> tuple[str, int] | None:
    """``scheme://host[:port]`` -> (host, port), the port made explicit; None if malformed."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower() or default_scheme
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return parts.hostname.rstrip("."), parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None


class RequestGuard:
    """The Host and Origin checks of one node's configuration (see the module doc)."""

    def __init__(self, config: NodeConfig) -> None:
        http = config.http
        names = {*LOOPBACK_NAMES, *(h.strip().lower().rstrip(".") for h in http.allowed_hosts)}
        for url in (f"//{http.host}", config.public_url()):
            name = urlsplit(url).hostname
            if name and name not in ("0.0.0.0", "::"):
                names.add(name.rstrip("."))
        self.any_host = "*" in names
        self.hosts = frozenset(names - {"*"})
        public = _origin(config.public_url())
        self.origins = frozenset(o for o in (public, *map(_origin, http.allowed_origins))
                                 if o is not None)

    def host_ok(self, host: str | None) -> bool:
        if host is None or self.any_host:
            return True
        name = _hostname(host)
        return name is not None and (name in self.hosts or _is_ip(name))

    def origin_ok(self, origin: str | None, host: str | None, fetch_site: str | None) -> bool:
        if origin is None:  # a program, or a browser that says where it was sent from
            return fetch_site not in ("cross-site", "same-site")
        if origin.strip() == "null":
            return False
        parsed = _origin(origin)
        if parsed is None:
            return False
        if parsed in self.origins:
            return True
        if host is None:
            return False
        scheme = urlsplit(origin.strip()).scheme.lower()
        own = _origin(f"//{host}", scheme)  # the Host the page sent to, its port made explicit
        return own == parsed

    def check(self, request: web.Request) -> None:
        """Raise `UnknownHost` or `CrossOrigin` for a request the node must not serve."""
        host = request.headers.get("Host")
        if not self.host_ok(host):
            raise UnknownHost(f"Host {str(host)[:100]!r} is not a name of this node (add it "
                              "to [http] allowed_hosts if it is)")
        if request.method not in SAFE_METHODS and not self.origin_ok(
                request.headers.get("Origin"), host, request.headers.get("Sec-Fetch-Site")):
            raise CrossOrigin(f"{request.method} {request.path}: refused from a page of "
                              f"another site (Origin {request.headers.get('Origin')!r}); "
                              "add its origin to [http] allowed_origins if it is yours")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.check(request)
        return await handler(request)
