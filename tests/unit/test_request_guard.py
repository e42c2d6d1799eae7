"""`lwnode.http.guard.RequestGuard`: which Host and Origin headers a node accepts."""

from __future__ import annotations

import pytest

from lwnode.config import load_config
from lwnode.http.guard import RequestGuard


def guard(**http) -> RequestGuard:
    return RequestGuard(load_config(None, env={}, overrides={"http": http}))


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:8470", True), ("localhost:8470", True), ("LOCALHOST", True),
    ("[::1]:8470", True), ("10.1.2.3:8470", True),  # an address: the page came from it
    (None, True),  # HTTP/1.0, not a browser
    ("evil.example:8470", False), ("evil.example", False),  # DNS rebinding
    ("127.0.0.1.evil.example", False), ("localhost.evil.example:8470", False),
    ("", False), ("[::1", False),
])
def test_default_hosts_are_loopback_and_addresses(host, ok):
    assert guard().host_ok(host) is ok


def test_configured_names_are_accepted():
    g = guard(host="0.0.0.0", public_url="https://dock.example.org/",
              allowed_hosts=("Mirror.Example.org",))
    for host in ("dock.example.org", "dock.example.org.:443", "mirror.example.org:8470"):
        assert g.host_ok(host), host
    assert not g.host_ok("other.example.org")
    assert guard(allowed_hosts=("*",)).host_ok("anything.example")


@pytest.mark.parametrize(("origin", "host", "site", "ok"), [
    (None, "127.0.0.1:8470", None, True),  # curl, the CLI, a peer
    (None, "127.0.0.1:8470", "same-origin", True),
    (None, "127.0.0.1:8470", "cross-site", False),  # a browser that left Origin out
    (None, "127.0.0.1:8470", "same-site", False),
    ("http://127.0.0.1:8470", "127.0.0.1:8470", "same-origin", True),  # the node's own page
    ("http://localhost:8470", "localhost:8470", None, True),
    ("http://127.0.0.1:9000", "127.0.0.1", None, False),  # port 80 is another origin
    ("http://127.0.0.1:9999", "127.0.0.1:8470", "same-site", False),  # another port
    ("http://localhost:8470", "127.0.0.1:8470", None, False),  # another name
    ("https://evil.example", "127.0.0.1:8470", "cross-site", False),
    ("null", "127.0.0.1:8470", "cross-site", False),  # sandboxed frame, file:
    ("chrome-extension://abc", "127.0.0.1:8470", None, False),
    ("http://127.0.0.1:9000", None, None, False),
])
def test_origin(origin, host, site, ok):
    assert guard().origin_ok(origin, host, site) is ok


def test_public_url_and_allowed_origins_are_accepted_whatever_the_host():
    g = guard(public_url="https://dock.example.org",
              allowed_origins=("https://portal.example.org:8443",))
    # behind a TLS proxy that sends Host 127.0.0.1:8470
    assert g.origin_ok("https://dock.example.org", "127.0.0.1:8470", "same-origin")
    assert g.origin_ok("https://dock.example.org:443", "127.0.0.1:8470", None)
    assert g.origin_ok("https://portal.example.org:8443", "127.0.0.1:8470", "cross-site")
    assert not g.origin_ok("http://dock.example.org", "127.0.0.1:8470", None)  # not TLS
    assert not g.origin_ok("https://portal.example.org", "127.0.0.1:8470", "cross-site")
