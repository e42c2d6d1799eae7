"""Rate and concurrency limits on the expensive routes, for clients without the token.

A search costs the node real work (a requirement's RKME against the catalog, a QP per
mixture step; the web page's routes fit an RKME from uploaded rows, fetch packages and
run models), and reads are open by default (``[http] open_reads``). So a client that
does not send the node's API token gets, on `EXPENSIVE_ROUTES`:

- a token bucket per client address: ``[budget] open_burst`` requests at once, refilled
  at ``open_per_minute`` (0: no rate limit); over it, 429 ``rate_limited``;
- a cap on such requests running at once, all clients together: ``open_concurrent``;
  over it, 429 ``concurrency_limited`` (the request is refused, not queued, so waiting
  requests cannot pile up memory either).

Both answers carry ``Retry-After`` (seconds). Requests with the valid bearer token
(the node's own users and programs) are not limited. The client address is the TCP
peer's: behind a reverse proxy every client shares the proxy's bucket (the node does
not trust ``X-Forwarded-For``), so limit per client at the proxy in that set-up.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from lwnode.config import BudgetSection
from lwnode.errors import RateLimited

EXPENSIVE_ROUTES = frozenset({
    ("POST", "/v1/search"),
    ("POST", "/v1/web/requirement"),
    ("POST", "/v1/web/reuse"),
    ("POST", "/v1/web/rerank"),
    ("POST", "/v1/web/fetch"),
})
"""(method, route template) of the requests the limits apply to."""

MAX_CLIENTS = 10_000
"""Client buckets remembered; the least recently used is forgotten beyond it (a
forgotten client starts again with a full bucket; the concurrency cap still holds)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenBuckets:
    """One token bucket per key: `burst` tokens, refilled at `per_minute` a minute."""

    def __init__(self, per_minute: float, burst: int, *, max_keys: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take a token for `key`: 0.0 if granted, else the seconds until one is due."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, stamp = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class ConcurrencyCap:
    """Counts requests in flight; `enter` refuses past `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0

    def enter(self) -> bool:
        if self.running >= self.limit:
            return False
        self.running += 1
        return True

    def leave(self) -> None:
        self.running -= 1


class OpenLimits:
    """``[budget]``'s limits for one node (see the module doc): its `middleware`, and
    what it is doing (`running`, and `counts` of the requests it refused by code).

    `token_ok` tells whether a request carries the node's valid bearer token. The
    middleware runs inside the error middleware, so `RateLimited` becomes a JSON 429.
    """

    def __init__(self, budget: BudgetSection, token_ok: Callable[[web.Request], bool]) -> None:
        self.budget = budget
        self.token_ok = token_ok
        self.buckets = TokenBuckets(budget.open_per_minute, budget.open_burst)
        self.cap = ConcurrencyCap(budget.open_concurrent)
        self.counts: Counter[str] = Counter()

        @web.middleware
        async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._limit(request, handler)

        self.middleware: Middleware = limits

    @property
    def running(self) -> int:
        """Expensive requests without the token running now."""
        return self.cap.running

    async def _limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        if (request.method, template) not in EXPENSIVE_ROUTES or self.token_ok(request):
            return await handler(request)
        budget = self.budget
        wait = self.buckets.take(request.remote or "unknown")
        if wait > 0:
            self.counts["rate_limited"] += 1
            raise RateLimited(f"too many requests from {request.remote}: at most "
                              f"{budget.open_per_minute:g} a minute (bursts of "
                              f"{budget.open_burst}) without the node's API token; retry "
                              f"in {wait:.1f} s", wait)
        if not self.cap.enter():
            self.counts["concurrency_limited"] += 1
            raise RateLimited(f"the node is running {self.cap.limit} expensive request(s) "
                              "for clients without its API token already; retry shortly",
                              1.0, "concurrency_limited")
        try:
            return await handler(request)
        finally:
            self.cap.leave()
