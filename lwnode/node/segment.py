"""The persisted, memory-mapped index of the learnwares a node knows by summary.

At a million known learnwares, decoding every stored summary at start-up takes
minutes (~0.14 ms each) and an index of Python objects takes gigabytes. The node
keeps instead, in its scratch directory, one *segment*: every summarised
learnware's sketch, semantic-filter fields, ids and offers as flat numpy arrays,
written once and memory-mapped when the node starts. Its pages are read on demand
and belong to the page cache, not to the process's anonymous memory.

A segment is immutable and states the store change number it reflects
(`Store.change_mark`). At start-up the node opens it, checks that it belongs to
this store (the store's epoch) and to these settings (sketch size, quantisation
and version, ``[budget] spec_points``), and replays only the records written after
that number (`Store.changes_after`); `NodeCatalog` keeps what changes while it runs
in its in-memory indexes, with per-entry and per-offer "dead" flags over the
segment. A segment that does not fit is rebuilt from the store.

Layout of the directory (``meta.json`` plus one ``.npy`` file per array; entries
are grouped by comparison space, so one space's sketches are one slice):

- entries (N): ``codes`` (N x D), ``scale``, ``gamma``, ``sq_norm``, ``input_dim``,
  the semantic class codes, ``ids`` / ``spec_ids`` (N x 32: the content ids' sha256
  digests, which the protocol checks every id is) with ``*_keys`` / ``*_key_rows``
  (hashed keys, sorted: look-ups are binary searches) and ``ids_order`` (the rows in
  id order), and ``semantic`` (each entry's semantic spec as compact JSON, deflated
  with the preset dictionary `SEMANTIC_DICT`, in a blob with offsets: ~47 bytes
  instead of ~278; only a few rows are ever read per search);
- offers (M, grouped by entry): ``offer_start`` (N + 1), ``offer_owner``,
  ``offer_org``, ``offer_size``, ``offer_sequence``; ``offer_name`` (-1: the name of
  the entry's semantic spec, as nearly always; else a row of the ``names`` blob) and
  ``offer_urls`` (a row of the ``url_templates`` blob: the JSON list of package URLs
  with the learnware id cut out, so an owner's URLs are one template whatever the
  number of its learnwares);
- the semantic filter's inverted indices as CSR posting lists (``tag_*``,
  ``stem_*``: sorted terms, starts, rows);
- ``full``: the (owner, learnware id) of the full announcements the store held,
  decoded from the store at start-up (they are few: a node's own, and pre-1.3
  peers');
- ``ann-<k>-<j>.faiss``: for each space of at least `sketch_ann.ANN_MIN_ROWS`
  sketches, a vector index of its rows, one file per kernel gamma
  (`engine.search.sketch_ann`; ``meta.json`` names the files), memory-mapped too; a
  search of such a space asks it for candidates instead of scanning every row. A
  segment that lacks the index of such a space (written before these indexes) is
  written anew; one with indexes of smaller spaces is used as it is.

Writing goes to a temporary directory that is renamed over the old one, so a crash
leaves either segment whole.
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.search import semantic_filter as sf
from engine.search import sketch_ann
from engine.search.sketch import SKETCH_DTYPES
from engine.search.sketch_ann import SketchANN
from engine.specification.semantic import InputSpec, SemanticSpec
from lwnode.node.store.blobs import fsync_dir
from protocol.content import CONTENT_ID_PREFIX, digest_of
from protocol.errors import ProtocolError
from protocol.messages import SpecSummary

FORMAT = 2
"""The layout above; a segment of another format is rebuilt, never read (format 1,
before 2026-12: text ids, JSON semantic specs and per-offer names and URLs, ~960
bytes a learnware against ~560)."""
SEMANTIC_DICT = (
    b'{"data_type":"image","data_type":"text","library":"pytorch","license":"apache_2.0",'
    b'"license":"bsd_3_clause","license":"cc_by_4.0","license":"gpl_3.0","license":'
    b'"proprietary","task_type":"feature_extraction","task_type":"other","task_type":'
    b'"classification","input":{"dimension":1,"features":[{"description":"","kind":'
    b'"numeric","name":"","range":[0,1],"unit":""}]},"library":"scikit_learn","license":'
    b'"mit","license":"other","library":"other","library":null,"license":null,'
    b'"description":"","format":1,"input":{"dimension":10,"features":[]},"name":"",'
    b'"output":{"descriptions":[],"dimension":1,"labels":[]},"scenarios":[],'
    b'"data_type":"table","task_type":"regression"}')
"""The preset dictionary the semantic specs are deflated with: the keys and words
every spec repeats. Part of `FORMAT`: never change it without raising the format."""
_URL_HOLE = "\x00"
"""Where a URL template had the learnware id (JSON text never holds a raw NUL)."""
META = "meta.json"
DIGEST = 32
"""Bytes of a content id's sha256 digest (``ids``, ``spec_ids``)."""
_ENTRY_FLOATS = ("scale", "gamma", "sq_norm")


@dataclass(frozen=True)
class Settings:
    """What a segment must agree with to be used (else it is rebuilt)."""

    epoch: str
    n_features: int
    dtype: str
    version: int
    max_points: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "n_features": self.n_features, "dtype": self.dtype,
                "version": self.version, "max_points": self.max_points}


@dataclass(frozen=True)
class Location:
    """One owner's offer of a learnware, from its announcement or summary."""

    owner: str
    organization: str
    name: str
    package_urls: tuple[str, ...]
    size: int
    sequence: int


class _Blob:
    """Variable-length byte strings appended into one buffer with offsets."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.offsets = array.array("q", [0])

    def add(self, item: bytes) -> None:
        self.data += item
        self.offsets.append(len(self.data))


class _Interned(_Blob):
    """A `_Blob` of distinct items: `number` gives an item's row, adding it if new."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[bytes, int] = {}

    def number(self, item: bytes) -> int:
        row = self.rows.get(item)
        if row is None:
            row = self.rows[item] = len(self.rows)
            self.add(item)
        return row


def deflate_semantic(semantic: SemanticSpec) -> bytes:
    """The spec as compact JSON, raw-deflated with `SEMANTIC_DICT`."""
    text = json.dumps(semantic.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=SEMANTIC_DICT)
    return packer.compress(text) + packer.flush()


def inflate_semantic(data: bytes) -> SemanticSpec:
    unpacker = zlib.decompressobj(-15, zdict=SEMANTIC_DICT)
    return SemanticSpec.from_dict(json.loads(unpacker.decompress(data) + unpacker.flush()))


class _Terms:
    """term -> posting rows, accumulated as (term number, row) pairs."""

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self.terms: array.array[int] = array.array("i")
        self.rows: array.array[int] = array.array("i")

    def add(self, row: int, terms: Iterable[str]) -> None:
        for t in terms:
            self.terms.append(self.number.setdefault(t, len(self.number)))
            self.rows.append(row)

    def csr(self, order: NDArray[np.int64]) -> tuple[list[str], NDArray[Any], NDArray[Any]]:
        """Sorted terms, starts and rows (renumbered by the entries' final `order`)."""
        names = sorted(self.number)
        rank = np.empty(len(names), dtype=np.int64)
        for i, name in enumerate(names):
            rank[self.number[name]] = i
        new_row = np.empty(len(order), dtype=np.int32)
        new_row[order] = np.arange(len(order), dtype=np.int32)
        terms = rank[np.frombuffer(self.terms, dtype=np.int32)] if len(self.terms) else \
            np.zeros(0, dtype=np.int64)
        rows = new_row[np.frombuffer(self.rows, dtype=np.int32)] if len(self.rows) else \
            np.zeros(0, dtype=np.int32)
        by = np.lexsort((rows, terms))
        starts = np.searchsorted(terms[by], np.arange(len(names) + 1)).astype(np.int64)
        return names, starts, rows[by].astype(np.int32)


class SegmentWriter:
    """Collects the summaries of a store scan, then writes a segment (`finish`).

    The first summary of a learnware id makes its entry (its sketch and semantic
    spec: the content rule makes every owner's the same); every summary adds an
    offer. Summaries are taken in any order.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._row: dict[str, int] = {}
        self._spaces: dict[str, int] = {}
        self._space = array.array("i")
        self._codes = bytearray()
        self._floats = {name: array.array("d") for name in _ENTRY_FLOATS}
        self._input_dim = array.array("i")
        self._classes = {name: array.array("b") for name in sf.CLASS_FIELDS}
        self._ids: list[bytes] = []
        self._spec_ids: list[bytes] = []
        self._semantic = _Blob()
        self._tags, self._stems = _Terms(), _Terms()
        self._offer_entry = array.array("i")
        self._offer_owner = array.array("i")
        self._offer_org = array.array("i")
        self._offer_size = array.array("q")
        self._offer_sequence = array.array("q")
        self._offer_name = array.array("i")
        self._offer_urls = array.array("i")
        self._names, self._url_templates = _Interned(), _Interned()
        self._entry_names: list[str] = []
        self._owners: dict[str, int] = {}
        self._orgs: dict[str, int] = {}
        self.full: list[tuple[str, str]] = []
        self.skipped = 0

    def add(self, summary: SpecSummary) -> None:
        """One owner's summary (the caller has checked it is indexable)."""
        s = summary
        row = self._row.get(s.learnware_id)
        if row is None:
            row = self._row[s.learnware_id] = len(self._ids)
            ref = s.specs[0]
            sketch = ref.sketch
            vector = sketch.vector()
            self._space.append(self._spaces.setdefault(sketch.space, len(self._spaces)))
            self._codes += sketch.codes
            for name, value in (("scale", sketch.scale), ("gamma", sketch.gamma),
                                ("sq_norm", float(vector @ vector))):
                self._floats[name].append(value)
            self._input_dim.append(s.semantic.input.dimension if s.semantic.input else 0)
            for name, code in sf.class_codes(s.semantic).items():
                self._classes[name].append(code)
            self._ids.append(digest_of(s.learnware_id))
            self._spec_ids.append(digest_of(ref.id))
            self._semantic.add(deflate_semantic(s.semantic))
            self._entry_names.append(s.semantic.name)
            self._tags.add(row, s.semantic.scenarios)
            self._stems.add(row, sf.stems(sf.text_of(s.semantic)))
        self._offer_entry.append(row)
        self._offer_owner.append(self._owners.setdefault(s.owner, len(self._owners)))
        self._offer_org.append(self._orgs.setdefault(s.organization, len(self._orgs)))
        self._offer_size.append(s.package_size)
        self._offer_sequence.append(s.sequence)
        name = s.semantic.name
        self._offer_name.append(-1 if name == self._entry_names[row] else
                                self._names.number(name.encode()))
        urls = json.dumps(list(s.package_urls)).replace(s.learnware_id, _URL_HOLE)
        self._offer_urls.append(self._url_templates.number(urls.encode()))

    def finish(self, path: Path, change: int) -> None:
        """Write the segment to `path` (replacing one there) as reflecting the store up
        to `change`."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        try:
            self._write(tmp, change)
            old = path.with_name(f".{path.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            if path.exists():
                os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
            fsync_dir(path.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write(self, out: Path, change: int) -> None:
        n, width = len(self._ids), self.settings.n_features
        space = np.frombuffer(self._space, dtype=np.int32) if n else np.zeros(0, np.int32)
        spaces = sorted(self._spaces, key=self._spaces.__getitem__)
        by_name = sorted(range(len(spaces)), key=lambda i: spaces[i])
        rank = np.empty(len(spaces), dtype=np.int64)
        rank[by_name] = np.arange(len(spaces))
        order = np.argsort(rank[space], kind="stable") if n else np.zeros(0, np.int64)
        starts = np.searchsorted(rank[space][order], np.arange(len(spaces) + 1)) if n else \
            np.zeros(1, np.int64)
        dtype = SKETCH_DTYPES[self.settings.dtype]
        codes = np.frombuffer(self._codes, dtype=dtype).reshape(n, width)
        arrays: dict[str, NDArray[Any]] = {"codes": codes[order]}
        for name, floats in self._floats.items():
            arrays[name] = _take(floats, np.float64, order)
        arrays["input_dim"] = _take(self._input_dim, np.int32, order)
        for name, small in self._classes.items():
            arrays[f"class_{name}"] = _take(small, np.int8, order)
        for name, items in (("ids", self._ids), ("spec_ids", self._spec_ids)):
            fixed = np.frombuffer(b"".join(items), dtype=np.uint8).reshape(n, DIGEST)[order]
            arrays[name] = fixed
            keys = np.array([_key(bytes(i)) for i in fixed], dtype=np.uint64)
            by_key = np.argsort(keys, kind="stable")
            arrays[f"{name}_keys"], arrays[f"{name}_key_rows"] = keys[by_key], \
                by_key.astype(np.int32)
        # the rows in id order: the digests' order is the ids' (lowercase hex)
        words = arrays["ids"].view(">u8").reshape(n, DIGEST // 8)
        arrays["ids_order"] = np.lexsort(words.T[::-1]).astype(np.int32) if n else \
            np.zeros(0, np.int32)
        arrays["semantic"], arrays["semantic_start"] = _reordered(self._semantic, order)
        # offers, grouped by their entry's new row
        new_row = np.empty(n, dtype=np.int64)
        new_row[order] = np.arange(n)
        entry = new_row[_take(self._offer_entry, np.int32)]
        by_entry = np.argsort(entry, kind="stable")
        arrays["offer_start"] = np.searchsorted(entry[by_entry], np.arange(n + 1))
        for name, column, kind in (("offer_owner", self._offer_owner, np.int32),
                                   ("offer_org", self._offer_org, np.int32),
                                   ("offer_size", self._offer_size, np.int64),
                                   ("offer_sequence", self._offer_sequence, np.int64)):
            arrays[name] = _take(column, kind, by_entry)
        arrays["offer_name"] = _take(self._offer_name, np.int32, by_entry)
        arrays["offer_urls"] = _take(self._offer_urls, np.int32, by_entry)
        for name, blob in (("names", self._names), ("url_templates", self._url_templates)):
            arrays[name] = np.frombuffer(bytes(blob.data), dtype=np.uint8)
            arrays[f"{name}_start"] = np.frombuffer(blob.offsets, dtype=np.int64)
        for name, index in (("tag", self._tags), ("stem", self._stems)):
            terms, arrays[f"{name}_start"], arrays[f"{name}_rows"] = index.csr(order)
            encoded = [t.encode() for t in terms]  # UTF-8 keeps the order of the strings
            arrays[f"{name}_terms"] = np.array(
                encoded, dtype=f"S{max((len(t) for t in encoded), default=1)}")
        for name, values in arrays.items():
            with open(out / f"{name}.npy", "wb") as f:
                np.save(f, np.ascontiguousarray(values), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
        anns: dict[str, dict[str, str]] = {}
        for k, i in enumerate(by_name):
            a, b = int(starts[k]), int(starts[k + 1])
            if b - a >= sketch_ann.ANN_MIN_ROWS:
                ann = SketchANN.build(arrays["codes"][a:b], arrays["scale"][a:b],
                                      arrays["gamma"][a:b])
                anns[spaces[i]] = ann.write(out, f"ann-{k}")
        meta = {"format": FORMAT, "settings": self.settings.to_dict(), "change": change,
                "n_entries": n, "n_offers": len(self._offer_entry),
                "spaces": [[spaces[i], int(starts[k]), int(starts[k + 1])]
                           for k, i in enumerate(by_name)],
                "owners": sorted(self._owners, key=self._owners.__getitem__),
                "organizations": sorted(self._orgs, key=self._orgs.__getitem__),
                "full": self.full, "skipped": self.skipped, "ann": anns}
        with open(out / META, "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())


def written_entries(path: Path) -> int:
    """Entries of the segment written at `path` (0 if none can be read)."""
    try:
        with open(path / META) as f:
            return int(json.load(f)["n_entries"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def remove_leftovers(path: Path) -> None:
    """Delete what an interrupted `SegmentWriter.finish` for `path` left beside it."""
    for leftover in path.parent.glob(f".{path.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _take(values: array.array[Any], dtype: Any, order: NDArray[np.int64] | None = None
          ) -> NDArray[Any]:
    """An accumulated column as numpy, in `order` if given."""
    out = np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype)
    return out if order is None else out[order]


def _reordered(blob: _Blob, order: NDArray[np.int64]) -> tuple[NDArray[Any], NDArray[Any]]:
    """The blob's items in `order`: (bytes, starts)."""
    data, offsets = memoryview(blob.data), blob.offsets
    out, starts = bytearray(), array.array("q", [0])
    for i in order.tolist():
        out += data[offsets[i]:offsets[i + 1]]
        starts.append(len(out))
    return np.frombuffer(bytes(out), dtype=np.uint8), np.frombuffer(starts, dtype=np.int64)


class SegmentUnusable(Exception):
    """The segment is missing, damaged, or written for another store or settings."""


class Segment:
    """A written segment, memory-mapped read-only (see the module doc)."""

    def __init__(self, path: Path, settings: Settings) -> None:
        try:
            with open(path / META) as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise SegmentUnusable("no index written yet") from None
        except (OSError, ValueError) as exc:
            raise SegmentUnusable(f"{META}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise SegmentUnusable(f"format {meta.get('format') if isinstance(meta, dict) else '?'}"
                                  f", this node writes {FORMAT}")
        if meta.get("settings") != settings.to_dict():
            raise SegmentUnusable(f"written for {meta.get('settings')}, not "
                                  f"{settings.to_dict()}")
        self.path = path
        try:
            self.change = int(meta["change"])
            self.n = int(meta["n_entries"])
            self.n_offers = int(meta["n_offers"])
            self.spaces: dict[str, tuple[int, int]] = {
                str(s): (int(a), int(b)) for s, a, b in meta["spaces"]}
            self.owners: list[str] = [str(o) for o in meta["owners"]]
            self.organizations: list[str] = [str(o) for o in meta["organizations"]]
            self.full: list[tuple[str, str]] = [(str(o), str(i)) for o, i in meta["full"]]
            self.skipped = int(meta["skipped"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SegmentUnusable(f"{META}: {type(exc).__name__}: {exc}") from None
        self._owner_number = {o: i for i, o in enumerate(self.owners)}
        self.a: dict[str, NDArray[Any]] = {}
        for file in path.glob("*.npy"):
            try:
                # a plain view of the map: numpy's memmap subclass costs microseconds
                # per index operation, and a search does thousands
                self.a[file.stem] = np.load(file, mmap_mode="r", allow_pickle=False
                                            ).view(np.ndarray)
            except (OSError, ValueError) as exc:
                raise SegmentUnusable(f"{file.name}: {exc}") from None
        self._check_shapes(settings)
        self.anns: dict[str, SketchANN] = {}
        for space, about in dict(meta.get("ann") or {}).items():
            try:
                a, b = self.spaces[space]
                ann = SketchANN.open(path, {str(g): str(name) for g, name in about.items()})
            except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
                raise SegmentUnusable(f"vector index of {space}: {exc}") from None
            if len(ann) != b - a:
                raise SegmentUnusable(f"vector index of {space}: {len(ann)} rows, expected "
                                      f"{b - a}")
            self.anns[space] = ann
        for space, (a, b) in self.spaces.items():
            if b - a >= sketch_ann.ANN_MIN_ROWS and space not in self.anns:
                # written before the indexes: a search of this space would scan it all
                raise SegmentUnusable(f"no vector index for {space} ({b - a} sketches)")

    def _check_shapes(self, settings: Settings) -> None:
        n, m = self.n, self.n_offers
        want = {"codes": (n, settings.n_features), "ids": (n, DIGEST), "spec_ids": (n, DIGEST),
                "ids_order": (n,), "ids_keys": (n,), "ids_key_rows": (n,),
                "spec_ids_keys": (n,), "spec_ids_key_rows": (n,), "semantic_start": (n + 1,),
                "offer_start": (n + 1,), "offer_owner": (m,), "offer_org": (m,),
                "offer_size": (m,), "offer_sequence": (m,), "offer_name": (m,),
                "offer_urls": (m,), "input_dim": (n,),
                **{name: (n,) for name in _ENTRY_FLOATS},
                **{f"class_{name}": (n,) for name in sf.CLASS_FIELDS}}
        for name, shape in want.items():
            got = self.a.get(name)
            if got is None or got.shape != shape:
                raise SegmentUnusable(f"{name}.npy: shape {None if got is None else got.shape}"
                                      f", expected {shape}")
        for name in ("semantic", "names", "url_templates"):
            starts = self.a.get(f"{name}_start")
            if name not in self.a or starts is None or starts.ndim != 1 or len(starts) < 1:
                raise SegmentUnusable(f"{name}_start.npy: missing or empty")
            if len(self.a[name]) != int(starts[-1]):
                raise SegmentUnusable(f"{name}.npy: {len(self.a[name])} bytes, expected "
                                      f"{int(starts[-1])}")
        for name in ("tag", "stem"):
            if f"{name}_terms" not in self.a or \
                    len(self.a[f"{name}_start"]) != len(self.a[f"{name}_terms"]) + 1 or \
                    int(self.a[f"{name}_start"][-1]) != len(self.a[f"{name}_rows"]):
                raise SegmentUnusable(f"{name} postings do not match their terms")
        if self.spaces and max(b for _, b in self.spaces.values()) != n:
            raise SegmentUnusable("the spaces do not cover the entries")
        # indices into tables and rows stay in range (a damaged file fails here, not in
        # a search)
        starts = self.a["offer_start"]
        bounded = [("offer_owner", 0, len(self.owners)),
                   ("offer_org", 0, len(self.organizations)), ("ids_order", 0, n),
                   ("ids_key_rows", 0, n), ("spec_ids_key_rows", 0, n), ("tag_rows", 0, n),
                   ("stem_rows", 0, n), ("offer_name", -1, len(self.a["names_start"]) - 1),
                   ("offer_urls", 0, len(self.a["url_templates_start"]) - 1)]
        for name, low, limit in bounded:
            values = self.a[name]
            if len(values) and (int(values.min()) < low or int(values.max()) >= limit):
                raise SegmentUnusable(f"{name}.npy: an index out of range")
        for name in ("offer_start", "semantic_start", "names_start", "url_templates_start",
                     "tag_start", "stem_start"):
            if len(self.a[name]) > 1 and bool(np.any(np.diff(self.a[name]) < 0)):
                raise SegmentUnusable(f"{name}.npy: offsets go backwards")
        if int(starts[0]) != 0 or int(starts[-1]) != m:
            raise SegmentUnusable("offer_start.npy: does not cover the offers")

    # -- lookups --------------------------------------------------------------------------
    def row_of(self, learnware_id: str) -> int | None:
        return self._lookup("ids", learnware_id)

    def row_of_spec(self, spec_id: str) -> int | None:
        return self._lookup("spec_ids", spec_id)

    def _lookup(self, name: str, value: str) -> int | None:
        """The row holding `value` in the `name` column, by its hashed key (a binary
        search over 8-byte keys, then the ids of that key compared)."""
        keys, rows, values = self.a[f"{name}_keys"], self.a[f"{name}_key_rows"], self.a[name]
        try:
            raw = digest_of(value)
        except ProtocolError:  # not a content id: none is here
            return None
        key = _key(raw)
        i = int(np.searchsorted(keys, np.uint64(key)))
        while i < len(keys) and int(keys[i]) == key:
            if values[rows[i]].tobytes() == raw:
                return int(rows[i])
            i += 1
        return None

    def id_at(self, row: int) -> str:
        return CONTENT_ID_PREFIX + self.a["ids"][row].tobytes().hex()

    def spec_id_at(self, row: int) -> str:
        return CONTENT_ID_PREFIX + self.a["spec_ids"][row].tobytes().hex()

    def semantic_at(self, row: int) -> SemanticSpec:
        start, end = self.a["semantic_start"][row:row + 2]
        try:
            return inflate_semantic(bytes(self.a["semantic"][start:end]))
        except zlib.error as exc:  # the file changed under the checks made at opening
            raise SegmentUnusable(f"semantic.npy: row {row}: {exc}") from None

    def input_at(self, row: int) -> InputSpec | None:
        return self.semantic_at(row).input

    def owner_number(self, owner: str) -> int | None:
        return self._owner_number.get(owner)

    def offers_of(self, row: int) -> range:
        """The offer numbers of entry `row`."""
        return range(int(self.a["offer_start"][row]), int(self.a["offer_start"][row + 1]))

    def offer_owner(self, k: int) -> str:
        return self.owners[int(self.a["offer_owner"][k])]

    def offer(self, row: int, k: int) -> Location:
        """Offer `k` of entry `row`."""
        a = self.a
        named = int(a["offer_name"][k])
        if named < 0:
            name = self.semantic_at(row).name
        else:
            n0, n1 = a["names_start"][named:named + 2]
            name = bytes(a["names"][n0:n1]).decode()
        t = int(a["offer_urls"][k])
        u0, u1 = a["url_templates_start"][t:t + 2]
        urls = bytes(a["url_templates"][u0:u1]).decode().replace(_URL_HOLE, self.id_at(row))
        return Location(self.owners[int(a["offer_owner"][k])],
                        self.organizations[int(a["offer_org"][k])], name,
                        tuple(json.loads(urls)), int(a["offer_size"][k]),
                        int(a["offer_sequence"][k]))

    def postings(self, kind: str, terms: Iterable[str]) -> list[NDArray[np.int32]]:
        """Rows holding each of `terms` that the segment knows (kind "tag" or "stem")."""
        starts, rows, known = self.a[f"{kind}_start"], self.a[f"{kind}_rows"], \
            self.a[f"{kind}_terms"]
        found = (_find(known, t) for t in terms)
        return [np.asarray(rows[starts[i]:starts[i + 1]]) for i in found if i is not None]

    def allowed_rows(self, semantic: SemanticSpec | None) -> NDArray[np.int64] | None:
        """Rows sharing a tag and a name/description stem with `semantic` (None: all),
        by the rules of `semantic_filter.SemanticIndex.allowed`."""
        if semantic is None:
            return None
        allowed: NDArray[np.int64] | None = None
        if semantic.scenarios:
            allowed = _union(self.postings("tag", semantic.scenarios))
        words = sf.stems(sf.text_of(semantic))
        if words:
            by_text = _union(self.postings("stem", words))
            allowed = by_text if allowed is None else np.intersect1d(allowed, by_text)
        return allowed

    def stem_counts(self, words: Iterable[str]) -> NDArray[np.int64]:
        """How many of `words` each row's text holds."""
        found = self.postings("stem", words)
        if not found:
            return np.zeros(self.n, dtype=np.int64)
        return np.bincount(np.concatenate(found), minlength=self.n)

    def columns(self, space: str) -> tuple[int, dict[str, NDArray[Any]]] | None:
        """(first row, the sketch and filter columns of `space`'s rows), or None."""
        if space not in self.spaces:
            return None
        a, b = self.spaces[space]
        names = ("codes", *_ENTRY_FLOATS, "input_dim",
                 *(f"class_{name}" for name in sf.CLASS_FIELDS))
        return a, {name: self.a[name][a:b] for name in names}

    def ann(self, space: str) -> SketchANN | None:
        """The vector index of `space`'s rows, if the segment has one."""
        return self.anns.get(space)

    def mapped_bytes(self) -> int:
        return sum(int(v.nbytes) for v in self.a.values()) + sum(
            f.stat().st_size for f in self.path.glob("ann-*.faiss"))


def _key(value: bytes) -> int:
    """The 8-byte lookup key of an id (its hash: ids need not be random themselves)."""
    return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "little")


def _find(values: NDArray[Any], key: str) -> int | None:
    """The row of `key` in the sorted `values`."""
    raw = key.encode()
    if len(raw) > values.dtype.itemsize or len(values) == 0:
        return None
    i = int(np.searchsorted(values, raw))
    return i if i < len(values) and bytes(values[i]) == raw else None


def _union(parts: list[NDArray[np.int32]]) -> NDArray[np.int64]:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts)).astype(np.int64)
