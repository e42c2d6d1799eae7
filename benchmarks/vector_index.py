"""Vector indexes for the sketch phase at a million summaries in one space (issue 18).

    python -m benchmarks.vector_index [--sizes 200000,1000000] [--only scan,faiss-ivf,...]
                                      [--cache /tmp/lwdock-vector-index] [--rest-load 1.0]

Data: the sketches a node holds, made by the project's own code with the generator of
`benchmarks.node_bench --summaries` (`SketchMarket`, one space: every learnware of
``table/d=4``, 100 base specs, each learnware's codes its base's plus noise, int8,
D = 256). From them the columns the persisted index keeps (`lwnode.node.segment`):
``codes``, ``scale``, ``gamma``, ``sq_norm``; entry i depends on i only, so a size is a
prefix of the largest. Requirements: `SketchMarket.query` (the node benchmark's
requests), embedded under the space's sketch map as the node embeds them. Written to
``--cache`` once (the codes are memory-mapped from there, as the node maps its own).

Exact: the node's scan (`engine.search.sketch_search.nearest_by_sketch` over every row)
gives each query's shortlist of `DEFAULT_SKETCH_SHORTLIST` = 100 (what
`SketchIndex.shortlist_for` and the node's segment scan keep).

Candidates, each asked for 200 rows nearest to the requirement's embedding e_q, whose
estimates are then recomputed from the node's own int8 codes (`approx_mmd2` on those
rows) to keep the best 100: so a candidate's shortlist is the exact one wherever its
200 hold it, and its estimates are the scan's.

- ``scan``: no index; the node's scan as it is.
- ``faiss-sq8``: faiss ``IndexScalarQuantizer`` 8-bit, brute force (a SIMD scan of a
  second copy of the codes, quantised per dimension).
- ``faiss-ivf``: faiss ``IndexIVFScalarQuantizer`` 8-bit, nlist ~ sqrt(N) (power of 2),
  trained on 64 x nlist rows; nprobe swept.
- ``usearch``: usearch HNSW, l2sq over int8 vectors quantised with one global scale
  ``sqrt(2/D)/127`` (the largest a sketch can need), connectivity 16, expansion_add
  128; expansion_search swept.
- ``hnswlib``: hnswlib HNSW, l2 over float32, M 16, ef_construction 128; ef swept.
- ``node-ivf``: what the node now builds for a large space (`engine.search.sketch_ann.
  SketchANN`: faiss IVF-SQ8 as above, one per gamma, nprobe `NPROBE`), searched
  through `nearest_by_index` (the requirement's embedding, the index, the rescoring):
  the node's own code path. It is never updated in place (a node keeps what arrives
  after the segment in memory and flags withdrawals dead), so no update costs.

The ANN indexes are fed the dequantised embeddings ``scale_i * codes_i`` (the vectors
whose squared distance to e_q is the node's estimate of MMD^2).

Each candidate runs in two fresh processes (one thread for search: OMP/BLAS threads 1,
the libraries' thread arguments 1; two for building). Build: build from the columns
(2 threads), write the index file (bytes on disk), then the cost of taking in 1,000 new
summaries one at a time and withdrawing 1,000 (or as many as 5 s allow) on the index
in memory. Open: a new process maps the columns (as the node does), imports the
library ("import ms": a node pays it at start-up too), then opens the index the
lightest way the library has (faiss ``IO_FLAG_MMAP_IFC``, usearch ``view``;
hnswlib can only load into the heap), timed ("open ms"), and the process's resident
set is read from /proc before, after opening and after the searches, split into
anonymous (heap) and file-backed (mapped) pages ("+ MB": growth over the process with
only the columns mapped; the file pages of the rescoring's code rows count too). The
page cache is warm (the index was just written). Then every setting is searched with
the same queries, one at a time: first query ("first ms"), p50/p95 over the test
queries, recall@100 (the share of the exact shortlist found) and top-5 kept (the
share of the exact scan's 5 best in the shortlist: what the exact re-rank on full
specs then orders, when full specs rank as their sketches do; this market has no
full specs). Queries 0-99 tune (the setting marked * is the cheapest whose top-5
kept on them is >= 0.99 and recall@100 >= 0.95), queries 100-299 test: the table
shows the test side.

Load: the machine's 1-minute load average is printed with every row (other work
shares the 2 cores); ``--rest-load X`` waits (up to 5 minutes) before each process
until it is below X.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common import machine, print_table
from engine.search.sketch import DEFAULT_SKETCH_FEATURES
from engine.search.sketch_search import DEFAULT_SKETCH_SHORTLIST

SHORTLIST = DEFAULT_SKETCH_SHORTLIST
POOL = 2 * SHORTLIST
"""Rows asked of an index, rescored on the node's codes to keep SHORTLIST."""
TUNE, TEST = range(0, 100), range(100, 300)
ADDS = 1000
GLOBAL_SCALE = float(np.sqrt(2.0 / DEFAULT_SKETCH_FEATURES) / 127)
KINDS = ("scan", "faiss-sq8", "faiss-ivf", "usearch", "hnswlib", "node-ivf")
SWEEPS: dict[str, tuple[int, ...]] = {"scan": (0,), "faiss-sq8": (0,), "node-ivf": (0,),
                                      "faiss-ivf": (4, 8, 16, 32, 64),
                                      "usearch": (200, 400, 800), "hnswlib": (200, 400, 800)}
SWEPT = {"scan": "-", "faiss-sq8": "-", "faiss-ivf": "nprobe", "usearch": "ef",
         "hnswlib": "ef"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# -- data -------------------------------------------------------------------------------------
def make_data(cache: Path, n: int) -> None:
    """The columns of n + ADDS sketches and the queries' specs, into `cache`."""
    from benchmarks.node_bench import SketchMarket

    if (cache / "meta.json").exists() and \
            json.loads((cache / "meta.json").read_text())["n"] >= n + ADDS:
        return
    cache.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    market = SketchMarket(spaces=1)
    total = n + ADDS
    codes = np.empty((total, DEFAULT_SKETCH_FEATURES), dtype=np.int8)
    floats = {name: np.empty(total) for name in ("scale", "gamma", "sq_norm")}
    for i in range(total):
        sketch = market.sketch(i)
        codes[i] = np.frombuffer(sketch.codes, dtype=np.int8)
        vector = sketch.vector()
        floats["scale"][i], floats["gamma"][i] = sketch.scale, sketch.gamma
        floats["sq_norm"][i] = float(vector @ vector)
        if i % 100_000 == 0:
            print(f"  sketches {i:,}/{total:,} {time.perf_counter() - began:.0f} s",
                  file=sys.stderr)
    np.save(cache / "codes.npy", codes)
    for name, values in floats.items():
        np.save(cache / f"{name}.npy", values)
    queries = [json.loads(market.query(j))["statistical"] for j in range(TEST.stop)]
    (cache / "queries.json").write_text(json.dumps(queries))
    (cache / "meta.json").write_text(json.dumps({"n": total}))


def columns(cache: Path, n: int) -> dict[str, NDArray[Any]]:
    """The first n rows of the columns, memory-mapped (as the segment maps them)."""
    return {name: np.load(cache / f"{name}.npy", mmap_mode="r").view(np.ndarray)[:n]
            for name in ("codes", "scale", "gamma", "sq_norm")}


def query_specs(cache: Path) -> list[Any]:
    """The queries' specs (as the node decodes a request's)."""
    from engine.specification import spec_from_dict

    return [spec_from_dict(q) for q in json.loads((cache / "queries.json").read_text())]


def dequantised(cols: dict[str, NDArray[Any]], start: int, stop: int) -> NDArray[np.float32]:
    return (cols["codes"][start:stop].astype(np.float32)
            * cols["scale"][start:stop, None].astype(np.float32))


def exact_shortlists(cache: Path, n: int) -> NDArray[np.int64]:
    """Each query's exact shortlist (rows, best first), by the node's scan."""
    from engine.search.sketch_search import nearest_by_sketch

    path = cache / f"exact-{n}.npy"
    if path.exists():
        return np.load(path)
    cols = columns(cache, n)
    specs = query_specs(cache)
    rows = np.arange(n)
    out = np.stack([nearest_by_sketch(s, cols, rows, SHORTLIST,
                                      n_features=DEFAULT_SKETCH_FEATURES, version=1)[0]
                    for s in specs])
    np.save(path, out)
    return out


def rescore(cols: dict[str, NDArray[Any]], rows: NDArray[np.int64], e_q: NDArray[np.float64],
            gamma: float) -> NDArray[np.int64]:
    """The SHORTLIST best of `rows` by the node's estimate from its own codes."""
    from engine.search.sketch_search import approx_mmd2

    rows = np.unique(rows[rows >= 0])
    approx = approx_mmd2(cols, rows, {gamma: e_q})
    if len(rows) > SHORTLIST:
        keep = np.argpartition(approx, SHORTLIST - 1)[:SHORTLIST]
        rows, approx = rows[keep], approx[keep]
    return rows[np.argsort(approx, kind="stable")]


# -- the candidates ---------------------------------------------------------------------------
def _i8(vectors: NDArray[np.float32]) -> NDArray[np.int8]:
    return np.clip(np.rint(vectors / GLOBAL_SCALE), -127, 127).astype(np.int8)


def _nlist(n: int) -> int:
    return int(2 ** round(np.log2(np.sqrt(n))))


def build(kind: str, cols: dict[str, NDArray[Any]], n: int, threads: int) -> Any:
    """The index of the first n rows (ids = rows)."""
    chunk = 100_000
    d = DEFAULT_SKETCH_FEATURES
    if kind == "node-ivf":
        import faiss

        from engine.search.sketch_ann import SketchANN

        faiss.omp_set_num_threads(threads)
        return SketchANN.build(cols["codes"][:n], cols["scale"][:n], cols["gamma"][:n])
    if kind.startswith("faiss"):
        import faiss

        faiss.omp_set_num_threads(threads)
        if kind == "faiss-sq8":
            index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
            train = n
        else:
            nlist = _nlist(n)
            index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(d), d, nlist,
                                                  faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
            train = min(n, 64 * nlist)
        sample = np.sort(np.random.default_rng(0).choice(n, size=min(train, 200_000),
                                                         replace=False))
        index.train(cols["codes"][sample].astype(np.float32)
                    * cols["scale"][sample, None].astype(np.float32))
        for start in range(0, n, chunk):
            index.add(dequantised(cols, start, min(n, start + chunk)))
        return index
    if kind == "usearch":
        from usearch.index import Index

        index = Index(ndim=d, metric="l2sq", dtype="i8", connectivity=16, expansion_add=128)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            index.add(np.arange(start, stop), _i8(dequantised(cols, start, stop)),
                      threads=threads)
        return index
    if kind == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2", dim=d)
        index.init_index(max_elements=n + ADDS, ef_construction=128, M=16)
        index.set_num_threads(threads)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            index.add_items(dequantised(cols, start, stop), np.arange(start, stop))
        return index
    raise ValueError(kind)


def save(kind: str, index: Any, path: Path) -> None:
    if kind == "node-ivf":
        path.mkdir()
        (path / "names.json").write_text(json.dumps(index.write(path, "ann")))
    elif kind.startswith("faiss"):
        import faiss

        faiss.write_index(index, str(path))
    elif kind == "usearch":
        index.save(str(path))
    else:
        index.save_index(str(path))


def open_index(kind: str, path: Path, n: int) -> Any:
    if kind == "node-ivf":
        from engine.search.sketch_ann import SketchANN

        return SketchANN.open(path, json.loads((path / "names.json").read_text()))
    if kind.startswith("faiss"):
        import faiss

        faiss.omp_set_num_threads(1)
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    if kind == "usearch":
        from usearch.index import Index

        return Index.restore(str(path), view=True)
    import hnswlib

    index = hnswlib.Index(space="l2", dim=DEFAULT_SKETCH_FEATURES)
    index.load_index(str(path), max_elements=n + ADDS)
    index.set_num_threads(1)
    return index


def set_param(kind: str, index: Any, value: int) -> None:
    if kind == "faiss-ivf":
        index.nprobe = value
    elif kind == "usearch":
        index.expansion_search = value
    elif kind == "hnswlib":
        index.set_ef(value)


def ann(kind: str, index: Any, e_q: NDArray[np.float64]) -> NDArray[np.int64]:
    """Rows the index returns for e_q (POOL of them)."""
    q = e_q.astype(np.float32)[None]
    if kind.startswith("faiss"):
        return index.search(q, POOL)[1][0].astype(np.int64)
    if kind == "usearch":
        return np.asarray(index.search(_i8(q[0]), POOL, threads=1).keys, dtype=np.int64)
    return index.knn_query(q, k=POOL, num_threads=1)[0][0].astype(np.int64)


def add_one(kind: str, index: Any, row: int, vector: NDArray[np.float32]) -> None:
    if kind.startswith("faiss"):
        index.add(vector[None]) if kind == "faiss-sq8" else \
            index.add_with_ids(vector[None], np.array([row], dtype=np.int64))
    elif kind == "usearch":
        index.add(row, _i8(vector), threads=1)
    else:
        index.add_items(vector[None], np.array([row]))


def remove_one(kind: str, index: Any, row: int) -> None:
    if kind.startswith("faiss"):
        index.remove_ids(np.array([row], dtype=np.int64))
    elif kind == "usearch":
        index.remove(row, threads=1)
    else:
        index.mark_deleted(row)


def one_thread(kind: str, index: Any) -> None:
    """Imports the candidate's library (before memory is read) and sets it to one thread."""
    if kind.startswith("faiss") or kind == "node-ivf":
        import faiss

        faiss.omp_set_num_threads(1)
    elif kind == "usearch":
        import usearch.index  # noqa: F401
    elif kind == "hnswlib":
        import hnswlib  # noqa: F401

        if index is not None:
            index.set_num_threads(1)


# -- the two processes of a candidate -------------------------------------------------------
def status_mb() -> dict[str, float]:
    from benchmarks.node_bench import memory_mb

    return memory_mb(os.getpid())


def child_build(kind: str, cache: Path, n: int, path: Path) -> dict[str, Any]:
    cols = columns(cache, n + ADDS)
    began = time.perf_counter()
    index = build(kind, cols, n, threads=2)
    build_s = time.perf_counter() - began
    save(kind, index, path)
    disk_mb = sum(f.stat().st_size for f in path.iterdir()) / 2**20 if path.is_dir() else \
        path.stat().st_size / 2**20
    if kind == "node-ivf":  # never updated: new entries and withdrawals live beside it
        return {"build_s": build_s, "disk_mb": disk_mb, "add_us": 0.0, "added": 0,
                "remove_us": 0.0, "removed": 0, "peak_mb": status_mb()["VmHWM"]}
    one_thread(kind, index)  # updates arrive one at a time, as searches do
    rng = np.random.default_rng(4)
    added = removed = 0
    began = time.perf_counter()
    for row in range(n, n + ADDS):
        add_one(kind, index, row, dequantised(cols, row, row + 1)[0])
        added += 1
        if time.perf_counter() - began > 5:
            break
    add_us = (time.perf_counter() - began) / added * 1e6
    began = time.perf_counter()
    for row in rng.choice(n, size=ADDS, replace=False):
        remove_one(kind, index, int(row))
        removed += 1
        if time.perf_counter() - began > 5:
            break
    remove_us = (time.perf_counter() - began) / removed * 1e6
    return {"build_s": build_s, "disk_mb": disk_mb, "add_us": add_us,
            "added": added, "remove_us": remove_us, "removed": removed,
            "peak_mb": status_mb()["VmHWM"]}


def child_open(kind: str, cache: Path, n: int, path: Path, exact_path: Path) -> dict[str, Any]:
    from engine.search.sketch_search import nearest_by_index, nearest_by_sketch

    cols = columns(cache, n)
    specs = query_specs(cache)
    exact = np.load(exact_path)
    gamma = float(cols["gamma"][0])
    began = time.perf_counter()
    one_thread(kind, None)
    import_ms = (time.perf_counter() - began) * 1e3
    base = status_mb()
    began = time.perf_counter()
    index = open_index(kind, path, n) if kind != "scan" else None
    open_ms = (time.perf_counter() - began) * 1e3
    opened = status_mb()
    every = np.arange(n)

    def shortlist(j: int) -> NDArray[np.int64]:
        if kind == "node-ivf":
            found = nearest_by_index(specs[j], cols, None, SHORTLIST, index,
                                     n_features=DEFAULT_SKETCH_FEATURES, version=1)
            return np.zeros(0, np.int64) if found is None else found[0]
        if index is None:
            return nearest_by_sketch(specs[j], cols, every, SHORTLIST,
                                     n_features=DEFAULT_SKETCH_FEATURES, version=1)[0]
        from engine.search.sketch import embedding

        e_q = embedding(specs[j], gamma)  # timed as the node pays it
        return rescore(cols, ann(kind, index, e_q), e_q, gamma)

    rows = []
    for value in SWEEPS[kind]:
        set_param(kind, index, value)
        began = time.perf_counter()
        shortlist(0)
        first_ms = (time.perf_counter() - began) * 1e3
        times, recall, top5 = [], [], []
        for j in [*TUNE, *TEST]:
            began = time.perf_counter()
            got = shortlist(j)
            times.append((time.perf_counter() - began) * 1e3)
            recall.append(len(np.intersect1d(got, exact[j])) / SHORTLIST)
            top5.append(len(np.intersect1d(got, exact[j][:5])) / 5)
        test = slice(TEST.start, TEST.stop)
        rows.append({"value": value, "first_ms": first_ms,
                     "p50": float(np.percentile(times[test], 50)),
                     "p95": float(np.percentile(times[test], 95)),
                     "recall": float(np.mean(recall[test])), "top5": float(np.mean(top5[test])),
                     "tune_recall": float(np.mean(recall[:TUNE.stop])),
                     "tune_top5": float(np.mean(top5[:TUNE.stop])),
                     "min_top5": float(np.min(top5[test]))})
    after = status_mb()
    return {"import_ms": import_ms, "open_ms": open_ms, "base": base, "opened": opened,
            "after": after, "rows": rows, "load": os.getloadavg()[0]}


def run_child(args: list[str], rest_load: float | None) -> dict[str, Any]:
    if rest_load is not None:
        waited = time.monotonic()
        while os.getloadavg()[0] >= rest_load and time.monotonic() - waited < 300:
            time.sleep(5)
    load = os.getloadavg()[0]
    env = {**os.environ, **ONE_THREAD}
    out = subprocess.run([sys.executable, "-m", "benchmarks.vector_index", "--child", *args],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "?",
                "load_at_start": load}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_at_start"] = load
    return result


# -- tables -----------------------------------------------------------------------------------
def measure(n: int, kinds: list[str], cache: Path, work: Path, rest_load: float | None
            ) -> tuple[list[list[Any]], list[list[Any]]]:
    exact_path = cache / f"exact-{n}.npy"
    began = time.perf_counter()
    exact_shortlists(cache, n)
    print(f"  exact shortlists at {n:,}: {time.perf_counter() - began:.0f} s", file=sys.stderr)
    search_rows, build_rows = [], []
    for kind in kinds:
        path = work / f"{kind}-{n}.index"
        built: dict[str, Any] = {}
        if kind != "scan":
            built = run_child(["build", kind, str(cache), str(n), str(path)], None)
            print(f"  {kind} {n:,} built: {built}", file=sys.stderr)
            if "error" in built:
                build_rows.append([f"{n:,}", kind, built["error"][:60], "", "", "", "", ""])
                continue
            build_rows.append([f"{n:,}", kind, f"{built['build_s']:.1f}",
                               f"{built['disk_mb']:.0f}", f"{built['peak_mb']:.0f}",
                               f"{built['add_us']:.0f} ({built['added']})" if built["added"]
                               else "-",
                               f"{built['remove_us']:.0f} ({built['removed']})"
                               if built["removed"] else "-",
                               f"{built['load_at_start']:.1f}"])
        opened = run_child(["open", kind, str(cache), str(n), str(path), str(exact_path)],
                           rest_load)
        print(f"  {kind} {n:,} searched: {opened}", file=sys.stderr)
        if "error" in opened:
            search_rows.append([f"{n:,}", kind, opened["error"][:60]] + [""] * 12)
            continue
        b, o, a = opened["base"], opened["opened"], opened["after"]
        picked = [r for r in opened["rows"] if r["tune_top5"] >= 0.99 and r["tune_recall"] >= 0.95]
        best = min(picked, key=lambda r: r["p50"])["value"] if picked else None
        for r in opened["rows"]:
            mark = "*" if r["value"] == best and len(opened["rows"]) > 1 else ""
            search_rows.append([
                f"{n:,}", kind, f"{r['value'] or '-'}{mark}", f"{opened['import_ms']:.0f}",
                f"{opened['open_ms']:.0f}",
                f"{o['RssAnon'] - b['RssAnon']:.0f} + {o['RssFile'] - b['RssFile']:.0f}",
                f"{a['RssAnon'] - b['RssAnon']:.0f} + {a['RssFile'] - b['RssFile']:.0f}",
                f"{r['first_ms']:.1f}", f"{r['p50']:.1f}", f"{r['p95']:.1f}",
                f"{r['recall']:.3f}", f"{r['top5']:.3f}", f"{r['min_top5']:.1f}",
                f"{opened['load_at_start']:.1f}-{opened['load']:.1f}"])
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return search_rows, build_rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, kind, cache, n, path = sys.argv[2:7]
        if mode == "build":
            out = child_build(kind, Path(cache), int(n), Path(path))
        else:
            out = child_open(kind, Path(cache), int(n), Path(path), Path(sys.argv[7]))
        print(json.dumps(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--only", default=",".join(KINDS),
                        help=f"candidates, comma-separated, of {','.join(KINDS)}")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) /
                                               "lwdock-vector-index"))
    parser.add_argument("--rest-load", type=float, default=None,
                        help="wait (<= 5 min) for the 1-minute load average to fall below "
                             "this before each search process")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    kinds = [k for k in args.only.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}")
    cache = Path(args.cache)
    make_data(cache, max(sizes))
    search_rows, build_rows = [], []
    with tempfile.TemporaryDirectory(dir=cache) as work:
        for n in sizes:
            s, b = measure(n, kinds, cache, Path(work), args.rest_load)
            search_rows += s
            build_rows += b
    versions = []
    for name in ("faiss-cpu", "usearch", "hnswlib"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    print_table(f"Open and search: one space, shortlist {SHORTLIST} ({machine()}; "
                f"{', '.join(versions)})",
                ["N", "index", "setting", "import ms", "open ms", "anon + file MB at open",
                 "anon + file MB after", "first ms", "p50 ms", "p95 ms", "recall@100",
                 "top-5 kept", "worst query top-5", "load"], search_rows)
    print_table(f"Build and updates ({machine()})",
                ["N", "index", "build s (2 threads)", "disk MB", "build peak RSS MB",
                 "add us (n)", "delete us (n)", "load"], build_rows)


if __name__ == "__main__":
    main()
