"""docs/protocol.md is checked against the implementation: worked example, limits,
error codes, protocol ids, and the measured announcement sizes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from test_protocol_samples import LEARNWARE_ID, OWNER, PACKAGE, announcement, fixed_spec, withdrawal

from protocol import limits
from protocol.codec import decode_envelope, encode_envelope, encode_message
from protocol.content import content_id
from protocol.messages import ErrorCode, Withdrawal
from protocol.signing import ENVELOPE_CONTEXT, Identity, verify
from protocol.versions import PROTOCOL_IDS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def blocks() -> dict[str, str]:
    """Fenced blocks whose first line is ``# name``: name -> content without whitespace."""
    found = re.findall(r"```(?:hex|text)\n# (\w+)\n(.*?)```", DOC, flags=re.S)
    return {name: re.sub(r"\s+", "", body) for name, body in found}


def table_rows(header: str) -> list[list[str]]:
    """Rows of the markdown table whose header line starts with `header`."""
    start = DOC.index(header)
    rows = []
    for line in DOC[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def test_worked_example_matches_the_implementation() -> None:
    b = blocks()
    ident = Identity.from_seed(bytes.fromhex(b["seed"]))
    assert ident.public_key.hex() == b["public_key"]
    assert hashlib.sha256(b"lwdock-node-id/v1\x00" + ident.public_key).hexdigest() == \
        b["node_id_hash"]
    assert ident.node_id == b["node_id"] == OWNER.node_id
    record = Withdrawal(LEARNWARE_ID, ident.node_id, 2, 1_750_000_001_000)
    assert record == withdrawal()
    assert encode_message(record).hex() == b["withdrawal_payload"]
    assert ENVELOPE_CONTEXT.hex() == b["context"]
    envelope = ident.sign(record)
    assert envelope.signature.hex() == b["signature"]
    assert encode_envelope(envelope).hex() == b["envelope"]
    assert decode_envelope(bytes.fromhex(b["envelope"])) == envelope
    assert verify(bytes.fromhex(b["envelope"])) == record
    assert f"content id\n`{content_id(PACKAGE)}`" in DOC
    assert f"the {len(PACKAGE)} ASCII bytes `{PACKAGE.decode()}`" in DOC


def test_limits_table_lists_every_constant_with_its_value() -> None:
    documented = {row[0]: int(row[1]) for row in table_rows("| constant | value |")}
    actual = {name: getattr(limits, name) for name in dir(limits) if name.isupper()}
    assert documented == actual


def test_error_codes_and_protocol_ids_are_documented() -> None:
    codes = {row[0] for row in table_rows("| code | meaning |")}
    assert codes == {c.value for c in ErrorCode}
    ids = {row[0] for row in table_rows("| protocol id | kind |")}
    assert ids == set(PROTOCOL_IDS)


@pytest.mark.parametrize("row", table_rows("| K × d | example |"), ids=lambda r: r[0])
def test_announcement_size_table_is_measured(row: list[str]) -> None:
    k, d = (int(x) for x in row[0].split(" × "))
    ann = announcement(statistical=(fixed_spec(k, d),))
    assert len(encode_envelope(OWNER.sign(ann))) == int(row[2].replace(",", ""))
