"""The database schema, as an ordered list of migrations.

The schema version is SQLite's ``PRAGMA user_version``. Opening a database applies
every migration above its version, each in one transaction together with the new
version number, so a crash mid-migration leaves the previous version intact. A
database newer than this code is refused rather than misread.

To change the schema, append a `Migration` (never edit a released one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from lwnode.errors import StoreError
from lwnode.node.store.packing import pack, stored_id


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, own learnwares, sequences, peers", (
        """CREATE TABLE records (
            owner         TEXT    NOT NULL,
            learnware_id  TEXT    NOT NULL,
            sequence      INTEGER NOT NULL CHECK (sequence >= 1),
            kind          TEXT    NOT NULL CHECK (kind IN ('announcement', 'withdrawal')),
            envelope      BLOB    NOT NULL,
            received_at   INTEGER NOT NULL,
            organization  TEXT    NOT NULL DEFAULT '',
            name          TEXT    NOT NULL DEFAULT '',
            data_type     TEXT    NOT NULL DEFAULT '',
            task_type     TEXT    NOT NULL DEFAULT '',
            library       TEXT    NOT NULL DEFAULT '',
            license       TEXT    NOT NULL DEFAULT '',
            package_size  INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (owner, learnware_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX records_by_owner_sequence ON records (owner, sequence)",
        "CREATE INDEX records_by_kind_id ON records (kind, learnware_id, owner)",
        """CREATE TABLE record_tags (
            owner         TEXT NOT NULL,
            learnware_id  TEXT NOT NULL,
            tag           TEXT NOT NULL,
            PRIMARY KEY (owner, learnware_id, tag),
            FOREIGN KEY (owner, learnware_id) REFERENCES records (owner, learnware_id)
                ON DELETE CASCADE
        ) WITHOUT ROWID""",
        "CREATE INDEX record_tags_by_tag ON record_tags (tag)",
        """CREATE TABLE own_learnwares (
            learnware_id  TEXT    PRIMARY KEY,
            owner         TEXT    NOT NULL,
            size          INTEGER NOT NULL CHECK (size > 0),
            status        TEXT    NOT NULL CHECK (status IN ('active', 'withdrawn')),
            report        TEXT    NOT NULL,
            published_at  INTEGER NOT NULL,
            withdrawn_at  INTEGER,
            FOREIGN KEY (owner, learnware_id) REFERENCES records (owner, learnware_id)
        )""",
        """CREATE TABLE sequences (
            owner        TEXT    PRIMARY KEY,
            last_issued  INTEGER NOT NULL CHECK (last_issued >= 0)
        )""",
        """CREATE TABLE peers (
            node_id       TEXT    PRIMARY KEY,
            peer_id       TEXT    NOT NULL DEFAULT '',
            organization  TEXT    NOT NULL DEFAULT '',
            http_url      TEXT    NOT NULL DEFAULT '',
            multiaddrs    TEXT    NOT NULL DEFAULT '[]',
            first_seen    INTEGER NOT NULL,
            last_seen     INTEGER NOT NULL
        )""",
    )),
    Migration(2, "organization names pinned to owners (trust on first use)", (
        """CREATE TABLE pins (
            organization  TEXT    PRIMARY KEY,
            owner         TEXT    NOT NULL,
            public_key    BLOB    NOT NULL,
            first_seen    INTEGER NOT NULL
        )""",
    )),
    Migration(3, "a change number per record and a store epoch (the persisted catalog index "
                 "replays what changed after the number it was written at)", (
        "ALTER TABLE records ADD COLUMN change INTEGER NOT NULL DEFAULT 0",
        # number the rows kept so far 1..n, so every record has its own change number
        """UPDATE records SET change = numbered.n FROM (
            SELECT owner, learnware_id, row_number() OVER (ORDER BY owner, learnware_id) AS n
            FROM records) AS numbered
            WHERE records.owner = numbered.owner
              AND records.learnware_id = numbered.learnware_id""",
        "CREATE INDEX records_by_change ON records (change)",
        """CREATE TABLE store_meta (
            key    TEXT PRIMARY KEY,
            value  TEXT NOT NULL
        ) WITHOUT ROWID""",
        "INSERT INTO store_meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))))",
    )),
    Migration(4, "records keyed by their change number, tags by it too; indexes a store "
                 "at a million summaries needs only; envelopes deflated "
                 "(`lwnode.node.store.packing`)", (
        # A rowid table whose rowid is the change number: the index by change goes
        # (the table is in that order), and each index entry names its row by a
        # 1-4 byte number instead of repeating (owner, learnware id), 107 bytes. The
        # unique key in (learnware id, owner) order also serves the listings in id
        # order and the look-ups by id that the index by (kind, id, owner) served.
        # The small columns come first and the envelope last, deflated
        # (``lw_pack_envelope``: `packing.pack`, which `migrate` provides); learnware
        # ids as digests (``lw_stored_id``: `packing.stored_id`). Change numbers and
        # the epoch are kept, so the persisted catalog index stays valid.
        """CREATE TABLE records_v4 (
            change        INTEGER PRIMARY KEY,
            owner         TEXT    NOT NULL,
            learnware_id  TEXT    NOT NULL,
            sequence      INTEGER NOT NULL CHECK (sequence >= 1),
            kind          TEXT    NOT NULL CHECK (kind IN ('announcement', 'withdrawal')),
            received_at   INTEGER NOT NULL,
            organization  TEXT    NOT NULL DEFAULT '',
            name          TEXT    NOT NULL DEFAULT '',
            data_type     TEXT    NOT NULL DEFAULT '',
            task_type     TEXT    NOT NULL DEFAULT '',
            library       TEXT    NOT NULL DEFAULT '',
            license       TEXT    NOT NULL DEFAULT '',
            package_size  INTEGER NOT NULL DEFAULT 0,
            envelope      BLOB    NOT NULL,
            UNIQUE (learnware_id, owner)
        )""",
        """INSERT INTO records_v4 (change, owner, learnware_id, sequence, kind, received_at,
            organization, name, data_type, task_type, library, license, package_size,
            envelope)
            SELECT change, owner, lw_stored_id(learnware_id), sequence, kind, received_at,
                   organization,
                   name, data_type, task_type, library, license, package_size,
                   lw_pack_envelope(envelope)
            FROM records ORDER BY change""",
        """CREATE TABLE record_tags_v4 (
            record  INTEGER NOT NULL REFERENCES records (change) ON DELETE CASCADE,
            tag     TEXT    NOT NULL,
            PRIMARY KEY (record, tag)
        ) WITHOUT ROWID""",
        """INSERT INTO record_tags_v4 (record, tag)
            SELECT r.change, t.tag FROM record_tags t JOIN records r
            ON r.owner = t.owner AND r.learnware_id = t.learnware_id""",
        # (foreign keys are off while migrating: `SqliteStore` turns them on after)
        "DROP TABLE record_tags",
        "DROP TABLE records",
        "UPDATE own_learnwares SET learnware_id = lw_stored_id(learnware_id)",
        "ALTER TABLE records_v4 RENAME TO records",
        "ALTER TABLE record_tags_v4 RENAME TO record_tags",
        "CREATE INDEX records_by_owner_sequence ON records (owner, sequence)",
        # the tombstones alone (few), so counting the kinds does not read every row
        "CREATE INDEX records_withdrawn ON records (kind) WHERE kind = 'withdrawal'",
    )),
)

LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database to the last of `migrations`; returns the version reached.

    `conn` must be in autocommit mode (``isolation_level=None``) so each migration
    is exactly one explicit transaction. Foreign keys are off while migrating (a
    migration may rebuild a table others refer to: SQLite's way is to create the new
    one, copy, drop the old one and rename) and checked after each migration; the
    connection's setting is restored after.
    """
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migrations: versions {versions} are not 1, 2, 3, ...")
    current = schema_version(conn)
    latest = versions[-1] if versions else 0
    if current > latest:
        raise StoreError(f"database schema version {current} is newer than this lwnode "
                         f"understands ({latest}); upgrade lwnode")
    conn.create_function("lw_pack_envelope", 1, pack, deterministic=True)
    conn.create_function("lw_stored_id", 1, stored_id, deterministic=True)
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        _apply(conn, migrations[current:])
    finally:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")
    return schema_version(conn)


def _apply(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    for m in migrations:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # (a store broken before is `Store.verify`'s to report, not a reason to stop)
            broken_before = conn.execute("PRAGMA foreign_key_check").fetchall()
            for statement in m.statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(m.version)}")
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if len(broken) > len(broken_before):
                raise StoreError(f"migration {m.version} ({m.description}) left "
                                 f"{len(broken)} rows whose references fail (before: "
                                 f"{len(broken_before)}), e.g. {tuple(broken[-1])}")
            conn.execute("COMMIT")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"migration {m.version} ({m.description}) failed: {exc}"
                                 ) from None
            raise
