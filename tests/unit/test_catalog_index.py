"""The persisted catalog index (`lwnode.node.segment`) against the in-memory catalog.

A real `FileStore` of signed summaries and announcements from several owners; the
catalog rebuilt with the segment (written, then reopened and replayed) must answer
every question as the catalog rebuilt in memory from the same store does: ids,
locations, shortlists with their sketch estimates, semantic-only search, what to
fetch, owners of a spec, input specs. A segment that is damaged or belongs to
another store or other settings is written anew, never read.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from lwtesting import announcement_row, tiny_semantic, tiny_spec, until, withdrawal_row

from engine.search import Requirement
from engine.specification.semantic import SemanticSpec
from lwnode.config import load_config
from lwnode.node.catalog import NodeCatalog, write_segment
from lwnode.node.records import announcement_of, own_summary, row_of
from lwnode.node.searchtypes import SearchQuery
from lwnode.node.segment import META
from lwnode.node.service import NodeService
from lwnode.node.store import FileStore
from lwnode.node.store.schema import MIGRATIONS, migrate
from protocol.codec import decode_envelope
from protocol.signing import Identity, verify

OWNERS = [Identity.from_seed(bytes([31, i]) * 16) for i in range(3)]
NAMES = ["river flow forecaster", "house price regressor", "sensor drift model"]


def lid(i: int) -> str:
    return f"sha256:{i:064x}"


def summary_row(identity: Identity, i: int, sequence: int = 1, *, d: int = 4):
    """The signed summary of learnware i, as an owner gossips it."""
    full = announcement_row(identity, lid(i), sequence, spec=tiny_spec(seed=i, d=d, loc=i % 5),
                            semantic=tiny_semantic(NAMES[i % 3], d=d,
                                                   scenarios=(f"tag{i % 4}",)),
                            organization=f"org {identity.node_id[:6]}")
    envelope = own_summary(identity, announcement_of(full))
    return row_of(decode_envelope(envelope), verify(envelope), 0)


def fill(store: FileStore, n: int = 40) -> None:
    """n summarised learnwares of three owners (some offered by two), one full
    announcement of an id also summarised, and a withdrawn one."""
    rows = [summary_row(OWNERS[i % 3], i) for i in range(n)]
    rows += [summary_row(OWNERS[(i + 1) % 3], i) for i in range(0, n, 7)]  # second owners
    rows.append(announcement_row(OWNERS[2], lid(3), 5, spec=tiny_spec(seed=3, loc=3),
                                 semantic=tiny_semantic(NAMES[0], scenarios=("tag3",))))
    store.put_records(rows)
    store.put_records([withdrawal_row(OWNERS[1], lid(4), 2)])


def requirements() -> list[Requirement]:
    out = [Requirement(spec=tiny_spec(seed=100 + j, loc=j % 5)) for j in range(4)]
    out.append(Requirement(semantic=SemanticSpec(scenarios=("tag1",)),
                           spec=tiny_spec(seed=200, loc=1)))
    out.append(Requirement(semantic=SemanticSpec(name="forecaster"), spec=tiny_spec(seed=201)))
    return out


class Close:
    """Numbers that compare equal within float32 rounding."""

    def __init__(self, values: object) -> None:
        self.values = np.asarray(values, dtype=float)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Close) and self.values.shape == other.values.shape and \
            bool(np.allclose(self.values, other.values, rtol=1e-6, atol=1e-7))

    def __repr__(self) -> str:
        return f"Close({self.values.tolist()})"


def answers(catalog: NodeCatalog) -> dict[str, object]:
    """Everything a node asks its catalog, in comparable form."""
    ids = sorted(catalog.ids())
    shortlists = []
    for req in requirements():
        s = catalog.shortlist(req)
        # estimates as float32 sums over blocks of other sizes: equal to ~1e-8
        shortlists.append(([m.id for m in s.matches], s.n_candidates, s.to_fetch,
                           Close([(m.mmd2, m.score) for m in s.matches])))
    semantic = [[(m.id, m.score) for m in catalog.search(
        Requirement(semantic=SemanticSpec(name=w) if w else None), 7, 1).single]
        for w in ("river forecaster", "house", "")]
    return {"n": len(catalog), "ids": ids,
            "where": {i: catalog.locations(i) for i in ids},
            "summarised": [catalog.summarised(i) for i in ids],
            "inputs": [catalog.input_of(i) for i in ids],
            "fetch": catalog.to_fetch(ids),
            "spec owners": [catalog.owners_of_spec(t.spec_id) for t in catalog.to_fetch(ids)],
            "shortlists": shortlists, "semantic": semantic,
            "gammas": catalog.gammas(tiny_spec().space)}


def in_memory(store: FileStore) -> NodeCatalog:
    catalog = NodeCatalog()
    catalog.rebuild(store)
    return catalog


def with_index(store: FileStore, path) -> NodeCatalog:
    catalog = NodeCatalog()
    catalog.rebuild(store, index_dir=path)
    return catalog


@pytest.fixture
def store(tmp_path):
    with FileStore(tmp_path / "store") as s:
        fill(s)
        yield s


def test_a_catalog_on_the_segment_answers_as_the_one_in_memory(store, tmp_path):
    index = tmp_path / "index"
    first = with_index(store, index)
    assert first.index_note == "no index written yet" and (index / META).exists()
    expected = answers(in_memory(store))
    assert answers(first) == expected
    assert expected["n"] == 39  # 40 ids, one withdrawn by its only owner
    again = with_index(store, index)  # opened, nothing to replay
    assert again.index_note == "" and again.mapped_bytes() > 0
    assert answers(again) == expected
    # the segment holds the summarised ones; the id with a full announcement is in
    # the full catalog, with the summaries' owners still among its locations
    assert not again.summarised(lid(3)) and len(again.locations(lid(3))) == 2


def test_records_written_after_the_segment_are_replayed(store, tmp_path):
    index = tmp_path / "index"
    with_index(store, index)
    store.put_records([
        summary_row(OWNERS[0], 100),  # a new learnware
        withdrawal_row(OWNERS[2], lid(2), 3),  # a segment entry's only owner leaves
        withdrawal_row(OWNERS[0], lid(0), 3),  # one of two owners leaves
        summary_row(OWNERS[2], 9, sequence=4),  # another owner offers a segment entry
        summary_row(OWNERS[0], 6, sequence=7),  # an owner's newer sequence
        announcement_row(OWNERS[1], lid(10), 9, spec=tiny_spec(seed=10, loc=0),
                         semantic=tiny_semantic(NAMES[1], scenarios=("tag2",))),  # goes full
    ])
    replayed = with_index(store, index)
    assert replayed.index_note == ""
    assert answers(replayed) == answers(in_memory(store))
    assert lid(2) not in replayed.ids() and lid(100) in replayed.ids()
    assert [loc.sequence for loc in replayed.locations(lid(6))] == [7]
    assert not replayed.summarised(lid(10))


def test_changes_while_running_match_a_fresh_rebuild(store, tmp_path):
    catalog = with_index(store, tmp_path / "index")
    changes = [summary_row(OWNERS[1], 200), withdrawal_row(OWNERS[1], lid(1), 2),
               withdrawal_row(OWNERS[2], lid(5), 2), summary_row(OWNERS[2], 5, sequence=3),
               summary_row(OWNERS[0], 12, sequence=2), withdrawal_row(OWNERS[0], lid(12), 3)]
    for row in changes:
        assert store.put_record(row)
        catalog.apply(row)
    assert answers(catalog) == answers(in_memory(store))
    assert lid(1) not in catalog.ids() and lid(12) not in catalog.ids()
    assert [loc.owner for loc in catalog.locations(lid(5))] == [OWNERS[2].node_id]


@pytest.fixture
def ann_everywhere(monkeypatch):
    """Vector indexes for every space and every search (the thresholds at 1), and a
    count of the searches that asked one."""
    import engine.search.sketch_ann as sketch_ann
    import lwnode.node.catalog as module

    monkeypatch.setattr(sketch_ann, "ANN_MIN_ROWS", 1)
    monkeypatch.setattr(module, "ANN_MIN_CANDIDATES", 1)
    asked = []
    real = module.nearest_by_index

    def counted(*args, **kwargs):
        found = real(*args, **kwargs)
        asked.append(found is not None)
        return found

    monkeypatch.setattr(module, "nearest_by_index", counted)
    return asked


def test_a_segment_with_vector_indexes_answers_as_the_scan_written_reopened_and_replayed(
        store, tmp_path, ann_everywhere):
    index = tmp_path / "index"
    first = with_index(store, index)
    space = tiny_spec().space
    assert sorted(p.name for p in index.glob("ann-*.faiss")) and \
        first._segment is not None and first._segment.ann(space) is not None
    expected = answers(in_memory(store))
    assert answers(first) == expected
    # the searches without a narrow filter were the index's (a narrow one is scanned)
    assert ann_everywhere.count(True) >= 4 and ann_everywhere.count(False) >= 1
    again = with_index(store, index)  # mapped, nothing to replay
    assert again.index_note == "" and again._segment.ann(space) is not None
    assert answers(again) == expected
    # changes on top of it: a new learnware, withdrawals (dead rows the index still
    # holds must never come back), another owner
    changes = [summary_row(OWNERS[1], 200), withdrawal_row(OWNERS[1], lid(1), 2),
               withdrawal_row(OWNERS[2], lid(5), 2), summary_row(OWNERS[2], 5, sequence=3),
               withdrawal_row(OWNERS[2], lid(2), 3)]
    for row in changes:
        assert store.put_record(row)
        again.apply(row)
    assert answers(again) == answers(in_memory(store))
    assert answers(with_index(store, index)) == answers(in_memory(store))  # replayed
    shortlisted = {m.id for req in requirements() for m in again.shortlist(req).matches}
    assert lid(1) not in shortlisted and lid(2) not in shortlisted


def test_a_damaged_vector_index_is_written_anew(store, tmp_path, ann_everywhere):
    index = tmp_path / "index"
    with_index(store, index)
    for file in index.glob("ann-*.faiss"):
        file.write_bytes(file.read_bytes()[:100])
    again = with_index(store, index)
    assert "vector index" in again.index_note
    assert answers(again) == answers(in_memory(store))
    assert with_index(store, index).index_note == ""


def test_a_segment_without_the_vector_index_a_space_needs_is_written_anew(
        store, tmp_path, monkeypatch):
    import engine.search.sketch_ann as sketch_ann

    index = tmp_path / "index"
    with_index(store, index)  # no space reaches the threshold: no vector index
    assert not list(index.glob("ann-*.faiss"))
    monkeypatch.setattr(sketch_ann, "ANN_MIN_ROWS", 1)  # as after the upgrade to them
    again = with_index(store, index)
    assert "no vector index" in again.index_note and list(index.glob("ann-*.faiss"))
    assert answers(again) == answers(in_memory(store))


def damage_meta(path) -> None:
    (path / META).write_text("{not json")


def damage_array(path) -> None:
    owners = np.load(path / "offer_owner.npy")
    owners[0] = 10**6
    np.save(path / "offer_owner.npy", owners)


def truncate_codes(path) -> None:
    data = (path / "codes.npy").read_bytes()
    (path / "codes.npy").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage, why", [
    (damage_meta, "meta.json"), (damage_array, "out of range"), (truncate_codes, "codes.npy")])
def test_a_damaged_segment_is_written_anew(store, tmp_path, damage, why):
    index = tmp_path / "index"
    with_index(store, index)
    damage(index)
    again = with_index(store, index)
    assert why in again.index_note
    assert answers(again) == answers(in_memory(store))
    assert with_index(store, index).index_note == ""


def test_a_segment_of_another_store_or_settings_is_not_read(store, tmp_path):
    index = tmp_path / "index"
    with_index(store, index)
    with FileStore(tmp_path / "other") as other:  # another database: another epoch
        other.put_records([summary_row(OWNERS[0], 1)])
        catalog = with_index(other, index)
        assert "written for" in catalog.index_note and sorted(catalog.ids()) == [lid(1)]
    catalog = NodeCatalog()
    catalog.rebuild(store, max_points=3, index_dir=index)  # a lower [budget] spec_points
    assert "written for" in catalog.index_note and len(catalog) == 0 and catalog.skipped


def test_a_segment_written_long_ago_is_rewritten_not_replayed(store, tmp_path, monkeypatch):
    import lwnode.node.catalog as module

    index = tmp_path / "index"
    with_index(store, index)
    monkeypatch.setattr(module, "REWRITE_AFTER", 2)
    store.put_records([summary_row(OWNERS[0], 300 + i) for i in range(15)])
    again = with_index(store, index)
    assert again.index_note == "15 records written since"
    assert answers(again) == answers(in_memory(store))


def test_the_migration_numbers_existing_records_and_draws_an_epoch(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:2])
    rows = [summary_row(OWNERS[i % 3], i) for i in range(5)]
    for r in rows:
        conn.execute("INSERT INTO records (owner, learnware_id, sequence, kind, envelope, "
                     "received_at) VALUES (?, ?, ?, ?, ?, ?)",
                     (r.owner, r.learnware_id, r.sequence, r.kind, r.envelope, 0))
    migrate(conn)
    changes = sorted(c for (c,) in conn.execute("SELECT change FROM records"))
    assert changes == [1, 2, 3, 4, 5]
    (epoch,) = conn.execute("SELECT value FROM store_meta WHERE key = 'epoch'").fetchone()
    assert len(epoch) == 32 and json.dumps(epoch)
    conn.close()


def test_every_write_takes_a_new_change_number(store):
    epoch, last = store.change_mark()
    store.put_records([summary_row(OWNERS[0], 0, sequence=9), summary_row(OWNERS[0], 500)])
    assert store.change_mark() == (epoch, last + 2)
    assert [(c, r.learnware_id) for c, r in store.changes_after(last)] == [
        (last + 1, lid(0)), (last + 2, lid(500))]
    assert not store.put_records([summary_row(OWNERS[0], 500)])[0]  # not newer: no write
    assert store.change_mark() == (epoch, last + 2)


def test_a_rewrite_from_a_snapshot_leaves_the_next_start_little_to_replay(store, tmp_path):
    index = tmp_path / "index"
    catalog = with_index(store, index)
    for i in range(600, 630):
        row = summary_row(OWNERS[i % 3], i)
        store.put_record(row)
        catalog.apply(row)
    assert catalog.changes_since_index() == 30
    snapshot, seen = store.snapshot(), catalog.changes_since_index()
    later = [summary_row(OWNERS[0], 700), withdrawal_row(OWNERS[0], lid(600), 2)]
    for row in later:  # written while the rewrite reads the snapshot
        store.put_record(row)
        catalog.apply(row)
    try:
        change = write_segment(snapshot, index,
                               catalog.index_settings(snapshot.change_mark()[0], None), None)
    finally:
        snapshot.close()
    catalog.index_rewritten(seen, 70)
    assert change == store.change_mark()[1] - 2
    assert catalog.changes_since_index() == 2  # the two after the snapshot
    assert answers(catalog) == answers(in_memory(store))  # the running one is unchanged
    reopened = with_index(store, index)
    assert reopened.index_note == "" and reopened.changes_since_index() == 2
    assert answers(reopened) == answers(in_memory(store))
    assert lid(700) in reopened.ids() and lid(600) not in reopened.ids()


def test_what_an_interrupted_write_left_is_removed_and_the_index_read(store, tmp_path):
    index = tmp_path / "index"
    with_index(store, index)
    (tmp_path / ".index-k3j2").mkdir()  # a writer killed before its rename
    (tmp_path / ".index-k3j2" / "codes.npy").write_bytes(b"half")
    again = with_index(store, index)
    assert again.index_note == "" and not (tmp_path / ".index-k3j2").exists()


async def test_a_node_rewrites_its_index_in_the_background(tmp_path, monkeypatch):
    import lwnode.node.service as service_module

    monkeypatch.setattr(service_module, "INDEX_REWRITE_AFTER", 5)
    config = load_config(None, env={}, overrides={"checks": {"isolation": "thread"}})
    identity = Identity.from_seed(bytes([9]) * 32)

    async def started(store: FileStore) -> NodeService:
        service = NodeService(config, identity, store, scratch=tmp_path / "scratch")
        await service.start()
        return service

    with FileStore(tmp_path / "store") as store:
        service = await started(store)
        try:
            assert service.catalog.index_note == "no index written yet"
            first = json.loads((tmp_path / "scratch/catalog-index" / META).read_text())
            running = service.catalog
            for i in range(8):
                envelope = own_summary(OWNERS[i % 3], announcement_of(
                    announcement_row(OWNERS[i % 3], lid(i), 1, spec=tiny_spec(seed=i))))
                assert await service.receive_record(envelope)
            await until(lambda: json.loads((tmp_path / "scratch/catalog-index" / META)
                                           .read_text())["n_entries"] >= 5,
                        "the index rewritten in the background")
            await until(lambda: service._rewriting is None, "the rewrite done")
            shown = (await service.health())["catalog_index"]
            assert shown["entries"] >= 5 and shown["changes_since"] <= 3
            assert shown["rewriting"] is False and shown["mapped_bytes"] > 0
            # the running node moved to the new index: what it held in memory is mapped
            moved = service.catalog
            assert moved is not running and moved.index_size() == shown["entries"]
            assert moved.ids() == {lid(i) for i in range(8)}
            assert len(moved._sketches) == 8 - moved.index_size()
            assert await service.receive_record(own_summary(OWNERS[0], announcement_of(
                announcement_row(OWNERS[0], lid(50), 1, spec=tiny_spec(seed=50)))))
            assert lid(50) in service.catalog.ids()
            hits = await service.search_local(SearchQuery(Requirement(spec=tiny_spec(1)), 3, 1))
            assert hits.hits and all(h.approximate for h in hits.hits)  # owners offline
        finally:
            await service.stop()
        assert first["n_entries"] == 0
        service = await started(store)
        try:  # the next start maps the rewritten index and replays the rest
            assert service.catalog.index_note == ""
            assert service.catalog.ids() == {lid(i) for i in range(8)} | {lid(50)}
            assert service.catalog.changes_since_index() <= 4
        finally:
            await service.stop()


def test_digests_recompute_only_the_owners_whose_records_changed(store, monkeypatch):
    from lwnode.federation.antientropy import Digests, digest_entries

    digests, read = Digests(), []
    real = store.owner_sequences
    monkeypatch.setattr(store, "owner_sequences",
                        lambda o, filters=(): read.append(o) or real(o, filters))

    def entries(start: str = "") -> list[str]:
        """The cached digest (checked against a fresh one); the owners it read."""
        read.clear()
        got = digests.entries(store, start)
        owners = list(read)
        assert got == digest_entries(store, start)
        return owners

    assert len(entries()) == 3
    assert entries() == []  # nothing changed: every fingerprint kept
    changes = [withdrawal_row(OWNERS[1], lid(1), 7),  # a replaced record: same count
               summary_row(OWNERS[1], 5, sequence=2)]  # an older sequence than the max
    for row in changes:
        assert store.put_record(row)
        assert entries() == [OWNERS[1].node_id]
    assert entries(OWNERS[0].node_id[:6]) == []  # a range


async def test_a_record_stored_while_the_new_catalog_is_built_reaches_it(tmp_path, monkeypatch):
    import lwnode.node.service as service_module

    monkeypatch.setattr(service_module, "INDEX_REWRITE_AFTER", 5)
    config = load_config(None, env={}, overrides={"checks": {"isolation": "thread"}})
    real = NodeCatalog.rebuild
    late = summary_row(OWNERS[2], 77)

    def rebuild_then_a_record_arrives(catalog, store, *args):
        n = real(catalog, store, *args)
        if args[-1] is False:  # the moving catalog's build: a record lands meanwhile
            assert store.put_record(late)
            service.catalog.apply(late)  # taken in by the catalog still running
        return n

    monkeypatch.setattr(NodeCatalog, "rebuild", rebuild_then_a_record_arrives)
    with FileStore(tmp_path / "store") as store:
        service = NodeService(config, Identity.from_seed(bytes([8]) * 32), store,
                              scratch=tmp_path / "scratch")
        await service.start()
        try:
            first = service.catalog
            for i in range(6):
                assert await service.receive_record(own_summary(OWNERS[i % 3], announcement_of(
                    announcement_row(OWNERS[i % 3], lid(i), 1, spec=tiny_spec(seed=i)))))
            await until(lambda: service.catalog is not first and service._rewriting is None,
                        "the catalog moved to the rewritten index")
            assert service.catalog.ids() == {lid(i) for i in range(6)} | {lid(77)}
            assert lid(77) in first.ids()  # the old one took it in too
        finally:
            await service.stop()


def test_store_counts_follow_every_write_though_kept_between_them(store):
    def fresh() -> tuple[int, int, int]:
        kinds = dict(store._query("SELECT kind, COUNT(*) FROM records GROUP BY kind"))
        owners = store._query("SELECT COUNT(DISTINCT owner) FROM records")[0][0]
        return kinds.get("announcement", 0), kinds.get("withdrawal", 0), owners

    def counted() -> tuple[int, int, int]:
        c = store.counts()
        return c.announcements, c.withdrawals, c.owners

    assert counted() == fresh() == counted()
    stranger = Identity.from_seed(bytes([77]) * 32)
    for row in (summary_row(OWNERS[0], 900),  # a new record
                withdrawal_row(OWNERS[0], lid(900), 5),  # one replaced: same count of rows
                summary_row(stranger, 901)):  # a new owner
        before = counted()
        assert store.put_record(row)
        assert counted() == fresh() != before


async def test_a_start_under_a_narrower_replication_filter_drops_what_it_no_longer_keeps(
        tmp_path):
    """Peers' learnwares outside [replication] leave the store at start (own ones and
    withdrawals stay), and the persisted index, of the old contents, is written anew."""
    identity = Identity.from_seed(bytes([9]) * 32)

    async def started(store: FileStore, replication: dict) -> NodeService:
        config = load_config(None, env={}, overrides={"checks": {"isolation": "thread"},
                                                      "replication": replication})
        service = NodeService(config, identity, store, scratch=tmp_path / "scratch")
        await service.start()
        return service

    with FileStore(tmp_path / "store") as store:
        fill(store)
        service = await started(store, {})
        everything = service.catalog.ids()
        await service.stop()
        before = store.counts()
        service = await started(store, {"scenarios": ["tag1"]})
        try:
            kept = service.catalog.ids()
            assert kept == {lid(i) for i in range(40) if i % 4 == 1} and kept < everything
            assert service.catalog.index_note  # the old index is of another epoch now
            after = store.counts()
            assert after.withdrawals == before.withdrawals
            assert after.announcements == sum(1 for r in store.iter_announcements()
                                              if "tag1" in r.scenarios)
        finally:
            await service.stop()


def offered(identity: Identity, i: int, name: str, urls: tuple[str, ...]):
    """Learnware i's summary as `identity` offers it, under `name` at `urls`."""
    from lwnode.node.records import sign_announcement

    full = sign_announcement(identity, learnware_id=lid(i), organization="mirror org",
                             semantic=tiny_semantic(name, scenarios=("tag1",)),
                             spec=tiny_spec(seed=i, loc=i % 5), size=77, urls=urls,
                             sequence=1, now=0)
    envelope = own_summary(identity, announcement_of(full))
    return row_of(decode_envelope(envelope), verify(envelope), 0)


def test_offers_keep_their_own_names_and_urls_on_the_segment(tmp_path):
    """The segment keeps an offer's name only when it is not its entry's, and its URLs
    as a template with the learnware id cut out: both come back as offered."""
    mirror = ("https://mirror.example/packages/one", f"http://h:1/x/{lid(1)}?again={lid(1)}")
    with FileStore(tmp_path / "s") as s:
        s.put_records([summary_row(OWNERS[0], 1), offered(OWNERS[1], 1, "a mirror's name",
                                                          mirror),
                       summary_row(OWNERS[0], 2), offered(OWNERS[2], 2, NAMES[2], mirror[:1])])
        index = tmp_path / "index"
        with_index(s, index)
        catalog = with_index(s, index)
        assert catalog.index_note == "" and catalog.summarised(lid(1))
        assert catalog.locations(lid(1)) == in_memory(s).locations(lid(1))
        assert catalog.locations(lid(2)) == in_memory(s).locations(lid(2))
        got = {loc.owner: (loc.name, loc.package_urls) for loc in catalog.locations(lid(1))}
        assert got[OWNERS[1].node_id] == ("a mirror's name", mirror)
        assert got[OWNERS[0].node_id][0] == NAMES[1]
        assert lid(1) in got[OWNERS[0].node_id][1][0]
        assert catalog.input_of(lid(2)) == tiny_semantic(NAMES[2]).input


def test_a_segment_of_the_first_format_is_written_anew(store, tmp_path):
    """Format 1 (text ids, JSON semantic specs, a name and URLs per offer) is not read:
    the first start after the upgrade writes format 2 from the store."""
    from lwnode.node.segment import FORMAT

    index = tmp_path / "index"
    with_index(store, index)
    meta = json.loads((index / META).read_text())
    assert meta["format"] == FORMAT == 2
    (index / META).write_text(json.dumps({**meta, "format": 1}))
    again = with_index(store, index)
    assert again.index_note == "format 1, this node writes 2"
    assert answers(again) == answers(in_memory(store))
    assert json.loads((index / META).read_text())["format"] == 2
