"""Taking in peers' signed records, from gossip, anti-entropy or search answers.

Every record passes the same stack of checks, in this order (the first failure
decides, and is counted and logged with its reason):

1. **signature** — the envelope is well formed and its Ed25519 signature verifies
   (``bad_signature``); the payload is a valid record of our major version whose
   owner is the signer (``bad_record``; ``protocol.signing.verify``);
2. **size** — every statistical spec has at most ``[budget] spec_points`` points
   (``too_many_points``; `lwnode.node.budget`);
3. **trust** — the owner is trusted by the node's `TrustPolicy` (``untrusted``);
4. **content** — a learnware id is the content id of one package, so every
   announcement of that id, whoever the owner, must carry the same specifications
   and size (``spec_mismatch``: someone announces another spec under a known id);
5. **replay** — the sequence is above the one kept for (owner, learnware id)
   (``protocol.sync``); a repeat of the kept one is a harmless ``duplicate``, an
   older one is ``stale`` when it arrives by gossip (a replay) and ``outdated``
   when a peer that is behind sends it by sync or in a search answer; a withdrawal
   of an id this node holds nothing of is ``stray`` by gossip or search (not
   stored: it withdraws nothing here) — by sync it is kept, within the owner's
   quota, so that digests converge;
6. **replication** — a node that keeps only part of the catalog (``[replication]``,
   `protocol.replication`) takes by gossip or sync no learnware it does not hold
   already outside its filter (``not_kept``: a choice, not a refusal). Search
   answers are taken whatever they hold: they are what this node's users asked for.
   A node over its disk budget with nothing left to narrow to (``[replication]
   max_disk_mb``, `lwnode.node.diskbudget`) takes by gossip or sync no learnware it
   does not hold already (``over_disk_budget``: counted, not a refusal either);
7. **rates and quotas** (`lwnode.federation.quotas`) — records per sending peer and per owner,
   new owners per sending peer, records kept per owner (``rate_limited``,
   ``over_quota``);
8. **insert** — stored (one transaction per batch) and applied to the catalog,
   idempotently.

Own records coming back (``own``) are ignored: this node's store is their source.
Steps 1-2 and 8's catalog update run in the search threads, steps 3-7 and the write
in the store thread, so neither event loop does the work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgpack

from lwnode.federation.quotas import AnnouncementQuotas
from lwnode.federation.trust import TrustPolicy
from lwnode.node.budget import TOO_MANY_POINTS, announcement_oversized
from lwnode.node.privacypolicy import BELOW_PRIVACY, announcement_refusal
from lwnode.node.records import OFFER_TYPES, content_key, offer_of, row_of
from lwnode.node.store.base import ANNOUNCEMENT, Pin, RecordRow, Store
from protocol import limits
from protocol.codec import decode_envelope, encode_envelope
from protocol.errors import ProtocolError, SignatureError
from protocol.messages import RECORD_TYPES, Record, SearchHit, SignedEnvelope, Withdrawal, now_ms
from protocol.node_id import node_id_from_public_key
from protocol.replication import KEEP_ALL, ReplicationFilter
from protocol.signing import ENVELOPE_CONTEXT, verify, verify_detached, verify_hit

if TYPE_CHECKING:
    from lwnode.node.service import NodeService

log = logging.getLogger("lwnode.federation")

ACCEPTED, DUPLICATE, OWN, OUTDATED = "accepted", "duplicate", "own", "outdated"
STRAY, NOT_KEPT, OVER_DISK_BUDGET = "stray", "not_kept", "over_disk_budget"
REJECTIONS = ("bad_signature", "bad_record", "untrusted", "spec_mismatch", "stale",
              "rate_limited", "over_quota", TOO_MANY_POINTS, BELOW_PRIVACY)
"""Reasons a record is refused (the keys of the ``rejected_*`` counters)."""

GOSSIP, SYNC, SEARCH = "gossip", "sync", "search"
"""How a record arrived."""

LOG_BUDGET_PER_MINUTE = 30


@dataclass(frozen=True)
class Checked:
    """A record whose signature and schema are verified (step 1)."""

    row: RecordRow
    record: Record
    public_key: bytes


@dataclass(frozen=True)
class Verdict:
    """What became of one record: an outcome word and, for a refusal, why."""

    outcome: str
    detail: str = ""

    @property
    def rejected(self) -> bool:
        return self.outcome in REJECTIONS

    @property
    def kept(self) -> bool:
        """The record (or a copy of it) is in the store now."""
        return self.outcome in (ACCEPTED, DUPLICATE, OWN)


# -- step 1: signature and schema (search threads) --------------------------------------------
def _checked(envelope: SignedEnvelope, record: Record, received_at: int) -> Checked:
    return Checked(row_of(envelope, record, received_at), record, envelope.public_key)


def check_envelope(data: bytes, received_at: int) -> Checked | Verdict:
    """Verify one envelope as received (bytes); a `Verdict` says why it is refused."""
    try:
        envelope = decode_envelope(data)
        record = verify(envelope, RECORD_TYPES)
    except SignatureError as exc:
        return Verdict("bad_signature", str(exc))
    except ProtocolError as exc:
        return Verdict("bad_record", str(exc))
    return _checked(envelope, record, received_at)


def check_envelopes(items: Sequence[bytes | SignedEnvelope]) -> list[Checked | Verdict]:
    """`check_envelope` of many (bytes or decoded envelopes), stamped with one time."""
    now = now_ms()
    out: list[Checked | Verdict] = []
    for item in items:
        if isinstance(item, SignedEnvelope):
            try:
                out.append(_checked(item, verify(item, RECORD_TYPES), now))
            except SignatureError as exc:
                out.append(Verdict("bad_signature", str(exc)))
            except ProtocolError as exc:
                out.append(Verdict("bad_record", str(exc)))
        else:
            out.append(check_envelope(item, now))
    return out


def check_hits(hits: Sequence[SearchHit]) -> list[Checked | Verdict]:
    """Verify search hits: the announcement's signature, and that the hit repeats it."""
    now = now_ms()
    out: list[Checked | Verdict] = []
    for hit in hits:
        try:
            record = verify_hit(hit)
        except SignatureError as exc:
            out.append(Verdict("bad_signature", str(exc)))
        except ProtocolError as exc:
            out.append(Verdict("bad_record", str(exc)))
        else:
            out.append(_checked(hit.announcement, record, now))
    return out


def signed_by_owner(hit: SearchHit) -> bool:
    """A relay's cheap check of a hit it passes on: its announcement carries a valid
    signature by the key of the owner it names (the payload is not decoded; the
    asker verifies everything with `check_hits`). A peer cannot pass its own forgery
    off as another owner's answer and push an honest copy out of the merge."""
    envelope = hit.announcement
    try:
        if node_id_from_public_key(envelope.public_key) != hit.owner:
            return False
        verify_detached(envelope.public_key, envelope.payload, envelope.signature,
                        ENVELOPE_CONTEXT)
    except ProtocolError:
        return False
    return True


def _peek_all(items: Sequence[bytes | SignedEnvelope]
              ) -> tuple[list[bytes], list[tuple[str, str] | None]]:
    """Envelope bytes and the (owner, learnware id) each payload names, read without
    any check (only to find the stored record to compare with; None if unreadable)."""
    datas = [encode_envelope(i) if isinstance(i, SignedEnvelope) else bytes(i) for i in items]
    keys: list[tuple[str, str] | None] = []
    for item, data in zip(items, datas, strict=True):
        try:
            envelope = item if isinstance(item, SignedEnvelope) else decode_envelope(data)
            body = msgpack.unpackb(envelope.payload, raw=False,
                                   max_bin_len=limits.MAX_BINARY_BYTES,
                                   max_str_len=limits.MAX_STRING_BYTES)["body"]
            keys.append((str(body["owner"]), str(body["learnware_id"])))
        except Exception:  # anything unreadable gets the full checks
            keys.append(None)
    return datas, keys


def _held_already(store: Store, datas: Sequence[bytes],
                  keys: Sequence[tuple[str, str] | None]) -> list[bool]:
    out = []
    for data, key in zip(datas, keys, strict=True):
        row = store.get_record(*key) if key is not None else None
        out.append(row is not None and row.envelope == data)
    return out


# -- steps 2-4 and the write (store thread) ---------------------------------------------------
def _known_content(store: Store, learnware_id: str) -> tuple[bytes, int] | None:
    """The content key of any announcement of `learnware_id` the store holds."""
    for row in store.records_for(learnware_id):
        if row.kind == ANNOUNCEMENT:
            return content_key(offer_of(row))
    return None


def admit(store: Store, items: Sequence[Checked], policy: TrustPolicy, *, via: str,
          now: int, quotas: AnnouncementQuotas | None = None, peer: str = "",
          holds: ReplicationFilter = KEEP_ALL, take_new: bool = True,
          clock: float | None = None) -> list[Verdict]:
    """Trust, replay, replication, content, rate and quota checks, then one transaction
    for what passes.

    Runs in the store thread (the only writer), so the checks and the write see
    the same state. `peer` is the node that sent the records (for its quotas);
    `holds` is what this node replicates; `take_new` False: the node is over its disk
    budget and takes no learnware it does not hold already (``over_disk_budget``).
    `now` (ms since the epoch) stamps rows and pins; `clock` (seconds, the event loop's
    time: monotonic on a real node, virtual in the network simulation) times the rate
    limits, ``now / 1000`` when not given.
    """
    held_of: dict[str, int] = {}

    def held(owner: str) -> int:
        if owner not in held_of:
            held_of[owner] = len(store.owner_sequences(owner))
        return held_of[owner]

    pins: dict[str, Pin] = dict(store.pinned(
        [i.record.organization for i in items if isinstance(i.record, OFFER_TYPES)]))
    new_pins: list[Pin] = []
    batch_seq: dict[tuple[str, str], int] = {}
    batch_content: dict[str, tuple[bytes, int]] = {}
    rows: list[RecordRow] = []
    out: list[Verdict] = []
    for item in items:
        record = item.record
        if record.owner == policy.node_id:
            out.append(Verdict(OWN))
            continue
        reason = policy.decide(record, item.public_key, pins)
        if reason is not None:
            out.append(Verdict("untrusted", reason))
            continue
        key = (record.owner, record.learnware_id)
        kept = batch_seq.get(key)
        if kept is None:
            row = store.get_record(*key)
            kept = None if row is None else row.sequence
        if kept is not None and record.sequence <= kept:
            if record.sequence == kept:
                out.append(Verdict(DUPLICATE))
            else:
                out.append(Verdict("stale" if via == GOSSIP else OUTDATED,
                                   f"sequence {record.sequence} of {record.learnware_id} is "
                                   f"not above the {kept} held"))
            continue
        if kept is None and isinstance(record, Withdrawal) and via != SYNC:
            out.append(Verdict(STRAY, f"withdrawal of {record.learnware_id}, which this node "
                                      "holds nothing of"))
            continue
        if (kept is None and via != SEARCH and isinstance(record, OFFER_TYPES)
                and not holds.matches(item.row.data_type, item.row.scenarios)):
            out.append(Verdict(NOT_KEPT, f"{record.learnware_id} is not among the "
                                         f"{holds.describe()} this node keeps"))
            continue
        if kept is None and via != SEARCH and not take_new and isinstance(record, OFFER_TYPES):
            out.append(Verdict(OVER_DISK_BUDGET, f"{record.learnware_id}: this node is over "
                                                 "its disk budget and takes no new learnware"))
            continue
        if isinstance(record, OFFER_TYPES):
            content = content_key(record)
            known = batch_content.get(record.learnware_id) or _known_content(
                store, record.learnware_id)
            if known is not None and known != content:
                what = "size" if known[0] == content[0] else "specifications"
                out.append(Verdict("spec_mismatch", f"{record.learnware_id} is known with "
                                   f"other {what}; one content id has one package"))
                continue
        if quotas is not None:
            refused = _over_limits(quotas, record, kept is None, held(record.owner), via,
                                   peer, now / 1000.0 if clock is None else clock)
            if refused is not None:
                out.append(refused)
                continue
            if kept is None:
                held_of[record.owner] += 1
        if isinstance(record, OFFER_TYPES):
            batch_content[record.learnware_id] = content
            pin = policy.new_pin(record, item.public_key, pins, now)
            if pin is not None:
                pins[pin.organization] = pin
                new_pins.append(pin)
        batch_seq[key] = record.sequence
        rows.append(item.row)
        out.append(Verdict(ACCEPTED))
    if new_pins:
        store.pin(new_pins)
    if rows:
        store.put_records(rows)
    return out


def _over_limits(quotas: AnnouncementQuotas, record: Record,
                 new_id: bool, held: int, via: str, peer: str, now: float) -> Verdict | None:
    """The rate or quota a record that passed every other check runs into, if any."""
    if new_id and not quotas.owner_has_room(held):
        return Verdict("over_quota", f"{record.owner} already has {held} records here "
                       f"(max_records_per_owner {quotas.settings.max_records_per_owner})")
    if held == 0 and not quotas.peer_may_introduce(peer, now):
        return Verdict("rate_limited", f"{peer} brings new owners faster than "
                       f"{quotas.settings.new_owners_per_minute} a minute")
    if via != SYNC and not quotas.owner_may_push(record.owner, now):
        return Verdict("rate_limited", f"{record.owner} announces faster than "
                       f"{quotas.settings.owner_rate} a second")
    return None


# -- the pipeline ------------------------------------------------------------------------------
class Intake:
    """Runs the checks for a node and keeps the counts (see the module doc).

    One lock orders admissions and their catalog updates, so a tombstone admitted
    after an announcement is also applied after it.
    """

    @property
    def holds(self) -> ReplicationFilter:
        """What this node keeps of peers' learnwares now (`NodeService.keeps`)."""
        return self.service.keeps

    def __init__(self, service: NodeService, policy: TrustPolicy,
                 quotas: AnnouncementQuotas | None = None) -> None:
        self.service = service
        self.policy = policy
        self.quotas = quotas
        self.on_refused: Callable[[str, int], None] | None = None
        """Called with (peer, n) when n records a peer gossiped were refused (to lower
        its gossip score, `PeerNetwork.penalize`)."""
        self.counts: Counter[str] = Counter()
        self.by_peer: dict[str, Counter[str]] = {}
        self._lock = asyncio.Lock()
        self._log_window = (0.0, 0)
        self._suppressed = 0

    async def take(self, items: Sequence[bytes | SignedEnvelope], *, via: str, peer: str
                   ) -> list[Verdict]:
        """Check and admit envelopes (bytes as received, or decoded envelopes).

        An envelope byte-identical to the record the store keeps for its (owner, id)
        was verified when it was stored: it is a duplicate without decoding it again
        (a node catching up from two peers at once receives everything twice).
        """
        if via == GOSSIP and self.quotas is not None:  # before any work on them
            now = asyncio.get_running_loop().time()  # virtual in the simulation
            allowed = [self.quotas.peer_may_push(peer, now) for _ in items]
            if not all(allowed):
                out = await self._rate_limited(items, allowed, via=via, peer=peer)
            else:
                out = await self._take(items, via=via, peer=peer)
        else:
            out = await self._take(items, via=via, peer=peer)
        refused = sum(v.rejected for v in out)
        if refused and via == GOSSIP and self.on_refused is not None:
            self.on_refused(peer, refused)
        return out

    async def _take(self, items: Sequence[bytes | SignedEnvelope], *, via: str, peer: str
                    ) -> list[Verdict]:
        service = self.service
        datas, keys = await service.compute(_peek_all, items)
        held = await service.in_store(_held_already, service.store, datas, keys)
        fresh = [d for d, h in zip(datas, held, strict=True) if not h]
        checked = iter(await service.compute(check_envelopes, fresh) if fresh else [])
        merged: list[Checked | Verdict] = [
            Verdict(OWN if key is not None and key[0] == self.policy.node_id else DUPLICATE)
            if h else next(checked) for key, h in zip(keys, held, strict=True)]
        return await self.admit(merged, via=via, peer=peer)

    async def _rate_limited(self, items: Sequence[bytes | SignedEnvelope],
                            allowed: Sequence[bool], *, via: str, peer: str) -> list[Verdict]:
        """`take` of the allowed items; the others are refused unread (``rate_limited``)."""
        kept = [i for i, ok in zip(items, allowed, strict=True) if ok]
        taken = iter(await self._take(kept, via=via, peer=peer) if kept else [])
        refusal = Verdict("rate_limited", f"{peer} sends records faster than "
                          f"{self.quotas.settings.gossip_rate if self.quotas else 0} a second")
        out = []
        for ok in allowed:
            if ok:
                out.append(next(taken))
            else:
                out.append(refusal)
                self._count(refusal, via, peer, None)
        return out

    async def admit(self, checked: Sequence[Checked | Verdict], *, via: str, peer: str
                    ) -> list[Verdict]:
        """Steps 2-7 for records that passed (or failed) step 1; verdicts in order."""
        received, checked = checked, self._within_budget(checked)
        passed = [c for c in checked if isinstance(c, Checked)]
        verdicts: list[Verdict] = []
        if passed:
            async with self._lock:
                verdicts = await self.service.in_store(admit, self.service.store, passed,
                                                       self.policy, via=via, now=now_ms(),
                                                       quotas=self.quotas, peer=peer,
                                                       holds=self.holds,
                                                       take_new=self.service.taking_new,
                                                       clock=asyncio.get_running_loop().time())
                accepted = [c.record for c, v in zip(passed, verdicts, strict=True)
                            if v.outcome == ACCEPTED]
                if accepted:
                    await self.service.compute(self.service.catalog.apply_each, accepted)
                    self.service.keep_index()
                    self.service.keep_disk()
        it = iter(verdicts)
        out = [next(it) if isinstance(c, Checked) else c for c in checked]
        for c, verdict in zip(received, out, strict=True):
            self._count(verdict, via, peer, c.record if isinstance(c, Checked) else None)
        return out

    def _within_budget(self, checked: Sequence[Checked | Verdict]) -> list[Checked | Verdict]:
        """Step 2: announcements over ``[budget] spec_points``, below the
        ``[privacy]`` policy (`lwnode.node.privacypolicy`), or summaries whose
        sketches the catalog cannot index become refusals."""
        cap = self.service.config.budget.spec_points
        privacy = self.service.config.privacy
        out: list[Checked | Verdict] = []
        for c in checked:
            if not (isinstance(c, Checked) and isinstance(c.record, OFFER_TYPES)):
                out.append(c)
            elif (why := announcement_oversized(c.record, cap)) is not None:
                out.append(Verdict(TOO_MANY_POINTS, why))
            elif (why := announcement_refusal(c.record, privacy)) is not None:
                out.append(Verdict(BELOW_PRIVACY, why))
            elif (why := self.service.catalog.unusable(c.record)) is not None:
                out.append(Verdict("bad_record", why))
            else:
                out.append(c)
        return out

    def _count(self, verdict: Verdict, via: str, peer: str,
               record: Record | None) -> None:
        self.counts[verdict.outcome] += 1
        per = self.by_peer.setdefault(peer, Counter())
        per["rejected" if verdict.rejected else verdict.outcome] += 1
        if verdict.rejected:
            what = "" if record is None else f" {record.TYPE} {record.learnware_id} of " \
                                             f"{record.owner} (sequence {record.sequence})"
            self._log(f"rejected{what} from {peer} by {via}: {verdict.outcome}: "
                      f"{verdict.detail[:300]}")
        elif verdict.outcome == ACCEPTED and record is not None:
            log.debug("accepted %s %s of %s from %s by %s", record.TYPE, record.learnware_id,
                      record.owner, peer, via)

    def _log(self, message: str) -> None:
        """A warning per rejection, at most `LOG_BUDGET_PER_MINUTE` a minute (floods)."""
        now = time.monotonic()
        start, used = self._log_window
        if now - start >= 60.0:
            if self._suppressed:
                log.warning("%d more rejections in the last minute were not logged",
                            self._suppressed)
            start, used, self._suppressed = now, 0, 0
        if used < LOG_BUDGET_PER_MINUTE:
            log.warning("%s", message)
            used += 1
        else:
            self._suppressed += 1
        self._log_window = (start, used)

    def counters(self) -> dict[str, int]:
        out = {f"records_{name}": self.counts[name]
               for name in (ACCEPTED, DUPLICATE, OWN, OUTDATED, STRAY, NOT_KEPT,
                            OVER_DISK_BUDGET)}
        out["records_rejected"] = sum(self.counts[r] for r in REJECTIONS)
        out.update({f"rejected_{r}": self.counts[r] for r in REJECTIONS})
        return out
