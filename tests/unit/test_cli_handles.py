"""A handle (organization/name) is taken wherever an id is, while it names one
learnware: two owners whose organizations share a name make it ambiguous."""

from __future__ import annotations

import pytest

from lwnode.cli.common import resolve_ids
from lwnode.errors import InputError, RequestFailed

A, B = "sha256:" + "a1" * 32, "sha256:" + "b2" * 32


class Listing:
    """The node's ``GET /v1/learnwares`` over fixed entries (its name filter is a
    case-insensitive part, as the node's)."""

    def __init__(self, entries):
        self.entries = entries

    def listing(self, name="", **_):
        return {"items": [e for e in self.entries if name.lower() in e["name"].lower()],
                "next_cursor": None}


def entry(lid, owner, organization, name):
    return {"id": lid, "owner": owner, "organization": organization, "name": name}


def test_a_handle_resolves_to_its_one_learnware_in_any_case():
    client = Listing([entry(A, "n1", "Acme", "house prices"),
                      entry(B, "n1", "Acme", "house prices, v2")])
    assert resolve_ids(client, [" acme / HOUSE PRICES "]) == [A]
    assert resolve_ids(client, ["Acme/house prices, v2", A[:13]]) == [B, A]


def test_a_handle_of_two_owners_or_none_is_refused_with_what_to_give():
    client = Listing([entry(A, "n1", "Acme", "house prices"),
                      entry(B, "n2", "acme", "House prices")])  # another node, same org name
    with pytest.raises(InputError, match="2 learnwares have this organization and name "
                                         r"\(a1a1a1a1a1a1, b2b2b2b2b2b2\); give one's id"):
        resolve_ids(client, ["Acme/house prices"])
    with pytest.raises(RequestFailed, match="no learnware known to the node"):
        resolve_ids(client, ["Globex/house prices"])
    with pytest.raises(InputError, match="a handle is organization/name"):
        resolve_ids(client, ["Acme/"])


def test_a_name_without_organization_is_looked_up_among_the_nodes_learnwares():
    """`lwnode show "house prices (acme)"` once answered with an HTTP 400 on the id's
    form: a name is looked up by name, and several or none are said in the CLI's words."""
    client = Listing([entry(A, "n1", "Acme", "house prices (acme)"),
                      entry(B, "n2", "Globex", "House Prices (acme)")])
    assert resolve_ids(Listing(client.entries[:1]), ["House prices (ACME)"]) == [A]
    with pytest.raises(InputError, match=r"2 learnwares known to the node have this name: "
                                         r"Acme/house prices \(acme\) \(a1a1a1a1a1a1\); "
                                         r"Globex/House Prices \(acme\) \(b2b2b2b2b2b2\); give "
                                         r"one's handle"):
        resolve_ids(client, ["house prices (acme)"])
    with pytest.raises(RequestFailed, match="house prices: not an id, and no learnware known "
                                            "to the node is named so"):
        resolve_ids(client, ["house prices"])
