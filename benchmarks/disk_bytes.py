"""Bytes on disk per known learnware: the store's tables and indexes, the index's arrays.

    python -m benchmarks.disk_bytes [--summaries 100000] [--spaces 20] [--keep DIR]

The store of one node is filled with N signed summaries of `node_bench`'s
summaries-at-scale market (1,000 organizations with Zipf shares, 20 table spaces,
real sketches; `benchmarks.node_bench.fill_summaries`), then the persisted catalog
index is written from it as a node's first start does (`catalog.write_segment`).
Printed: every SQLite table and index (the ``dbstat`` virtual table: pages, the
bytes of the rows they hold, bytes per learnware), the database file and its WAL,
and every array file of the index, each per learnware and extrapolated to 1,000,000
(bytes per learnware x 10^6: the per-learnware cost does not depend on N, apart from
the few per-owner and per-term tables). Issue 18's target is 1 GB a node at
1,000,000 learnwares with every learnware kept.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine, print_table
from benchmarks.node_bench import SketchMarket, fill_summaries
from lwnode.home import NodeHome
from lwnode.node.catalog import NodeCatalog, write_segment
from lwnode.node.store import FileStore


def sqlite_rows(database: Path, n: int) -> tuple[list[list[Any]], int]:
    """One row per table and index of the database (dbstat), and the file's bytes."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        stats = conn.execute(
            "SELECT name, COUNT(*), SUM(pgsize), SUM(payload), SUM(unused) FROM dbstat "
            "GROUP BY name ORDER BY SUM(pgsize) DESC").fetchall()
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_schema").fetchall())
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        conn.close()
    rows = [[f"sqlite {kinds.get(name, 'table')}", name, pages, f"{size / 2**20:,.1f}",
             f"{payload / 2**20:,.1f}", f"{unused / max(size, 1):.0%}", f"{size / n:,.0f}",
             f"{size / n * 1e6 / 1e9:.3f}"] for name, pages, size, payload, unused in stats]
    if free:
        rows.append(["sqlite", "(free pages)", free, f"{free * page_size / 2**20:,.1f}", "", "",
                     f"{free * page_size / n:,.0f}", f"{free * page_size / n * 1e6 / 1e9:.3f}"])
    return rows, database.stat().st_size


def index_rows(index_dir: Path, n: int) -> tuple[list[list[Any]], int]:
    """One row per file of the persisted index, largest first, and their total."""
    files = sorted(index_dir.iterdir(), key=lambda f: -f.stat().st_size)
    rows = [["index file", f.name, "", f"{f.stat().st_size / 2**20:,.1f}", "", "",
             f"{f.stat().st_size / n:,.1f}", f"{f.stat().st_size / n * 1e6 / 1e9:.3f}"]
            for f in files]
    return rows, sum(f.stat().st_size for f in files)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summaries", type=int, default=100_000)
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--keep", default="", help="fill here and keep it (default: a "
                                                   "temporary directory, removed)")
    args = parser.parse_args(argv)
    n = args.summaries
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        home = NodeHome(root / "home")
        home.init("Holder")
        fill_s = fill_summaries(home, n, SketchMarket(args.spaces))
        store_dir = home.store_dir(home.config(env={}))
        index_dir = store_dir / "scratch" / "catalog-index"
        began = time.perf_counter()
        with FileStore(store_dir) as store:
            settings = NodeCatalog().index_settings(store.change_mark()[0], None)
            write_segment(store, index_dir, settings, None)
        index_s = time.perf_counter() - began
        database = store_dir / "lwnode.sqlite3"
        wal = database.with_name(database.name + "-wal")
        db_rows, db_bytes = sqlite_rows(database, n)
        ix_rows, ix_bytes = index_rows(index_dir, n)
        wal_bytes = wal.stat().st_size if wal.exists() else 0
    total = db_bytes + ix_bytes
    rows = db_rows + ix_rows + [
        ["total", "database file", "", f"{db_bytes / 2**20:,.1f}", "", "", f"{db_bytes / n:,.0f}",
         f"{db_bytes / n * 1e6 / 1e9:.3f}"],
        ["total", "index files", "", f"{ix_bytes / 2**20:,.1f}", "", "", f"{ix_bytes / n:,.0f}",
         f"{ix_bytes / n * 1e6 / 1e9:.3f}"],
        ["total", "database + index", "", f"{total / 2**20:,.1f}", "", "", f"{total / n:,.0f}",
         f"{total / n * 1e6 / 1e9:.3f}"]]
    print_table(f"Bytes on disk at N = {n:,} summaries, {args.spaces} spaces (fill {fill_s:.0f} s,"
                f" index written in {index_s:.1f} s; WAL after close {wal_bytes:,} B; "
                f"{machine()})",
                ["part", "name", "pages", "MiB", "payload MiB", "unused", "B / learnware",
                 "GB at 1M (extrapolated)"], rows)


if __name__ == "__main__":
    main()
