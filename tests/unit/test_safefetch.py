"""`lwnode.userside.safefetch`'s rules without sockets: which URLs and addresses a fetch may
contact, the limits a node's config gives, and the room a package needs."""

from __future__ import annotations

import pytest

from lwnode.config import load_config
from lwnode.userside.safefetch import (
    FetchLimits,
    NoRoom,
    UrlRefused,
    address_refusal,
    check_room,
    resolve_target,
)

LID = "sha256:" + "ab" * 32
PATH = f"/v1/learnwares/{LID}/package"
PUBLIC = FetchLimits()
PRIVATE = FetchLimits(allow_private=True, allow_loopback=True)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(address, PUBLIC) is None


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "fd00::1", "fe80::1", "192.0.2.1"])
def test_private_link_local_and_reserved_addresses_need_a_private_network(address):
    assert "private" in (address_refusal(address, PUBLIC) or "")
    assert address_refusal(address, PRIVATE) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"])
def test_loopback_needs_a_loopback_node_or_a_private_network(address):
    assert "loopback" in (address_refusal(address, PUBLIC) or "")
    assert address_refusal(address, FetchLimits(allow_loopback=True)) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "ff02::1"])
def test_unspecified_and_multicast_addresses_are_never_contacted(address):
    assert address_refusal(address, PRIVATE) is not None


def test_private_ranges_written_as_ipv6_are_still_private():
    assert address_refusal("::ffff:10.0.0.1", PUBLIC) is not None


def _resolved(*addresses: str):
    return lambda host, port: list(addresses)


def test_a_package_url_on_the_owners_host_resolves_to_one_checked_address():
    url = f"https://owner.example.org{PATH}"
    target = resolve_target(url, LID, "owner.example.org", PUBLIC,
                            resolve=_resolved("93.184.216.34"))
    assert (target.host, target.port, target.address, target.path) == (
        "owner.example.org", 443, "93.184.216.34", PATH)
    prefixed = f"http://owner.example.org:8080/lwdock{PATH}"  # behind a reverse proxy
    assert resolve_target(prefixed, LID, "owner.example.org", PUBLIC,
                          resolve=_resolved("93.184.216.34")).port == 8080


@pytest.mark.parametrize(("url", "why"), [
    (f"http://other.example.org{PATH}", "not on its owner's host"),
    ("http://owner.example.org/admin", "not a package URL"),
    (f"http://owner.example.org/v1/learnwares/sha256:{'cd' * 32}/package", "not a package URL"),
    (f"http://owner.example.org{PATH}?x=1", "query"),
    (f"http://user:pw@owner.example.org{PATH}", "credentials"),
    (f"ftp://owner.example.org{PATH}", "not an http"),
])
def test_urls_off_the_owners_package_path_are_refused(url, why):
    with pytest.raises(UrlRefused, match=why):
        resolve_target(url, LID, "owner.example.org", PUBLIC,
                       resolve=_resolved("93.184.216.34"))


def test_a_name_resolving_to_any_private_address_is_refused():
    # round robin (or a rebinding answer) must not slip a private address through
    with pytest.raises(UrlRefused, match="private"):
        resolve_target(f"http://owner.example.org{PATH}", LID, "owner.example.org", PUBLIC,
                       resolve=_resolved("93.184.216.34", "10.0.0.7"))


def test_limits_from_the_config():
    config = load_config(None, env={})
    limits = FetchLimits.from_config(config)  # default URL: http://127.0.0.1:8470
    assert limits.allow_loopback and not limits.allow_private
    assert limits.max_package_bytes == config.http.max_upload_bytes
    public = load_config(None, env={}, overrides={
        "http": {"public_url": "https://dock.example.org", "max_upload_bytes": 4096}})
    limits = FetchLimits.from_config(public)
    assert not limits.allow_loopback and limits.max_package_bytes == 4096
    private = load_config(None, env={"LWDOCK_FETCH_PRIVATE_NETWORK": "true"},
                          overrides={"http": {"public_url": "https://dock.example.org"}})
    assert FetchLimits.from_config(private).allow_private
    assert FetchLimits.from_config(private).allow_loopback


def test_room_is_the_nodes_package_limit_and_the_free_disk_reserve(tmp_path):
    check_room(tmp_path, 4096, 0, FetchLimits(max_package_bytes=4096, disk_reserve_bytes=0))
    with pytest.raises(NoRoom, match="package limit of 4096"):
        check_room(tmp_path, 4097, 0, FetchLimits(max_package_bytes=4096))
    with pytest.raises(NoRoom, match="reserve"):
        check_room(tmp_path, 10, 0, FetchLimits(disk_reserve_bytes=1 << 62))
