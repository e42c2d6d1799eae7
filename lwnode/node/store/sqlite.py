"""`SqliteStore`: the `Store` on SQLite plus a `BlobDir`; file and in-memory variants.

`FileStore(root)` is what a node runs on: ``root/lwnode.sqlite3`` in WAL mode with
``synchronous=FULL`` (a 201 means the learnware is on disk), foreign keys on, and
an exclusive lock file so two processes never share a store. `MemoryStore()` keeps
the database in ``:memory:`` and the blobs in a temporary directory removed on
close, for tests; both pass the same contract suite.

Publish order (crash safety): the blob is verified and made durable first, then
one transaction writes sequence, record and row. A crash between the two leaves a
blob no row owns, which `recover` (run at every open) deletes; a row without its
blob cannot happen. Withdrawal commits the tombstone first and deletes the blob
after, with the same recovery for a crash in between.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lwnode.errors import BadRequest, Gone, NotFound, StoreError
from lwnode.node.diskbudget import Tally
from lwnode.node.store.base import (
    ANNOUNCEMENT,
    WITHDRAWAL,
    ChangeFeed,
    Counts,
    MakeRecord,
    OwnLearnware,
    Page,
    PeerRow,
    Pin,
    Problem,
    RecordFilter,
    RecordRow,
    Recovery,
    Store,
)
from lwnode.node.store.blobs import BlobDir, BlobWriter, hash_file
from lwnode.node.store.packing import id_of, pack, stored_id, unpack
from lwnode.node.store.schema import migrate, schema_version
from protocol.replication import ReplicationFilter

DB_NAME = "lwnode.sqlite3"
LOCK_NAME = "lock"
_RECORD_COLUMNS = ("owner", "learnware_id", "sequence", "kind", "envelope", "received_at",
                   "organization", "name", "data_type", "task_type", "library", "license",
                   "package_size")
_OWN_COLUMNS = "o.learnware_id, o.owner, o.size, o.status, o.report, o.published_at, " \
               "r.sequence, o.withdrawn_at"


def _own(row: sqlite3.Row) -> OwnLearnware:
    """An own learnware from a row of `_OWN_COLUMNS`."""
    return OwnLearnware(id_of(row[0]), *tuple(row)[1:])


def _encode_cursor(learnware_id: str, owner: str) -> str:
    return base64.urlsafe_b64encode(f"{learnware_id} {owner}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        learnware_id, owner = text.split(" ")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"cursor: {cursor[:40]!r} is not a cursor this node issued"
                         ) from None
    return learnware_id, owner


class SqliteStore(Store):
    """The store on one SQLite connection (serialised by a lock) and a blob dir."""

    def __init__(self, conn: sqlite3.Connection, blobs: BlobDir, *, recover: bool = True
                 ) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._record_counts: tuple[int, dict[str, int], int] | None = None
        self._log_owed = False  # a vacuum's log a reader kept from being truncated
        self.blobs = blobs
        conn.row_factory = sqlite3.Row
        before = schema_version(conn)
        migrate(conn)  # (with foreign keys off: see `migrate`)
        if 0 < before < 4:
            # migration 4 rewrote the records: their old pages are free, and only a
            # vacuum gives them back (once: ~3 s at 100,000 records)
            conn.execute("VACUUM")
        conn.execute("PRAGMA foreign_keys = ON")
        self.recovery = self.recover() if recover else Recovery()

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    @staticmethod
    def _record(row: sqlite3.Row, tags: tuple[str, ...] = ()) -> RecordRow:
        fields = {c: row[c] for c in _RECORD_COLUMNS}
        fields["envelope"] = unpack(fields["envelope"])
        fields["learnware_id"] = id_of(fields["learnware_id"])
        return RecordRow(**fields, scenarios=tags)

    def _tags(self, change: int) -> tuple[str, ...]:
        rows = self._query("SELECT tag FROM record_tags WHERE record = ? ORDER BY tag",
                           (change,))
        return tuple(r[0] for r in rows)

    def _with_tags(self, rows: list[sqlite3.Row]) -> list[RecordRow]:
        return [self._record(r, self._tags(r["change"])) for r in rows]

    def _write_record(self, conn: sqlite3.Connection, row: RecordRow) -> None:
        # every write takes the next change number (the largest kept, plus one), so
        # `changes_after` sees it whatever it replaced; the number is the row's key
        # (the tags name it), so the replaced row's tags go first
        change = conn.execute("SELECT COALESCE(MAX(change), 0) + 1 FROM records").fetchone()[0]
        conn.execute("DELETE FROM record_tags WHERE record = (SELECT change FROM records WHERE "
                     "learnware_id = ? AND owner = ?)", (stored_id(row.learnware_id), row.owner))
        stored = {"envelope": pack(row.envelope), "learnware_id": stored_id(row.learnware_id)}
        values = (*(stored[c] if c in stored else getattr(row, c) for c in _RECORD_COLUMNS),
                  change)
        columns = (*_RECORD_COLUMNS, "change")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        conn.execute(f"INSERT INTO records ({', '.join(columns)}) VALUES "
                     f"({', '.join('?' * len(values))}) ON CONFLICT (learnware_id, owner) "
                     f"DO UPDATE SET {updates}", values)
        conn.executemany("INSERT INTO record_tags (record, tag) VALUES (?, ?)",
                         [(change, t) for t in sorted(set(row.scenarios))])

    def _next_sequence(self, conn: sqlite3.Connection, owner: str) -> int:
        row = conn.execute("SELECT last_issued FROM sequences WHERE owner = ?",
                           (owner,)).fetchone()
        seq = (row[0] if row else 0) + 1
        conn.execute("INSERT INTO sequences (owner, last_issued) VALUES (?, ?) ON CONFLICT "
                     "(owner) DO UPDATE SET last_issued = excluded.last_issued", (owner, seq))
        return seq

    def _write_next(self, conn: sqlite3.Connection, owner: str, learnware_id: str,
                    make_record: MakeRecord, kind: str) -> RecordRow:
        """`make_record` at the owner's next sequence, checked to be that record of
        `learnware_id`, and written (in the caller's transaction)."""
        seq = self._next_sequence(conn, owner)
        row = make_record(seq)
        if (row.owner, row.learnware_id, row.sequence, row.kind) != (owner, learnware_id, seq,
                                                                     kind):
            raise StoreError(f"make_record returned ({row.owner}, {row.learnware_id}, "
                             f"{row.sequence}, {row.kind}); expected ({owner}, "
                             f"{learnware_id}, {seq}, {kind})")
        self._write_record(conn, row)
        return row

    def _active_own(self, learnware_id: str, gone: str) -> OwnLearnware:
        own = self.get_own(learnware_id)
        if own is None:
            raise NotFound(f"learnware {learnware_id} is not hosted by this node")
        if own.status != "active":
            raise Gone(f"learnware {learnware_id} {gone}")
        return own

    # -- own learnwares -----------------------------------------------------------------
    def blob_writer(self) -> BlobWriter:
        return self.blobs.writer()

    def add_own(self, writer: BlobWriter, owner: str, report: str, make_record: MakeRecord,
                now: int) -> tuple[OwnLearnware, bool]:
        with self._lock:
            learnware_id = writer.content_id()
            existing = self.get_own(learnware_id)
            if existing is not None and existing.status == "active":
                writer.discard()
                return existing, False
            self.blobs.commit(writer, learnware_id)
            try:
                with self._tx() as conn:
                    self._write_next(conn, owner, learnware_id, make_record, ANNOUNCEMENT)
                    conn.execute(
                        "INSERT INTO own_learnwares (learnware_id, owner, size, status, report,"
                        " published_at, withdrawn_at) VALUES (?, ?, ?, 'active', ?, ?, NULL) "
                        "ON CONFLICT (learnware_id) DO UPDATE SET owner = excluded.owner, "
                        "size = excluded.size, status = 'active', report = excluded.report, "
                        "published_at = excluded.published_at, withdrawn_at = NULL",
                        (stored_id(learnware_id), owner, writer.size, report, now))
            except BaseException:
                self.blobs.delete(learnware_id)
                raise
            added = self.get_own(learnware_id)
            assert added is not None
            return added, True

    def withdraw_own(self, learnware_id: str, make_record: MakeRecord, now: int
                     ) -> OwnLearnware:
        with self._lock:
            own = self._active_own(learnware_id, "is already withdrawn")
            with self._tx() as conn:
                self._write_next(conn, own.owner, learnware_id, make_record, WITHDRAWAL)
                conn.execute("UPDATE own_learnwares SET status = 'withdrawn', withdrawn_at = ? "
                             "WHERE learnware_id = ?", (now, stored_id(learnware_id)))
            self.blobs.delete(learnware_id)
            out = self.get_own(learnware_id)
            assert out is not None
            return out

    def renew_own(self, learnware_id: str, make_record: MakeRecord) -> RecordRow:
        with self._lock:
            own = self._active_own(learnware_id, "was withdrawn by its owner")
            with self._tx() as conn:
                return self._write_next(conn, own.owner, learnware_id, make_record,
                                        ANNOUNCEMENT)

    def get_own(self, learnware_id: str) -> OwnLearnware | None:
        rows = self._query(f"SELECT {_OWN_COLUMNS} FROM own_learnwares o JOIN records r ON "
                           "r.owner = o.owner AND r.learnware_id = o.learnware_id "
                           "WHERE o.learnware_id = ?", (stored_id(learnware_id),))
        return _own(rows[0]) if rows else None

    def list_own(self) -> list[OwnLearnware]:
        rows = self._query(f"SELECT {_OWN_COLUMNS} FROM own_learnwares o JOIN records r ON "
                           "r.owner = o.owner AND r.learnware_id = o.learnware_id "
                           "ORDER BY o.published_at, o.learnware_id")
        return [_own(r) for r in rows]

    def blob_path(self, learnware_id: str) -> Path:
        own = self.get_own(learnware_id)
        if own is None:
            raise NotFound(f"learnware {learnware_id}: this node does not host its package")
        if own.status != "active":
            raise Gone(f"learnware {learnware_id} was withdrawn by its owner")
        return self.blobs.path_of(learnware_id)

    # -- records ------------------------------------------------------------------------
    def put_record(self, row: RecordRow) -> bool:
        return self.put_records([row])[0]

    def put_records(self, rows: Sequence[RecordRow]) -> list[bool]:
        out = []
        with self._tx() as conn:
            for row in rows:
                kept = conn.execute("SELECT sequence FROM records WHERE owner = ? AND "
                                    "learnware_id = ?", (row.owner, stored_id(row.learnware_id))
                                    ).fetchone()
                newer = kept is None or row.sequence > kept[0]
                if newer:
                    self._write_record(conn, row)
                out.append(newer)
        return out

    def get_record(self, owner: str, learnware_id: str) -> RecordRow | None:
        rows = self._query("SELECT * FROM records WHERE owner = ? AND learnware_id = ?",
                           (owner, stored_id(learnware_id)))
        return self._with_tags(rows)[0] if rows else None

    def records_for(self, learnware_id: str) -> list[RecordRow]:
        # a search of the (learnware id, owner) key: anti-entropy calls this for every
        # announcement it takes in (a scan of the table would be quadratic)
        return self._with_tags(self._query(
            "SELECT * FROM records WHERE learnware_id = ? ORDER BY owner",
            (stored_id(learnware_id),)))

    def list_announcements(self, where: RecordFilter, limit: int, cursor: str | None = None
                           ) -> Page:
        if limit < 1:
            raise BadRequest(f"limit: expected a positive integer, got {limit}")
        sql = ["SELECT * FROM records r WHERE kind = 'announcement'"]
        args: list[Any] = []
        for column in ("owner", "data_type", "task_type", "library", "license"):
            value = getattr(where, column)
            if value:
                sql.append(f"AND {column} = ?")
                args.append(value)
        if where.name:
            escaped = where.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql.append("AND name LIKE ? ESCAPE '\\'")
            args.append(f"%{escaped}%")
        if where.scenarios:
            marks = ", ".join("?" * len(where.scenarios))
            sql.append(f"AND EXISTS (SELECT 1 FROM record_tags t WHERE t.record = r.change "
                       f"AND t.tag IN ({marks}))")
            args.extend(where.scenarios)
        if cursor:
            sql.append("AND (learnware_id, owner) > (?, ?)")
            after_id, after_owner = _decode_cursor(cursor)
            args.extend((stored_id(after_id), after_owner))
        sql.append("ORDER BY learnware_id, owner LIMIT ?")
        args.append(limit + 1)
        rows = self._with_tags(self._query(" ".join(sql), tuple(args)))
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = _encode_cursor(rows[-1].learnware_id, rows[-1].owner) if more else None
        return Page(tuple(rows), nxt)

    def iter_announcements(self, batch: int = 1000) -> Iterator[RecordRow]:
        cursor: str | None = None
        while True:
            page = self.list_announcements(RecordFilter(), batch, cursor)
            yield from page.rows
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def changes_after(self, change: int, batch: int = 2000
                      ) -> Iterator[tuple[int, RecordRow]]:
        return _changes_after(self._query, change, batch)

    def change_mark(self) -> tuple[str, int]:
        return _change_mark(self._query)

    def owners_changed_after(self, change: int) -> set[str]:
        # NOT INDEXED: the rows after `change` by the table's key (SQLite would rather
        # scan the whole owner index for the DISTINCT)
        return {r[0] for r in self._query("SELECT DISTINCT owner FROM records NOT INDEXED "
                                          "WHERE change > ?", (change,))}

    def records_after(self, owner: str, after_sequence: int, limit: int,
                      filters: Sequence[ReplicationFilter] = ()) -> list[RecordRow]:
        where, args = _kept_by(filters)
        return self._with_tags(self._query(
            f"SELECT * FROM records WHERE owner = ? AND sequence > ? AND {where} "
            "ORDER BY sequence LIMIT ?", (owner, after_sequence, *args, limit)))

    def owner_sequences(self, owner: str, filters: Sequence[ReplicationFilter] = ()
                        ) -> list[tuple[str, int]]:
        where, args = _kept_by(filters)
        rows = self._query(f"SELECT learnware_id, sequence FROM records WHERE owner = ? AND "
                           f"{where} ORDER BY learnware_id", (owner, *args))
        return [(id_of(r[0]), r[1]) for r in rows]

    def drop_not_kept(self, holds: ReplicationFilter, own: str) -> int:
        if holds.keeps_all:
            return 0
        where, args = _kept_by((holds,))
        with self._tx() as conn:
            doomed = conn.execute(
                f"SELECT change FROM records WHERE kind = '{ANNOUNCEMENT}' AND "
                f"owner != ? AND NOT {where}", (own, *args)).fetchall()
            self._delete_changes(conn, [r[0] for r in doomed])
        return len(doomed)

    def _delete_changes(self, conn: sqlite3.Connection, changes: list[int]) -> None:
        """Delete the records of these change numbers, with their tags (in a `_tx`)."""
        if not changes:
            return
        keys = [(c,) for c in changes]
        conn.executemany("DELETE FROM record_tags WHERE record = ?", keys)
        conn.executemany("DELETE FROM records WHERE change = ?", keys)
        # rows gone leave no change number behind: a new epoch tells the persisted
        # catalog index and the digests' caches that they are of another store
        conn.execute("UPDATE store_meta SET value = lower(hex(randomblob(16))) "
                     "WHERE key = 'epoch'")
        self._record_counts = None

    def drop_some_not_kept(self, holds: ReplicationFilter, own: str, after: int,
                           limit: int) -> tuple[int, int]:
        if holds.keeps_all:
            return 0, -1
        where, args = _kept_by((holds,))
        with self._tx() as conn:
            # by the change index from `after` on: each call starts where the last ended
            doomed = conn.execute(
                f"SELECT change FROM records WHERE change > ? AND kind = '{ANNOUNCEMENT}' "
                f"AND owner != ? AND NOT {where} ORDER BY change LIMIT ?",
                (after, own, *args, limit)).fetchall()
            changes = [r[0] for r in doomed]
            self._delete_changes(conn, changes)
        return len(changes), (changes[-1] if len(changes) == limit else -1)

    def tally(self, own: str, *, peers: bool = True) -> Tally:
        by_type: dict[str, int] = {}
        by_tag: dict[tuple[str, str], int] = {}
        own_types: dict[str, int] = {}
        own_tags: dict[str, int] = {}
        records = n_peers = 0
        # only the own records: by the owner index, a few rows
        only = "" if peers else " AND r.owner = ?"
        args = (own,) if peers else (own, own)
        with self._lock:
            for data_type, mine, n in self._conn.execute(
                    "SELECT data_type, owner = ?, COUNT(*) FROM records r WHERE kind = "
                    f"'{ANNOUNCEMENT}'{only} GROUP BY 1, 2", args):
                if mine:
                    own_types[data_type] = n
                else:
                    by_type[data_type] = n
                    n_peers += n
            for data_type, mine, tag, n in self._conn.execute(
                    "SELECT r.data_type, r.owner = ?, COALESCE(t.tag, ''), COUNT(*) "
                    "FROM records r LEFT JOIN record_tags t ON t.record = r.change "
                    f"WHERE r.kind = '{ANNOUNCEMENT}'{only} GROUP BY 1, 2, 3", args):
                if mine:
                    own_tags[tag] = own_tags.get(tag, 0) + n
                else:
                    by_tag[(data_type, tag)] = n
            if peers:
                records = self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        own_tags.pop("", None)
        return Tally(records, n_peers, by_type, by_tag, own_tags, own_types)

    def disk_bytes(self) -> int:
        with self._lock:
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        path = self.database_path()
        try:
            wal = 0 if path is None else os.stat(f"{path}-wal").st_size
        except FileNotFoundError:
            wal = 0
        return int((pages - free) * size) + wal

    def reclaim(self, share: float = 0.25, *, force: bool = False) -> int:
        with self._lock:
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
            if not force and (not free or free <= share * pages):
                return 0
            size = self._conn.execute("PRAGMA page_size").fetchone()[0]
            self._conn.execute("VACUUM")
            self._log_owed = not self._truncate_log()
            after = self._conn.execute("PRAGMA page_count").fetchone()[0]
        return int((pages - after) * size)

    def settle_log(self) -> None:
        with self._lock:
            if self._log_owed:
                self._log_owed = not self._truncate_log()

    def _truncate_log(self) -> bool:
        """Copy the log into the database and empty it; False when a reader's older
        view kept part of it (SQLite then leaves the log as it is)."""
        busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM store_meta WHERE key = ?", (f"node.{key}",))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self._tx() as conn:
            if value is None:
                conn.execute("DELETE FROM store_meta WHERE key = ?", (f"node.{key}",))
            else:
                conn.execute("INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT "
                             "(key) DO UPDATE SET value = excluded.value",
                             (f"node.{key}", value))

    def owners(self, filters: Sequence[ReplicationFilter] = ()) -> list[tuple[str, int, int]]:
        where, args = _kept_by(filters)
        rows = self._query(f"SELECT owner, MAX(sequence), COUNT(*) FROM records WHERE {where} "
                           "GROUP BY owner ORDER BY owner", args)
        return [(r[0], r[1], r[2]) for r in rows]

    def last_sequence(self, owner: str) -> int:
        rows = self._query("SELECT last_issued FROM sequences WHERE owner = ?", (owner,))
        return int(rows[0][0]) if rows else 0

    # -- peers --------------------------------------------------------------------------
    def upsert_peer(self, peer: PeerRow) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO peers (node_id, peer_id, organization, http_url, multiaddrs, "
                "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node_id) DO "
                "UPDATE SET peer_id = excluded.peer_id, organization = excluded.organization, "
                "http_url = excluded.http_url, multiaddrs = excluded.multiaddrs, "
                "last_seen = excluded.last_seen",
                (peer.node_id, peer.peer_id, peer.organization, peer.http_url,
                 json.dumps(list(peer.multiaddrs)), peer.first_seen or peer.last_seen,
                 peer.last_seen))

    def list_peers(self) -> list[PeerRow]:
        rows = self._query("SELECT * FROM peers ORDER BY node_id")
        return [PeerRow(r["node_id"], r["peer_id"], r["organization"], r["http_url"],
                        tuple(json.loads(r["multiaddrs"])), r["first_seen"], r["last_seen"])
                for r in rows]

    def remove_peer(self, node_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM peers WHERE node_id = ?", (node_id,))

    # -- trust on first use ---------------------------------------------------------------
    def pinned(self, organizations: Sequence[str]) -> dict[str, Pin]:
        out: dict[str, Pin] = {}
        names = list(dict.fromkeys(organizations))
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            rows = self._query(f"SELECT * FROM pins WHERE organization IN "
                               f"({', '.join('?' * len(chunk))})", tuple(chunk))
            for r in rows:
                out[r["organization"]] = Pin(r["organization"], r["owner"], bytes(r["public_key"]),
                                             r["first_seen"])
        return out

    def pin(self, pins: Sequence[Pin]) -> None:
        with self._tx() as conn:
            conn.executemany("INSERT INTO pins (organization, owner, public_key, first_seen) "
                             "VALUES (?, ?, ?, ?) ON CONFLICT (organization) DO NOTHING",
                             [(p.organization, p.owner, p.public_key, p.first_seen)
                              for p in pins])

    def list_pins(self) -> list[Pin]:
        return [Pin(r["organization"], r["owner"], bytes(r["public_key"]), r["first_seen"])
                for r in self._query("SELECT * FROM pins ORDER BY organization")]

    # -- upkeep -------------------------------------------------------------------------
    def counts(self) -> Counts:
        with self._lock:
            own = dict(self._conn.execute(
                "SELECT status, COUNT(*) FROM own_learnwares GROUP BY status").fetchall())
            # counting the records reads an index of them all (~4 ms at 100,000, and
            # every /v1/health asks): kept until a write, which always raises the
            # largest change number. The tombstones have an index of their own.
            last = self._conn.execute("SELECT COALESCE(MAX(change), 0) FROM records"
                                      ).fetchone()[0]
            if self._record_counts is None or self._record_counts[0] != last:
                every = self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
                withdrawn = self._conn.execute(
                    f"SELECT COUNT(*) FROM records WHERE kind = '{WITHDRAWAL}'").fetchone()[0]
                kinds: dict[str, int] = {ANNOUNCEMENT: every - withdrawn,
                                         WITHDRAWAL: withdrawn}
                owners = self._conn.execute("SELECT COUNT(DISTINCT owner) FROM records"
                                            ).fetchone()[0]
                self._record_counts = (last, kinds, owners)
            _, counted, owners = self._record_counts
            peers = self._conn.execute("SELECT COUNT(*) FROM peers").fetchone()[0]
        return Counts(own.get("active", 0), own.get("withdrawn", 0), counted[ANNOUNCEMENT],
                      counted[WITHDRAWAL], owners, peers)

    def _active_ids(self) -> set[str]:
        return {id_of(r[0]) for r in self._query(
            "SELECT learnware_id FROM own_learnwares WHERE status = 'active'")}

    def verify(self, *, deep: bool = True) -> list[Problem]:
        with self._lock:
            problems = self._verify_database()
            problems += self._verify_own(deep)
            active = self._active_ids()
            problems += [Problem("orphan_blob", f"{i}: a blob no active learnware owns")
                         for i in self.blobs.ids() if i not in active]
            problems += [Problem("temp_file", f"{p.name}: an unfinished upload")
                         for p in self.blobs.temp_files()]
            problems += [Problem("stray_file", f"{p}: not a blob") for p in
                         self.blobs.stray_files()]
            return problems

    def _verify_database(self) -> list[Problem]:
        problems = []
        check = [r[0] for r in self._query("PRAGMA integrity_check")]
        if check != ["ok"]:
            problems.append(Problem("database", "; ".join(map(str, check[:5]))))
        problems += [Problem("foreign_key", f"table {r[0]} row {r[1]} -> {r[2]}")
                     for r in self._query("PRAGMA foreign_key_check")]
        for owner, max_seq, _ in self.owners():
            issued = self.last_sequence(owner)
            if issued and issued < max_seq:
                problems.append(Problem("sequence", f"{owner}: issued up to {issued} but holds "
                                                    f"sequence {max_seq}"))
        return problems

    def _verify_own(self, deep: bool) -> list[Problem]:
        problems = []
        for own in self.list_own():
            record = self.get_record(own.owner, own.learnware_id)
            path = self.blobs.path_of(own.learnware_id)
            want = ANNOUNCEMENT if own.status == "active" else WITHDRAWAL
            if record is None or record.kind != want:
                problems.append(Problem("record_mismatch", f"{own.learnware_id}: {own.status} "
                                        f"but its record is {record and record.kind}"))
            if own.status != "active":
                continue
            if not path.is_file():
                problems.append(Problem("missing_blob", f"{own.learnware_id}: no package file"))
            elif deep:
                cid, size = hash_file(path)
                if cid != own.learnware_id or size != own.size:
                    problems.append(Problem("bad_blob", f"{own.learnware_id}: file hashes to "
                                            f"{cid} ({size} bytes, row says {own.size})"))
        return problems

    def recover(self) -> Recovery:
        with self._lock:
            temp = self.blobs.clear_temp()
            active = self._active_ids()
            orphans = tuple(i for i in self.blobs.ids() if i not in active)
            for blob in orphans:
                self.blobs.delete(blob)
            return Recovery(temp, orphans)

    def schema_version(self) -> int:
        with self._lock:
            return schema_version(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


PAGE_SIZE = 8192
WAL_LIMIT = 8 << 20
"""Bytes the write-ahead log keeps after a checkpoint (SQLite checkpoints at 1,000
pages, 8 MB)."""
"""Bytes per database page of a new store (see `FileStore`)."""


Query = Callable[[str, tuple[Any, ...]], list[sqlite3.Row]]


def _changes_after(query: Query, change: int, batch: int) -> Iterator[tuple[int, RecordRow]]:
    after = change
    while True:
        rows = query(f"SELECT change, {', '.join(_RECORD_COLUMNS)} FROM records "
                     "WHERE change > ? ORDER BY change LIMIT ?", (after, batch))
        for r in rows:
            yield r["change"], SqliteStore._record(r)
        if len(rows) < batch:
            return
        after = rows[-1]["change"]


def _change_mark(query: Query) -> tuple[str, int]:
    epoch = query("SELECT value FROM store_meta WHERE key = 'epoch'", ())[0][0]
    last = query("SELECT COALESCE(MAX(change), 0) FROM records", ())[0][0]
    return str(epoch), int(last)


class Snapshot(ChangeFeed):
    """The records as they were when it was opened, on a read-only connection of its own
    (WAL readers do not wait for the writer, nor it for them)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                     check_same_thread=False, timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("BEGIN")
        self._mark = _change_mark(self._query)  # the first read fixes the snapshot

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, args).fetchall()

    def changes_after(self, change: int, batch: int = 2000
                      ) -> Iterator[tuple[int, RecordRow]]:
        return _changes_after(self._query, change, batch)

    def change_mark(self) -> tuple[str, int]:
        return self._mark

    def close(self) -> None:
        self._conn.close()


class FileStore(SqliteStore):
    """The store a node runs on: ``root/lwnode.sqlite3`` and ``root/blobs``."""

    def __init__(self, root: str | os.PathLike[str], *, recover: bool = True) -> None:
        """Open (creating if needed) the store under `root`; `recover=False` skips the
        clean-up of an unclean stop (to inspect what a crash left)."""
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StoreError(f"{self.root}: the store is in use by another lwnode process"
                             ) from None
        try:
            conn = sqlite3.connect(self.root / DB_NAME, isolation_level=None,
                                   check_same_thread=False, timeout=10.0)
            try:
                # A new database's pages (no effect on an existing one). The records
                # table has no rowid, so a row over ~1/4 of a page spills into an
                # overflow page of its own: at SQLite's default 4 kB a 1.1 kB signed
                # summary took 5.0 kB on disk, at 8 kB 1.7 kB (a 5.3 kB announcement
                # 9.1 kB and 9.7 kB).
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    raise StoreError(f"{self.root / DB_NAME}: cannot use WAL mode ({mode})")
                conn.execute("PRAGMA synchronous = FULL")
                # the log is truncated back to this after a checkpoint (else it stays at
                # its largest, e.g. a vacuum's whole database, and the disk budget
                # counts it: `disk_bytes`)
                conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
                super().__init__(conn, BlobDir(self.root / "blobs"), recover=recover)
            except BaseException:
                conn.close()
                raise
        except sqlite3.DatabaseError as exc:
            os.close(self._lock_fd)
            raise StoreError(f"{self.root / DB_NAME}: {exc}") from None
        except BaseException:
            os.close(self._lock_fd)
            raise

    def snapshot(self) -> Snapshot:
        return Snapshot(self.root / DB_NAME)

    def database_path(self) -> Path:
        return self.root / DB_NAME

    def close(self) -> None:
        super().close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


class MemoryStore(SqliteStore):
    """The same store in ``:memory:`` with blobs in a temporary directory (tests)."""

    def __init__(self) -> None:
        self._tmp = tempfile.mkdtemp(prefix="lwnode-store-")
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        super().__init__(conn, BlobDir(Path(self._tmp) / "blobs"))

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def open_store(root: str | os.PathLike[str] | None) -> SqliteStore:
    """`FileStore(root)`, or a `MemoryStore` when `root` is None or ``":memory:"``."""
    if root is None or str(root) == ":memory:":
        return MemoryStore()
    return FileStore(root)


def _kept_by(filters: Sequence[ReplicationFilter]) -> tuple[str, tuple[str, ...]]:
    """A WHERE condition on `records` (and its arguments) for the records that pass
    every replication filter; withdrawals pass all (`protocol.replication`)."""
    terms: list[str] = ["1"]
    args: list[str] = []
    for f in filters:
        if f.data_types:
            terms.append(f"data_type IN ({', '.join('?' * len(f.data_types))})")
            args += f.data_types
        if f.scenarios:
            terms.append("EXISTS (SELECT 1 FROM record_tags t WHERE t.record = records.change "
                         f"AND t.tag IN ({', '.join('?' * len(f.scenarios))}))")
            args += f.scenarios
    if len(terms) == 1:
        return "1", ()
    return f"(kind = '{WITHDRAWAL}' OR ({' AND '.join(terms[1:])}))", tuple(args)
