"""The node's persistent state: SQLite for records and rows, a directory for packages.

==============  ================================================================
module          holds
==============  ================================================================
``base.py``     the `Store` interface and its rows (`RecordRow`, `OwnLearnware`...)
``sqlite.py``   `SqliteStore` with `FileStore` (a node's disk) and `MemoryStore`
``blobs.py``    `BlobDir`: content-addressed package files, atomic and verified
``schema.py``   the schema as ordered migrations (``PRAGMA user_version``)
``packing.py``  signed envelopes as stored: deflated with a preset dictionary
==============  ================================================================
"""

from lwnode.node.store.base import (
    ANNOUNCEMENT,
    WITHDRAWAL,
    Counts,
    OwnLearnware,
    Page,
    PeerRow,
    Problem,
    RecordFilter,
    RecordRow,
    Recovery,
    Store,
)
from lwnode.node.store.blobs import BlobDir, BlobWriter
from lwnode.node.store.sqlite import FileStore, MemoryStore, SqliteStore, open_store

__all__ = ["ANNOUNCEMENT", "WITHDRAWAL", "BlobDir", "BlobWriter", "Counts", "FileStore",
           "MemoryStore", "OwnLearnware", "Page", "PeerRow", "Problem", "RecordFilter",
           "RecordRow", "Recovery", "SqliteStore", "Store", "open_store"]
