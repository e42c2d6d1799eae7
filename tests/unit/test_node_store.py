"""Store contract: one suite, run against the file store and the in-memory store."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
import threading

import pytest
from lwtesting import (
    announcement_row,
    content_of,
    publish_bytes,
    tiny_semantic,
    tiny_spec,
    withdrawal_row,
)

from lwnode.errors import BadRequest, Gone, NotFound, StoreError
from lwnode.node.catalog import NodeCatalog
from lwnode.node.records import announcement_of
from lwnode.node.store import (
    FileStore,
    MemoryStore,
    PeerRow,
    RecordFilter,
    RecordRow,
    SqliteStore,
    packing,
)
from lwnode.node.store.schema import LATEST_VERSION, MIGRATIONS, Migration, migrate, schema_version
from protocol.content import content_id
from protocol.signing import Identity

ME = Identity.from_seed(b"\x01" * 32)
PEER = Identity.from_seed(b"\x02" * 32)
OTHER = Identity.from_seed(b"\x03" * 32)


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):
    s = FileStore(tmp_path / "store") if request.param == "file" else MemoryStore()
    yield s
    s.close()


def lid_of(i: int) -> str:
    return content_id(content_of(i))


# -- fresh store -------------------------------------------------------------------------------
def test_a_new_store_is_empty_current_and_sound(store):
    assert store.schema_version() == LATEST_VERSION
    counts = store.counts()
    assert (counts.own_active, counts.announcements, counts.peers) == (0, 0, 0)
    assert store.verify() == []
    assert store.recovery.temp_files == 0 and store.recovery.orphan_blobs == ()


# -- own learnwares -----------------------------------------------------------------------------
def test_publish_makes_blob_row_and_signed_record_visible_together(store):
    data = content_of(1, 10_000)
    lid, created = publish_bytes(store, ME, data)
    assert created and lid == content_id(data)
    own = store.get_own(lid)
    assert own.status == "active" and own.size == len(data) and own.sequence == 1
    assert store.blob_path(lid).read_bytes() == data
    assert stat.S_IMODE(store.blob_path(lid).stat().st_mode) == 0o444
    record = store.get_record(ME.node_id, lid)
    ann = announcement_of(record)
    assert (ann.learnware_id, ann.owner, ann.sequence) == (lid, ME.node_id, 1)
    assert store.last_sequence(ME.node_id) == 1
    assert store.verify() == []


def test_publishing_the_same_bytes_again_is_idempotent(store):
    lid, created = publish_bytes(store, ME, content_of(1))
    again, created_again = publish_bytes(store, ME, content_of(1))
    assert (again, created, created_again) == (lid, True, False)
    assert store.last_sequence(ME.node_id) == 1
    assert store.counts().own_active == 1
    assert store.verify() == []


def test_sequences_increase_over_publishes_and_withdrawals(store):
    lids = [publish_bytes(store, ME, content_of(i))[0] for i in range(3)]
    store.withdraw_own(lids[1], lambda seq: withdrawal_row(ME, lids[1], seq), 5)
    assert [store.get_record(ME.node_id, lid).sequence for lid in lids] == [1, 4, 3]
    assert store.owners() == [(ME.node_id, 4, 3)]


def test_bytes_changed_on_disk_before_commit_are_refused(store):
    writer = store.blob_writer()
    writer.write(b"the bytes that were uploaded")
    expected = writer.content_id()
    writer.close()
    os.chmod(writer.path, 0o600)
    writer.path.write_bytes(b"different bytes on disk")
    with pytest.raises(StoreError, match="hash"):
        store.add_own(writer, ME.node_id, "{}", lambda seq: announcement_row(ME, expected, seq),
                      1)
    assert store.get_own(expected) is None and not store.blobs.exists(expected)
    assert store.verify() == []


def test_a_failing_signer_leaves_no_trace(store):
    def boom(seq):
        raise RuntimeError("signer failed")

    writer = store.blob_writer()
    writer.write(content_of(7))
    lid = writer.content_id()
    with pytest.raises(RuntimeError):
        store.add_own(writer, ME.node_id, "{}", boom, 1)
    assert store.get_own(lid) is None and store.get_record(ME.node_id, lid) is None
    assert not store.blobs.exists(lid) and store.last_sequence(ME.node_id) == 0
    assert store.verify() == []


def test_a_record_that_does_not_match_the_publish_is_refused(store):
    writer = store.blob_writer()
    writer.write(content_of(8))
    lid = writer.content_id()
    with pytest.raises(StoreError, match="make_record"):
        store.add_own(writer, ME.node_id, "{}", lambda seq: announcement_row(ME, lid, seq + 1),
                      1)
    assert store.get_own(lid) is None and store.verify() == []


def test_withdrawal_keeps_a_tombstone_and_removes_the_package(store):
    lid, _ = publish_bytes(store, ME, content_of(1))
    own = store.withdraw_own(lid, lambda seq: withdrawal_row(ME, lid, seq), 42)
    assert own.status == "withdrawn" and own.withdrawn_at == 42
    record = store.get_record(ME.node_id, lid)
    assert record.kind == "withdrawal" and record.sequence == 2
    assert not store.blobs.exists(lid)
    with pytest.raises(Gone):
        store.blob_path(lid)
    with pytest.raises(Gone):
        store.withdraw_own(lid, lambda seq: withdrawal_row(ME, lid, seq), 43)
    with pytest.raises(NotFound):
        store.withdraw_own(lid_of(99), lambda seq: withdrawal_row(ME, lid_of(99), seq), 43)
    with pytest.raises(NotFound):
        store.blob_path(lid_of(99))
    assert store.list_announcements(RecordFilter(), 10).rows == ()
    assert store.verify() == []


def test_republishing_a_withdrawn_learnware_announces_it_again(store):
    lid, _ = publish_bytes(store, ME, content_of(1))
    store.withdraw_own(lid, lambda seq: withdrawal_row(ME, lid, seq), 1)
    again, created = publish_bytes(store, ME, content_of(1))
    assert again == lid and created
    assert store.get_own(lid).status == "active" and store.get_own(lid).sequence == 3
    assert store.blob_path(lid).read_bytes() == content_of(1)
    assert store.verify() == []


def test_an_own_announcement_signed_again_takes_the_next_sequence_in_place(store):
    from lwnode.node.records import sign_again

    lid, _ = publish_bytes(store, ME, content_of(1))
    other, _ = publish_bytes(store, ME, content_of(2))
    first = announcement_of(store.get_record(ME.node_id, lid))
    row = store.renew_own(lid, lambda seq: sign_again(ME, first, sequence=seq, now=9))
    assert row.sequence == 3 and store.get_record(ME.node_id, lid) == row
    again = announcement_of(row)
    assert again == dataclasses.replace(first, sequence=3)  # the same statement
    assert store.get_own(lid).sequence == 3 and store.blob_path(lid).exists()
    assert store.owners() == [(ME.node_id, 3, 2)]
    with pytest.raises(StoreError, match="make_record"):  # another sequence is refused
        store.renew_own(lid, lambda seq: sign_again(ME, first, sequence=seq + 1, now=9))
    assert store.get_record(ME.node_id, lid).sequence == 3
    store.withdraw_own(other, lambda seq: withdrawal_row(ME, other, seq), 5)
    with pytest.raises(Gone):
        store.renew_own(other, lambda seq: sign_again(ME, first, sequence=seq, now=9))
    with pytest.raises(NotFound):
        store.renew_own(lid_of(99), lambda seq: sign_again(ME, first, sequence=seq, now=9))
    assert store.verify() == []


def test_concurrent_publishes_get_unique_sequences(store):
    errors = []

    def work(i):
        try:
            publish_bytes(store, ME, content_of(i))
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = sorted(s for _, s in store.owner_sequences(ME.node_id))
    assert seqs == list(range(1, 13))
    assert store.verify() == []


# -- peers' records -----------------------------------------------------------------------------
def test_replay_rule_keeps_only_newer_records(store):
    lid = lid_of(5)
    assert store.put_record(announcement_row(PEER, lid, 3))
    assert not store.put_record(announcement_row(PEER, lid, 3))
    assert not store.put_record(announcement_row(PEER, lid, 2))
    assert store.put_record(withdrawal_row(PEER, lid, 4))
    assert not store.put_record(announcement_row(PEER, lid, 4))
    assert store.get_record(PEER.node_id, lid).kind == "withdrawal"
    assert store.put_record(announcement_row(PEER, lid, 9))
    assert store.get_record(PEER.node_id, lid).sequence == 9
    assert store.records_for(lid)[0].owner == PEER.node_id


def test_bulk_records_follow_the_same_rule_in_one_transaction(store):
    rows = [announcement_row(PEER, lid_of(1), 2), announcement_row(PEER, lid_of(1), 1),
            announcement_row(PEER, lid_of(2), 1), withdrawal_row(PEER, lid_of(1), 5)]
    assert store.put_records(rows) == [True, False, True, True]
    assert store.get_record(PEER.node_id, lid_of(1)).kind == "withdrawal"
    with pytest.raises(sqlite3.IntegrityError):
        store.put_records([announcement_row(PEER, lid_of(3), 1), RecordRow(
            PEER.node_id, lid_of(4), 0, "announcement", b"x", 0)])
    assert store.get_record(PEER.node_id, lid_of(3)) is None  # all or nothing


def test_listing_filters_in_sql_and_pages_without_gaps(store):
    for i in range(14):
        semantic = tiny_semantic(f"model {'alpha' if i % 2 else 'beta'} {i}",
                                 task="classification" if i % 3 == 0 else "regression",
                                 scenarios=("retail",) if i < 5 else ("health", "nature"))
        owner = PEER if i % 2 else OTHER
        store.put_record(announcement_row(owner, lid_of(i), i + 1, semantic=semantic))
    store.put_record(withdrawal_row(PEER, lid_of(100), 1))
    everything = store.list_announcements(RecordFilter(), 100).rows
    assert len(everything) == 14
    seen, cursor = [], None
    while True:
        page = store.list_announcements(RecordFilter(), 4, cursor)
        seen += [r.learnware_id for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [r.learnware_id for r in everything] and len(set(seen)) == 14

    def ids(**kw):
        return {r.learnware_id for r in store.list_announcements(RecordFilter(**kw), 100).rows}

    assert ids(task_type="classification") == {lid_of(i) for i in range(0, 14, 3)}
    assert ids(owner=PEER.node_id) == {lid_of(i) for i in range(1, 14, 2)}
    assert ids(scenarios=("retail",)) == {lid_of(i) for i in range(5)}
    assert ids(scenarios=("nature", "retail")) == {lid_of(i) for i in range(14)}
    assert ids(name="ALPHA") == {lid_of(i) for i in range(1, 14, 2)}
    assert ids(name="%") == set()
    assert ids(data_type="image") == set()
    assert store.get_record(PEER.node_id, lid_of(1)).scenarios == ("retail",)
    assert store.get_record(PEER.node_id, lid_of(5)).scenarios == ("health", "nature")
    with pytest.raises(BadRequest, match="cursor"):
        store.list_announcements(RecordFilter(), 4, "not-a-cursor")


def test_anti_entropy_queries(store):
    for seq in (1, 2, 5):
        store.put_record(announcement_row(PEER, lid_of(seq), seq))
    store.put_record(withdrawal_row(PEER, lid_of(2), 7))
    assert [r.sequence for r in store.records_after(PEER.node_id, 1, 10)] == [5, 7]
    assert [r.sequence for r in store.records_after(PEER.node_id, 1, 1)] == [5]
    assert dict(store.owner_sequences(PEER.node_id)) == {lid_of(1): 1, lid_of(2): 7,
                                                         lid_of(5): 5}
    assert store.owners() == [(PEER.node_id, 7, 3)]


def test_peers_are_upserted_keeping_first_seen(store):
    store.upsert_peer(PeerRow(PEER.node_id, "12D3Koo", "org b", "http://b", ("/ip4/1/tcp/2",),
                              last_seen=10))
    store.upsert_peer(PeerRow(PEER.node_id, "12D3Koo", "org b2", "http://b", (), last_seen=20))
    (peer,) = store.list_peers()
    assert (peer.organization, peer.first_seen, peer.last_seen) == ("org b2", 10, 20)
    assert store.counts().peers == 1
    store.remove_peer(PEER.node_id)
    assert store.list_peers() == []


# -- verification and recovery ----------------------------------------------------------------
def test_verify_finds_each_kind_of_damage_and_recover_repairs_what_a_crash_leaves(store):
    lid, _ = publish_bytes(store, ME, content_of(1))
    gone, _ = publish_bytes(store, ME, content_of(2))
    path = store.blob_path(lid)
    os.chmod(path, 0o600)
    path.write_bytes(b"rotten")
    store.blob_path(gone).unlink()
    orphan = store.blobs.writer()
    orphan.write(b"orphan")
    store.blobs.commit(orphan, orphan.content_id())
    leftover = store.blobs.writer()
    leftover.write(b"half an upload")
    kinds = sorted(p.kind for p in store.verify())
    assert kinds == ["bad_blob", "missing_blob", "orphan_blob", "temp_file"]
    assert [p.kind for p in store.verify(deep=False)].count("bad_blob") == 0
    recovered = store.recover()
    assert recovered.temp_files == 1 and len(recovered.orphan_blobs) == 1
    assert sorted(p.kind for p in store.verify()) == ["bad_blob", "missing_blob"]


def test_catalog_rebuilt_from_the_store_holds_the_same_announcements(store):
    for i in range(6):
        store.put_record(announcement_row(PEER, lid_of(i), i + 1, spec=tiny_spec(i, loc=i)))
    store.put_record(withdrawal_row(PEER, lid_of(0), 10))
    mine, _ = publish_bytes(store, ME, content_of(50))
    catalog = NodeCatalog()
    assert catalog.rebuild(store) == 6
    assert catalog.ids() == {r.learnware_id for r in store.iter_announcements(batch=2)}
    assert catalog.locations(mine)[0].owner == ME.node_id


# -- file store specifics -------------------------------------------------------------------
def test_file_store_keeps_everything_across_reopen(tmp_path):
    with FileStore(tmp_path / "s") as s:
        lid, _ = publish_bytes(s, ME, content_of(1))
        s.put_record(announcement_row(PEER, lid_of(9), 4))
        s.upsert_peer(PeerRow(PEER.node_id, last_seen=1))
    with FileStore(tmp_path / "s") as s:
        assert s.get_own(lid).status == "active" and s.blob_path(lid).read_bytes() == \
            content_of(1)
        assert s.get_record(PEER.node_id, lid_of(9)).sequence == 4
        assert s.last_sequence(ME.node_id) == 1 and len(s.list_peers()) == 1
        assert s.verify() == []
        mode = s._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700


def test_a_store_cannot_be_opened_twice(tmp_path):
    with FileStore(tmp_path / "s"), pytest.raises(StoreError, match="in use"):
        FileStore(tmp_path / "s")
    FileStore(tmp_path / "s").close()


def test_a_newer_schema_is_refused(tmp_path):
    FileStore(tmp_path / "s").close()
    conn = sqlite3.connect(tmp_path / "s" / "lwnode.sqlite3")
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this lwnode"):
        FileStore(tmp_path / "s")


def test_a_corrupt_database_is_a_store_error(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "lwnode.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        FileStore(tmp_path / "s")


def test_migrations_apply_once_in_order_and_roll_back_on_failure(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    extra = Migration(LATEST_VERSION + 1, "notes", ("CREATE TABLE notes (x TEXT)",))
    assert migrate(conn, (*MIGRATIONS, extra)) == LATEST_VERSION + 1
    assert migrate(conn, (*MIGRATIONS, extra)) == LATEST_VERSION + 1
    broken = Migration(LATEST_VERSION + 2, "broken", ("CREATE TABLE more (y TEXT)",
                                                      "CREATE TABLE notes (x TEXT)"))
    with pytest.raises(StoreError, match="migration"):
        migrate(conn, (*MIGRATIONS, extra, broken))
    assert schema_version(conn) == LATEST_VERSION + 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "more" not in tables and "notes" in tables
    with pytest.raises(StoreError, match="not 1, 2, 3"):
        migrate(conn, (extra,))


def test_memory_store_removes_its_blobs_on_close():
    s = MemoryStore()
    publish_bytes(s, ME, content_of(1))
    root = s.blobs.root
    assert root.exists()
    s.close()
    assert not root.exists()
    assert isinstance(s, SqliteStore)


def test_a_new_store_has_pages_that_hold_a_summary_and_an_old_one_keeps_its_own(tmp_path):
    """A signed summary (~1.1 kB) sits in its B-tree page at 8 kB pages instead of
    taking an overflow page of its own; an existing database keeps the size it has."""
    from lwnode.node.store.sqlite import DB_NAME, PAGE_SIZE

    with FileStore(tmp_path / "new") as s:
        s.put_record(announcement_row(PEER, lid_of(1), 1))
    conn = sqlite3.connect(tmp_path / "new" / DB_NAME)
    assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 8192
    conn.close()
    (tmp_path / "old").mkdir()
    conn = sqlite3.connect(tmp_path / "old" / DB_NAME)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("CREATE TABLE t (x)")  # the page size is fixed by the first write
    conn.close()
    with FileStore(tmp_path / "old") as s:
        s.put_record(announcement_row(PEER, lid_of(1), 1))
        assert s.get_record(PEER.node_id, lid_of(1)) is not None
    conn = sqlite3.connect(tmp_path / "old" / DB_NAME)
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    conn.close()


def _v3_store(path) -> tuple[list[RecordRow], tuple[str, int]]:
    """A database as a node of schema 3 left it: records keyed by (owner, id) with
    tags beside them, an own learnware, a withdrawal. Returns its records and its
    (epoch, last change)."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:3])
    rows = [announcement_row(PEER, lid_of(i), 1, semantic=tiny_semantic(
        f"model {i}", scenarios=("shared", f"only{i}"))) for i in range(6)]
    rows.append(withdrawal_row(OTHER, lid_of(2), 2))
    rows.append(announcement_row(ME, lid_of(9), 1))
    for change, r in enumerate(rows, start=1):
        conn.execute("INSERT INTO records (owner, learnware_id, sequence, kind, envelope, "
                     "received_at, organization, name, data_type, task_type, library, "
                     "license, package_size, change) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (r.owner, r.learnware_id, r.sequence, r.kind, r.envelope, 5,
                      r.organization, r.name, r.data_type, r.task_type, r.library, r.license,
                      r.package_size, change * 3))
        conn.executemany("INSERT INTO record_tags (owner, learnware_id, tag) VALUES (?, ?, ?)",
                         [(r.owner, r.learnware_id, t) for t in r.scenarios])
    conn.execute("INSERT INTO own_learnwares (learnware_id, owner, size, status, report, "
                 "published_at) VALUES (?, ?, 10, 'active', '{}', 7)", (lid_of(9), ME.node_id))
    conn.execute("INSERT INTO sequences (owner, last_issued) VALUES (?, 1)", (ME.node_id,))
    mark = conn.execute("SELECT value FROM store_meta WHERE key = 'epoch'").fetchone()[0], \
        conn.execute("SELECT MAX(change) FROM records").fetchone()[0]
    conn.close()
    return rows, mark


def test_a_schema_3_store_opens_with_its_records_tags_and_change_numbers(tmp_path):
    """Migration 4 (records keyed by change number) keeps every record byte for byte,
    its tags, its change number and the epoch, so a persisted catalog index written
    before the upgrade is still the store's; and it gives the old pages back."""
    from lwnode.node.store.sqlite import DB_NAME

    (tmp_path / "s").mkdir()
    rows, mark = _v3_store(tmp_path / "s" / DB_NAME)
    with FileStore(tmp_path / "s") as s:
        assert s.schema_version() == LATEST_VERSION >= 4
        assert s.change_mark() == mark == (mark[0], 24)
        for r in rows:
            assert s.get_record(r.owner, r.learnware_id) == RecordRow(
                **{**r.__dict__, "received_at": 5, "scenarios": tuple(sorted(r.scenarios))})
        assert [c for c, _ in s.changes_after(10)] == [12, 15, 18, 21, 24]
        page = s.list_announcements(RecordFilter(scenarios=("only3",)), 10)
        assert [r.learnware_id for r in page.rows] == [lid_of(3)]
        assert s.counts().announcements == 7 and s.counts().withdrawals == 1
        assert s.get_own(lid_of(9)).sequence == 1 and s.verify(deep=False) == [
            p for p in s.verify(deep=False) if p.kind == "missing_blob"]
        # a write after the upgrade takes the next change number and replaces the tags
        assert s.put_record(announcement_row(PEER, lid_of(0), 2, semantic=tiny_semantic(
            "model 0", scenarios=("new",))))
        assert s.change_mark()[1] == 25 and s.get_record(PEER.node_id, lid_of(0)).scenarios \
            == ("new",)
        assert s.list_announcements(RecordFilter(scenarios=("only0",)), 10).rows == ()
        tables = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master")}
        assert "records_v4" not in tables and "records_by_change" not in tables
        assert s._conn.execute("PRAGMA freelist_count").fetchone()[0] == 0  # vacuumed
        stored = [bytes(e) for (e,) in s._conn.execute("SELECT envelope FROM records")]
        assert all(e[0] == packing.PACKED for e in stored)  # deflated by the migration
        assert sum(map(len, stored)) < 0.8 * sum(len(r.envelope) for r in rows)
        assert s._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        kept = s._conn.execute("SELECT learnware_id FROM records UNION ALL "
                               "SELECT learnware_id FROM own_learnwares").fetchall()
        assert len(kept) == 9 and all(isinstance(i, bytes) and len(i) == 32 for (i,) in kept)
        listed = [r.learnware_id for r in s.list_announcements(RecordFilter(), 3).rows]
        listed += [r.learnware_id for r in s.list_announcements(
            RecordFilter(), 10, s.list_announcements(RecordFilter(), 3).next_cursor).rows]
        assert listed == sorted(r.learnware_id for r in rows if r.kind == "announcement")


def test_the_record_tables_keep_no_index_their_queries_do_not_use(store):
    """Each index costs bytes per record (at a million summaries a node keeps them
    all): every one left must be one some query of the store searches."""
    conn = store._conn
    indexes = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
        "('records', 'record_tags') AND sql IS NOT NULL")}
    assert indexes == {"records_by_owner_sequence", "records_withdrawn"}
    plans = {q: " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {q}", args))
             for q, args in [
                 ("SELECT * FROM records WHERE owner = ? AND sequence > ? ORDER BY sequence",
                  ("o", 1)),
                 ("SELECT COUNT(*) FROM records WHERE kind = 'withdrawal'", ()),
                 ("SELECT * FROM records WHERE learnware_id = ? ORDER BY owner", ("x",)),
                 ("SELECT * FROM records WHERE change > ? ORDER BY change", (1,)),
                 ("SELECT DISTINCT owner FROM records NOT INDEXED WHERE change > ?", (1,))]}
    assert list(plans.values()) == [
        "SEARCH records USING INDEX records_by_owner_sequence (owner=? AND sequence>?)",
        "SEARCH records USING COVERING INDEX records_withdrawn (kind=?)",
        "SEARCH records USING INDEX sqlite_autoindex_records_1 (learnware_id=?)",
        "SEARCH records USING INTEGER PRIMARY KEY (rowid>?)",
        "SEARCH records USING INTEGER PRIMARY KEY (rowid>?) USE TEMP B-TREE FOR DISTINCT"]


def test_envelopes_are_kept_deflated_and_read_back_byte_for_byte(store):
    row = announcement_row(PEER, lid_of(1), 1)
    store.put_record(row)
    (stored,) = store._conn.execute("SELECT envelope FROM records").fetchone()
    assert stored[:2] == bytes((packing.PACKED, packing.VERSION)) and len(stored) < \
        0.8 * len(row.envelope)
    assert store.get_record(PEER.node_id, lid_of(1)).envelope == row.envelope
    assert [r.envelope for _, r in store.changes_after(0)] == [row.envelope]
    # a row kept as it came (before schema 4, or not smaller deflated) reads as it is
    store._conn.execute("UPDATE records SET envelope = ?", (row.envelope,))
    assert store.get_record(PEER.node_id, lid_of(1)).envelope == row.envelope
    # an id that is not a content id (the protocol sends none) is kept as its text
    odd = RecordRow(**{**row.__dict__, "learnware_id": "not-a-content-id"})
    assert store.put_record(odd) and store.get_record(PEER.node_id, "not-a-content-id") == odd
    assert [r.learnware_id for r in store.records_for("not-a-content-id")] == [
        "not-a-content-id"]
    store._conn.execute("UPDATE records SET envelope = ?", (b"\xc1\x07" + stored[2:],))
    with pytest.raises(StoreError, match="dictionary version 7"):
        store.get_record(PEER.node_id, lid_of(1))


def test_the_envelope_dictionary_never_changes_under_a_version():
    """Stored envelopes need the dictionary they were deflated with: changing it means
    a new `packing.VERSION` (and keeping the old one to read)."""
    import hashlib

    assert packing.VERSION == 1 and len(packing.DICTIONARY) == 848
    assert hashlib.sha256(packing.DICTIONARY).hexdigest()[:16] == "5e3920cd4c86c581"
    assert packing.pack(b"\x80") == b"\x80"  # not smaller: kept as it is


def test_a_vacuum_log_a_reader_kept_is_truncated_once_the_reader_is_gone(tmp_path):
    """A vacuum writes the whole database into the write-ahead log; the checkpoint that
    should truncate it cannot while a reader (the index rewrite's snapshot) holds an
    older view, and the disk budget counts the log. `settle_log` truncates it later."""
    from lwnode.node.store.sqlite import DB_NAME

    with FileStore(tmp_path) as s:
        s.put_records([announcement_row(PEER, lid_of(i), 1) for i in range(200)])
        for i in range(150):
            s.put_record(withdrawal_row(PEER, lid_of(i), 2))
        reader = sqlite3.connect(f"file:{tmp_path / DB_NAME}?mode=ro", uri=True,
                                 isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM records").fetchone()  # holds its snapshot
        s.reclaim(force=True)
        log = tmp_path / (DB_NAME + "-wal")
        assert log.stat().st_size > 0  # the vacuum's pages wait in the log
        s.settle_log()
        assert log.stat().st_size > 0  # still read: nothing to do yet
        reader.close()
        s.settle_log()
        assert log.stat().st_size == 0
