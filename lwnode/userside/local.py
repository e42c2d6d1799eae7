"""Work the command line does on the user's own machine: raw data never leaves it.

What leaves is the spec `make_spec` fits: by default private (each point stands for
at least `engine.privacy.MIN_ROWS_PER_POINT` rows, none is a row; the row count is
coarsened).

- `make_spec`: the RKME of a data file (table rows, or images from ``.npy``).
- `read_semantic`: a ``semantic.toml``, completed from the data and the model.
- `load_model_file`: a developer's model file (skops, TorchScript; pickle only when
  explicitly allowed: it runs code).
- `fetch_package`: download, resume, check size, sha256 and the owner's signed
  announcement, then open the package safely.
- `reuse`: load fetched learnwares and predict with one of the engine's reusers
  (with labels and no method asked for, the one `select_method` chooses on them).
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from numpy.typing import NDArray

from engine.errors import PackageError, ReuseError, SpecError
from engine.hetero.features import column_difference, order_by_name, reordered
from engine.hetero.mapping import ColumnMapping
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import InputSpec, SemanticSpec
from lwnode.client import NodeClient, Progress
from lwnode.errors import InputError, NodeError
from lwnode.userside.columns import complete_input
from lwnode.userside.tabular import Table
from protocol.content import check_content_id
from protocol.errors import ProtocolError

if TYPE_CHECKING:
    from engine.reuse.select import Selection
    from lwnode.userside.safefetch import Deadline, FetchLimits

REUSE_METHODS = ("job-selector", "average", "ensemble-pruning", "feature-augment", "hetero")
NEEDS_LABELS = ("ensemble-pruning", "feature-augment")
HETERO = "hetero"
"""Reuse across feature spaces (`engine.hetero.HeteroReuser`): chosen by itself when a
learnware takes other columns than the user's."""


# -- specs --------------------------------------------------------------------------------
def make_spec(table: Table, *, data_type: str | None = None, n_points: int = 100,
              seed: int = 0, dp: dict[str, Any] | None = None) -> RKMESpec:
    """Fit the RKME of a table (2-D), of images (3-D / 4-D ``.npy``) or, with
    `data_type` ``"text"``, of texts given as their all-MiniLM-L6-v2 sentence
    embeddings (2-D, 384 unit-norm columns: `engine.specification.text.embed_texts`).

    `dp`: ``{"epsilon", "delta", "gamma", "bounds"}`` for a differentially private spec
    (`engine.privacy.dp`); None for the default private fit.
    """
    x = table.values
    extra: dict[str, Any] = dict(dp) if dp else {}
    if dp and (dp.get("gamma") is None or dp.get("bounds") is None):
        raise InputError("dp: gamma and bounds must be filled first (`dp_choices`)")
    kind = data_kind(table, data_type)
    try:
        if kind == "image":
            from engine.specification.image import RKMEImageSpec

            return RKMEImageSpec(n_points=n_points, random_state=seed, **extra).fit(x)
        if kind == "text":
            from engine.specification.text import RKMETextSpec

            return RKMETextSpec(n_points=n_points, random_state=seed,
                                **extra).fit(_text_input(x))
        if kind != "table":
            raise InputError(f"data_type {kind!r}: the command line builds table, image and "
                             "text specs (texts as their sentence embeddings)")
        if x.ndim != 2:
            raise InputError(f"table data must be rows x columns, got shape {x.shape}")
        from engine.specification import RKMETableSpec

        return RKMETableSpec(n_points=n_points, random_state=seed, **extra).fit(x)
    except SpecError as exc:
        # the engine calls the rows "X"; the caller names them by their file
        raise InputError(str(exc).removeprefix("X: ")) from None


def data_kind(table: Table, data_type: str | None = None) -> str:
    """"table", "image" or "text": what `make_spec` fits `table` as."""
    return data_type or ("image" if table.values.ndim in (3, 4) else "table")


def data_space(table: Table, data_type: str | None = None) -> tuple[str, int]:
    """The comparison space `make_spec` would fit `table` into, and its dimension, from
    the data's shape only (no value is read)."""
    x, kind = table.values, data_kind(table, data_type)
    if kind == "image":
        from engine.specification.image import FEATURE_MAP, OUT_DIM

        return f"image/{FEATURE_MAP}/c={1 if x.ndim == 3 else x.shape[1]}/d={OUT_DIM}", OUT_DIM
    if kind == "text":
        from engine import text_encoder

        return text_encoder.SPACE, int(x.shape[-1])
    return f"table/d={x.shape[-1]}", int(x.shape[-1])


def dp_choices(table: Table, data_type: str | None, dp: dict[str, Any] | None, *,
               market: Callable[[str], Mapping[float, int] | None] | None = None,
               name: Callable[[str], str] | None = None,
               declared: InputSpec | None = None, declared_in: str | None = "a --semantic TOML"
               ) -> tuple[dict[str, Any] | None, list[str]]:
    """`dp` with gamma and bounds chosen from public facts where the user left them out,
    and what chose them (`lwnode.userside.privacy.resolve_dp`). `market(space)`: the
    gammas of that space's specs the user's node knows, or None when it cannot say;
    `declared`: the columns of the semantic spec written in `declared_in` (their
    ``range``s bound a table's synthetic points; None: the caller has nowhere to
    declare them, so no error suggests it)."""
    from lwnode.userside.privacy import cli_name, resolve_dp

    if dp is None:
        return None, []
    space, dim = data_space(table, data_type)
    known = None if market is None or dp.get("gamma") is not None else market(space)
    return resolve_dp(dp, kind=data_kind(table, data_type), dim=dim, space=space,
                      market=known, name=name or cli_name, declared=declared,
                      declared_in=declared_in)


def spec_privacy_report(spec: RKMESpec, table: Table) -> Any:
    """What `spec`, made by `make_spec` from `table`, reveals of its rows
    (`engine.privacy.privacy_report`, measured on the same input the spec was fit on)."""
    from engine.privacy import privacy_report

    x = table.values
    return privacy_report(spec, _text_input(x) if spec.kind == "rkme_text" else x)


def _text_input(x: Any) -> Any:
    """Texts reach the command line as their sentence embeddings (rows of a ``.npy``)."""
    from engine.specification.text import TextEmbeddings

    return TextEmbeddings(x)


# -- semantic specs -------------------------------------------------------------------------
def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    from engine.package.nesting import load_toml

    try:
        return load_toml(p.read_text(encoding="utf-8"), str(p))
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc})") from None
    except PackageError as exc:  # malformed, or nested too deeply
        raise InputError(str(exc).replace(f"{p}: malformed TOML", f"{p}: not valid TOML")
                         ) from None


def read_semantic(path: str | os.PathLike[str] | None, *, table: Table | None = None,
                  data_name: str = "the data", model: Any = None,
                  complete: bool = False) -> SemanticSpec:
    """A semantic spec from TOML (None: an empty one), its input completed from `table`.

    With a table: ``input.dimension`` (the data's width) and one feature per header
    column, described by ``input.columns`` or ``input.features`` (`lwnode.userside.columns`).
    With `complete`, also what the model tells: for classifiers ``output.labels``
    (its ``classes_``) and ``output.dimension`` (1); for regressors
    ``output.dimension`` (1).
    """
    where = str(path) if path is not None else data_name
    data = read_toml(path) if path is not None else {}
    if table is not None:
        data = {**data, "input": complete_input(data.get("input") or {}, table, where,
                                                data_name)}
    if complete:
        data = _completed(data, model)
    try:
        semantic = SemanticSpec.from_dict(data)
        if complete:
            semantic.require_complete()
    except SpecError as exc:
        raise InputError(f"{where}: {exc}") from None
    return semantic


def _completed(data: dict[str, Any], model: Any) -> dict[str, Any]:
    data = dict(data)
    out = dict(data.get("output") or {})
    classes = getattr(model, "classes_", None)
    task = str(data.get("task_type", "")).lower()
    if task == "classification" and "labels" not in out and classes is not None:
        out["labels"] = [c.item() if hasattr(c, "item") else c for c in np.asarray(classes)]
    out.setdefault("dimension", 1)
    data["output"] = out
    return data


# -- models ----------------------------------------------------------------------------------
def load_model_file(path: str | os.PathLike[str], *, trusted_types: Sequence[str] = (),
                    allow_pickle: bool = False) -> Any:
    """Load a developer's own model: ``.skops``, TorchScript ``.pt``, or (only with
    `allow_pickle`) ``.pkl`` / ``.joblib``."""
    from engine.errors import ModelLoadError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    suffix = p.suffix.lower()
    data = p.read_bytes()
    try:
        if suffix == ".skops":
            from engine.models import skops_io

            return skops_io.load_sklearn(data, trusted=trusted_types, name=p.name)
        if suffix in (".pt", ".pth", ".ts"):
            from engine.models import torch_io

            return torch_io.load_torchscript(data, name=p.name)
    except ModelLoadError as exc:
        raise InputError(str(exc)) from None
    if suffix in (".pkl", ".pickle", ".joblib"):
        if not allow_pickle:
            raise InputError(f"{p}: a pickle runs code when loaded; save the model with "
                             "skops.io.dump (.skops), or pass --allow-pickle if it is your own "
                             "file")
        import joblib

        try:
            return joblib.load(p)
        except Exception as exc:  # whatever the pickle raises
            raise InputError(f"{p}: cannot be unpickled ({type(exc).__name__}: {exc})"
                             ) from None
    raise InputError(f"{p}: unsupported model file {suffix!r}; use .skops (scikit-learn), "
                     ".pt (TorchScript) or, with --allow-pickle, .pkl/.joblib")


# -- fetching ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetched:
    path: Path
    learnware_id: str
    size: int
    name: str
    owner: str
    cached: bool


@dataclass(frozen=True)
class Offer:
    """One URL to try: the owner's verified announcement and its advertised host (None
    for the package the asked node hosts itself, fetched from that node). `file`: that
    node's own copy on this machine (the node's page fetching in-process), read
    instead of `url` and checked the same way."""

    url: str
    announcement: Any
    host: str | None
    file: Path | None = None


def _offers(node_url: str, details: Mapping[str, Any], learnware_id: str,
            own_file: Path | None = None) -> tuple[list[Offer], list[Exception]]:
    """The URLs to try, in order, and why the offers left out were refused.

    First the asked node's own copy when it hosts the package (from that node's URL:
    the caller already talks to it). Then every owner's URLs, the original owner
    first: the owner whose announcement this node received first (then the earliest
    signed), so a peer that re-announces the same content under an id sorting
    first, with a slow server, is not tried before it.
    """
    from lwnode.userside.safefetch import owner_host

    refused: list[Exception] = []
    ranked: list[tuple[tuple[float, int, str], Offer]] = []
    for offer in details.get("offers", []):
        try:
            ann = _announcement(offer.get("envelope"), learnware_id)
        except NodeError as exc:
            refused.append(exc)
            continue
        received = offer.get("received_at")
        key = (received if isinstance(received, int) else float("inf"), ann.created_at,
               ann.owner)
        host = owner_host(ann.package_urls[0])
        ranked.extend((key, Offer(url, ann, host)) for url in ann.package_urls)
    ranked.sort(key=lambda pair: pair[0])
    out = []
    if details.get("package_url") and ranked:  # checked against the original's announcement
        out.append(Offer(node_url + _package_path(learnware_id), ranked[0][1].announcement,
                         None, own_file))
    for _, offer in ranked:
        if offer.url not in [o.url for o in out]:
            out.append(offer)
    return out, refused


def _package_path(learnware_id: str) -> str:
    """`lwnode.node.service.package_path` (not imported: the command line loads no node)."""
    return f"/v1/learnwares/{learnware_id}/package"


def _announcement(envelope_b64: str | None, learnware_id: str) -> Any:
    """The owner's signed offer of `learnware_id` (a full announcement or its summary),
    verified (signature, owner, id)."""
    from protocol.messages import SpecAnnouncement, SpecSummary
    from protocol.signing import verify

    if not envelope_b64:
        raise NodeError(f"{learnware_id}: the node sent no signed announcement to check")
    try:
        ann = verify(base64.b64decode(envelope_b64), (SpecAnnouncement, SpecSummary))
    except (ProtocolError, ValueError) as exc:
        raise NodeError(f"{learnware_id}: the owner's signed announcement does not verify "
                        f"({exc})") from None
    if ann.learnware_id != learnware_id:
        raise NodeError(f"{learnware_id}: the signed announcement is of {ann.learnware_id}")
    return ann


def _check_package(path: Path, ann: Any) -> None:
    """Size as signed, and the package's own specs equal to the announced ones."""
    from engine.package import open_package
    from protocol.codec import offer_fingerprint, spec_id
    from protocol.summary import spec_ids_of

    size = path.stat().st_size
    if size != ann.package_size:
        raise NodeError(f"the owner signed {ann.package_size} bytes, the download is {size}")
    package = open_package(path)
    if offer_fingerprint(package.semantic, (spec_id(package.spec),)) != offer_fingerprint(
            ann.semantic, spec_ids_of(ann)[:1]):
        raise NodeError("the package's specification differs from its owner's signed "
                        "announcement")


def fetch_package(client: NodeClient, learnware_id: str, dest: str | os.PathLike[str], *,
                  progress: Progress | None = None, limits: FetchLimits | None = None,
                  keep_partial: bool = True) -> Fetched:
    """Download a learnware's package into `dest` as ``<hex>.zip``, verified.

    The package may live on another node (its owner, or another owner of the same
    content id): `client`'s node says where (``GET /v1/learnwares/{id}``, which
    carries each owner's signed announcement), and the bytes come over HTTP from
    there, bounded by `limits` (`lwnode.userside.safefetch`: the owner's own host only, no
    private addresses unless allowed, one overall deadline, a throughput floor,
    the node's package limit and a reserve of free disk; default: the defaults of
    ``[fetch]``, loopback allowed when `client`'s node is on loopback). Owners are
    tried in turn, the original owner first (`_offers`). Before anything is
    opened: the announcement's signature, the size it signs (a server sending
    more is cut off), and the sha256 of the bytes (the id); then the package must
    open as a valid package whose specs are the announced ones. A partial
    ``<hex>.zip.part`` left by an interrupted fetch is resumed with a Range
    request (from whichever owner is tried next; if the whole then fails its hash,
    that owner is asked again from the first byte, so a server that sent wrong
    bytes before it was dropped cannot spoil the next one's). On any failure
    nothing is left in `dest` (except, with `keep_partial`, a resumable part of a
    download cut short).
    """
    _valid_id(learnware_id)  # before the node is asked anything
    details = client.details(learnware_id)
    return fetch_from_details(details, learnware_id, dest, node_url=client.url,
                              progress=progress, limits=limits, keep_partial=keep_partial)


def _valid_id(learnware_id: str) -> None:
    try:
        check_content_id(learnware_id, "learnware id")
    except ProtocolError as exc:
        raise InputError(str(exc)) from None


def fetch_from_details(details: Mapping[str, Any], learnware_id: str,
                       dest: str | os.PathLike[str], *, node_url: str,
                       own_file: Path | None = None, progress: Progress | None = None,
                       limits: FetchLimits | None = None, keep_partial: bool = True
                       ) -> Fetched:
    """`fetch_package` once the asked node's details (``GET /v1/learnwares/{id}``'s
    JSON) are in hand; `own_file`: that node's own copy, when the caller is the node
    itself (its page), read in place of a request to itself."""
    from lwnode.userside.safefetch import Deadline, FetchLimits, NoRoom

    _valid_id(learnware_id)
    if limits is None:
        from lwnode.config import NodeConfig

        limits = FetchLimits.from_config(NodeConfig(), node_url)
    deadline = Deadline(limits.deadline_seconds)
    folder = Path(dest)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    hexd = learnware_id.split(":", 1)[1]
    final, part = folder / f"{hexd}.zip", folder / f"{hexd}.zip.part"
    name = details.get("semantic", {}).get("name", "")
    offers, errors = _offers(node_url, details, learnware_id, own_file)
    if not offers:
        raise (errors[-1] if errors else
               NodeError(f"{learnware_id}: no package URL is known for it"))
    if final.is_file() and _sha256(final) == hexd:
        ann = offers[0].announcement
        if final.stat().st_size == ann.package_size:
            return Fetched(final, learnware_id, final.stat().st_size, name, ann.owner, True)
    offers_left = list(offers)
    while offers_left:
        offer = offers_left.pop(0)
        ann = offer.announcement
        resumed = part.is_file() and part.stat().st_size > 0
        try:
            size = _download_one(offer, learnware_id, part, limits, deadline, progress)
        except NodeError as exc:
            errors.append(NodeError(f"{learnware_id} from {_who(ann)}: {exc}"))
            if part.exists() and (not keep_partial or part.stat().st_size == 0
                                  or isinstance(exc, NoRoom)):
                part.unlink()  # nothing worth resuming
            if deadline.left() <= 0:
                break
            continue
        try:
            got = _sha256(part)
            if got != hexd:
                raise NodeError(f"the downloaded bytes hash to sha256:{got}; refused")
            _check_package(part, ann)
        except (NodeError, PackageError) as exc:
            part.unlink(missing_ok=True)
            if resumed:  # the part's start may be another server's wrong bytes: once more
                offers_left.insert(0, offer)
                continue
            errors.append(NodeError(f"{learnware_id} from {_who(ann)}: {exc}"))
            continue  # another owner may serve the right bytes
        os.replace(part, final)
        return Fetched(final, learnware_id, size, name, ann.owner, False)
    raise _summary(errors, learnware_id)


def _download_one(offer: Offer, learnware_id: str, part: Path, limits: FetchLimits,
                  deadline: Deadline, progress: Progress | None) -> int:
    """One offer's bytes into `part` (resumed); its size. Raises `NodeError`."""
    from lwnode.userside.safefetch import check_room, download, resolve_target

    ann = offer.announcement
    if offer.file is not None:
        return _copy_own(offer.file, part, ann.package_size, limits, progress)
    host = offer.host if offer.host is not None else (urlsplit(offer.url).hostname or "")
    trusted = limits if offer.host is not None else replace(
        limits, allow_loopback=True, allow_private=True)  # the node the caller asked
    target = resolve_target(offer.url, learnware_id, host.lower(), trusted)
    with open(part, "ab+") as f:
        offset = f.tell()
        if offset > ann.package_size:  # not a prefix of these bytes: start over
            f.truncate(0)
            offset = 0
        check_room(part.parent, ann.package_size, offset, limits)
        if progress:
            progress(offset)
        return download(target, f, offset=offset, limit=ann.package_size, deadline=deadline,
                        limits=limits, progress=progress)


def _copy_own(source: Path, part: Path, size: int, limits: FetchLimits,
              progress: Progress | None) -> int:
    """The node's own copy into `part`: no more than the announced size, the same
    free-disk rule as a download; the caller checks the hash and the package."""
    from lwnode.userside.safefetch import check_room

    part.unlink(missing_ok=True)  # a local copy never resumes another server's bytes
    check_room(part.parent, size, 0, limits)
    with open(source, "rb") as src, open(part, "wb") as out:
        copied = 0
        while chunk := src.read(min(1 << 20, size + 1 - copied)):
            copied += len(chunk)
            if copied > size:
                raise NodeError(f"the node's own copy is larger than the {size} bytes announced")
            out.write(chunk)
            if progress:
                progress(copied)
    return copied


def _who(ann: Any) -> str:
    return f"{ann.organization!r} ({ann.owner[:16]}…)"


def _summary(errors: list[Exception], learnware_id: str) -> NodeError:
    """One error for a fetch where every offer failed: the last reason, and how many."""
    if not errors:
        return NodeError(f"{learnware_id}: download failed")
    last = errors[-1]
    if len(errors) == 1:
        return last if isinstance(last, NodeError) else NodeError(str(last))
    return NodeError(f"{last} (and {len(errors) - 1} other offer(s) failed)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# -- reuse ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reused:
    """Predictions, the method that made them, for reuse across feature spaces each
    learnware's column mapping (learnware id, mapping), and the reuser's notes (what
    it did instead of what was asked, e.g. on a one-class label draw)."""

    predictions: NDArray[Any]
    method: str
    mappings: tuple[tuple[str, ColumnMapping], ...] = ()
    notes: tuple[str, ...] = ()
    selection: Selection | None = None
    """How the method was chosen on the labels (`select_method`), when it was."""
    labels_used: str | None = None
    """How reuse across feature spaces used the labels (`hetero_labels_used`), when given."""


def reuse(paths: Sequence[Path], x: NDArray[Any], *, method: str,
          labels: NDArray[Any] | None = None, weights: Sequence[float] | None = None,
          trusted_types: Sequence[str] = (), allow_code: bool = False) -> NDArray[Any]:
    """Predict the user's rows with the learnwares in `paths` by `method`."""
    return reuse_with(paths, x, method=method, labels=labels, weights=weights,
                      trusted_types=trusted_types, allow_code=allow_code).predictions


def reuse_with(paths: Sequence[Path], x: NDArray[Any], *, method: str | None = None,
               labels: NDArray[Any] | None = None, weights: Sequence[float] | None = None,
               user_input: InputSpec | None = None, trusted_types: Sequence[str] = (),
               allow_code: bool = False) -> Reused:
    """Load the learnwares in `paths` and predict the user's rows.

    `method` None chooses: ``hetero`` when a learnware takes other columns than the
    user's (`user_input`: their header and descriptions), else, without labels,
    ``job-selector`` or ``average`` as `data_free_method` chooses on the rows and, with
    labels, the method `select_method` chooses by its out-of-fold score on them
    (``Reused.selection`` says how). A method that needs the same columns is refused
    for learnwares over other columns, with a message that says why.
    `labels` may be fewer than the rows: they label the first ``len(labels)`` rows,
    and every row is predicted.
    """
    _check_reuse(x, method, labels)  # before loading packages (again in reuse_learnwares)
    learnwares = load_learnwares(paths, trusted_types=trusted_types, allow_code=allow_code)
    return reuse_learnwares(learnwares, x, method=method, labels=labels, weights=weights,
                            user_input=user_input)


def load_learnwares(paths: Sequence[Path], *, trusted_types: Sequence[str] = (),
                    allow_code: bool = False) -> list[Any]:
    """The learnwares of fetched (verified) packages, their models loaded safely."""
    from engine.errors import ModelLoadError
    from engine.package import open_package

    try:
        return [open_package(p).learnware(trusted_types=trusted_types, allow_code=allow_code)
                for p in paths]
    except (PackageError, ModelLoadError) as exc:
        raise InputError(str(exc)) from None


def _check_reuse(x: NDArray[Any], method: str | None, labels: NDArray[Any] | None) -> None:
    if method is not None and method not in REUSE_METHODS:
        raise InputError(f"--method: {method!r} is not one of {', '.join(REUSE_METHODS)}")
    if method in NEEDS_LABELS and labels is None:
        raise InputError(f"--method {method} learns from a few labels: give --labels")
    if labels is not None and len(labels) < 2:
        raise InputError("--labels: at least 2 labels are needed to learn from; leave "
                         "--labels out to reuse without labels")
    if labels is not None and len(labels) > len(x):
        raise InputError(f"--labels: {len(labels)} labels for {len(x)} rows")


def reuse_learnwares(learnwares: Sequence[Any], x: NDArray[Any], *, method: str | None = None,
                     labels: NDArray[Any] | None = None,
                     weights: Sequence[float] | None = None,
                     user_input: InputSpec | None = None) -> Reused:
    """`reuse_with` for learnwares already loaded (the page's worker loads them itself)."""
    _check_reuse(x, method, labels)
    learnwares = list(learnwares)
    if weights is not None and len(weights) != len(learnwares):
        raise InputError(f"--weights: {len(weights)} weights for {len(learnwares)} learnwares")
    x, user_input = in_their_order(learnwares, x, user_input)
    other = other_columns(learnwares, user_input, x)
    if other and method not in (None, HETERO):
        raise InputError(f"--method {method}: learnware {other[0]} takes other columns than "
                         f"yours; reuse across feature spaces is --method {HETERO} (chosen "
                         "by itself when --method is left out)")
    if method is None and other:
        method = HETERO
    try:
        if method == HETERO:
            return _reuse_hetero(learnwares, x, labels, weights, user_input, other)
        if method is None and labels is not None:
            selection = select_method(learnwares, x[:len(labels)], labels, weights, rows=x)
            return Reused(np.asarray(selection.model.predict(x)), selection.chosen,
                          notes=selection.notes, selection=selection)
        if method is None:
            chosen = data_free_method(learnwares, x, weights)
            model, predictions = data_free_predictions(chosen, learnwares, x, weights)
            why = (chosen.note,) if chosen.note else ()
            return Reused(predictions, chosen.method, notes=(*why, *model.notes_))
        model = new_reuser(method, learnwares, weights)
        if method in NEEDS_LABELS:
            assert labels is not None
            model.fit(x[:len(labels)], labels)
        else:
            model.fit(x)
        return Reused(np.asarray(model.predict(x)), method, notes=tuple(model.notes_))
    except (ReuseError, SpecError) as exc:
        raise InputError(str(exc)) from None


def in_their_order(learnwares: Sequence[Any], x: NDArray[Any], user_input: InputSpec | None
                   ) -> tuple[NDArray[Any], InputSpec | None]:
    """The user's columns (`x`, named by `user_input`) put in the learnwares' order by
    name when they name the same columns in another order; else as they are."""
    permutation = order_by_name(user_input, [lw.semantic.input for lw in learnwares
                                             if lw.semantic.input is not None])
    if permutation is not None and user_input is not None and x.ndim == 2:
        return x[:, permutation], reordered(user_input, permutation)
    return x, user_input


def other_columns(learnwares: Sequence[Any], user_input: InputSpec | None,
                  x: NDArray[Any]) -> list[str]:
    """The ids of the `learnwares` that take other columns than the user's rows `x`
    (named and described by `user_input`); refuses those whose columns cannot be mapped."""
    width = int(x.shape[1]) if x.ndim == 2 else int(x[0].size)
    return [lw.id for lw in learnwares if _other_columns(lw, user_input, width)]


DATA_FREE_METHODS = ("job-selector", "average")
"""The same-column methods that need no labels; `data_free_method` chooses between them."""
LABELLED_METHODS = ("ensemble-pruning", "feature-augment")


@dataclass(frozen=True)
class DataFreeChoice:
    """The same-column method when none is asked for and there are no labels (with
    labels, the baseline `select_method` keeps unless another method beats it out of
    fold): `method`, the router's `confidence` on the user's rows (NaN: nothing to
    choose), a sentence for the user (`note`, empty when there was nothing to choose),
    and the fitted job selector the choice was made with, with its routing of the rows
    (`engine.reuse.job_selector.RouteChoice`), for `data_free_predictions`."""

    method: str
    confidence: float
    note: str = ""
    route: Any = field(default=None, repr=False, compare=False)


def data_free_method(learnwares: Sequence[Any], x: NDArray[Any],
                     weights: Sequence[float] | None) -> DataFreeChoice:
    """Route (``job-selector``) or average, by `engine.reuse.job_selector.route_choice`
    on all the user's rows `x`: route when the router is sure where each row belongs,
    average when the learnwares' inputs cannot be told apart (docs/reuse.md, "Route or
    average"). One learnware, or learnwares that cannot be routed among: the job
    selector, which then does what averaging would."""
    from engine.reuse.job_selector import ROUTE_CONFIDENCE, route_choice

    route = route_choice(learnwares, x, weights=weights)
    confidence = route.confidence
    if math.isnan(confidence):
        return DataFreeChoice("job-selector", confidence, route=route)
    if route.route:
        return DataFreeChoice("job-selector", confidence, (
            f"routed each row to one learnware: the router is sure where your rows belong "
            f"(mean confidence {confidence:.3f} > {ROUTE_CONFIDENCE})"), route)
    return DataFreeChoice("average", confidence, (
        f"averaged the learnwares: their inputs cannot be told apart on your rows (the "
        f"router's mean confidence {confidence:.3f} <= {ROUTE_CONFIDENCE}); "
        "--method job-selector routes anyway"), route)


def data_free_predictions(choice: DataFreeChoice, learnwares: Sequence[Any], x: NDArray[Any],
                          weights: Sequence[float] | None) -> tuple[Any, NDArray[Any]]:
    """The reuser `choice` names, fitted, and its predictions of the rows `x` the choice
    read: a routed choice predicts with the selector and the posteriors it was made
    with (the rows are routed once), an averaged one with a new `Averaging`."""
    if choice.method == "job-selector" and choice.route is not None:
        selector = choice.route.selector
        routing = choice.route.routing
        return selector, np.asarray(selector.predict(x if routing is None else routing))
    model = new_reuser(choice.method, learnwares, weights).fit(x)
    return model, np.asarray(model.predict(x))


def select_method(learnwares: Sequence[Any], x: NDArray[Any], labels: NDArray[Any],
                  weights: Sequence[float] | None, *, nested: bool = True,
                  rows: NDArray[Any] | None = None) -> Selection:
    """The same-column method for the user's labelled rows (`x`, `labels`), chosen by
    `engine.reuse.select.select_reuser` among the data-free methods and
    `LABELLED_METHODS`: the data-free default (`data_free_method` on all the user's
    `rows`, `x` when None) is the baseline, kept unless another method beats it out of
    fold (the rule and its estimate are in that module's doc); its `model` is fitted
    and predicts. `nested` False skips the nested estimate (the choice and the model
    are the same; benchmarks that score on held-out rows of their own need no
    estimate)."""
    from engine.reuse.base import infer_task
    from engine.reuse.select import Candidate, select_reuser

    task = infer_task(learnwares)
    base = data_free_method(learnwares, x if rows is None else rows, weights).method
    order = (base, *(m for m in DATA_FREE_METHODS if m != base), *LABELLED_METHODS)

    def factory(name: str) -> Callable[[], Any]:
        return lambda: new_reuser(name, learnwares, weights)

    candidates = [Candidate(name, factory(name), name in NEEDS_LABELS) for name in order]
    return select_reuser(candidates, x, labels, task=task, nested=nested)


def new_reuser(method: str, learnwares: Sequence[Any], weights: Sequence[float] | None) -> Any:
    """The engine's reuser for a same-column `method` (weights for the data-free ones)."""
    from engine.reuse import Averaging, EnsemblePruning, FeatureAugment, JobSelector

    if method == "job-selector":
        return JobSelector(learnwares, weights=weights)
    if method == "average":
        return Averaging(learnwares, weights=weights)
    if method == "ensemble-pruning":
        return EnsemblePruning(learnwares)
    if method == "feature-augment":
        return FeatureAugment(learnwares)
    raise ReuseError(f"method: {method!r} is not one of {', '.join(REUSE_METHODS)}")


def _other_columns(lw: Any, user: InputSpec | None, width: int) -> bool:
    """Does learnware `lw` take other columns than the user's? Refuses the cases where
    it does but the columns cannot be matched (no names on one side)."""
    from engine.hetero.features import same_columns

    theirs = lw.semantic.input
    named = theirs is not None and bool(theirs.features)
    if named and user is not None and user.features:
        return not same_columns(user, theirs)
    if lw.spec.dim_ == width or lw.spec.kind != "rkme_table":
        return False
    if not named:
        raise InputError(f"learnware {lw.id} takes {lw.spec.dim_} columns, your data has "
                         f"{width}, and it does not name its columns: yours cannot be "
                         "mapped onto them")
    raise InputError(f"learnware {lw.id} takes other columns ({_column_names(lw)}): give "
                     "your data a header row, and describe your columns in a --semantic TOML "
                     "([input.columns] name = \"description\"), so they can be mapped")


def _column_names(lw: Any, shown: int = 6) -> str:
    features = lw.semantic.input.features
    more = ", ..." if len(features) > shown else ""
    return ", ".join(f.name for f in features[:shown]) + more


def _reuse_hetero(learnwares: list[Any], x: NDArray[Any], labels: NDArray[Any] | None,
                  weights: Sequence[float] | None, user_input: InputSpec | None,
                  other: Sequence[str]) -> Reused:
    """Reuse across feature spaces; `other` are the ids of the learnwares over other
    columns (`other_columns`)."""
    from engine.errors import MissingExtraError
    from engine.hetero.features import missing_descriptions
    from engine.hetero.reuse import HeteroReuser

    not_table = next((lw for lw in learnwares if lw.spec.kind != "rkme_table"), None)
    if not_table is not None:
        kind = not_table.spec.kind.removeprefix("rkme_")
        article = "an" if kind.startswith("i") else "a"
        raise InputError(f"--method {HETERO} maps table columns; learnware {not_table.id} is "
                         f"{article} {kind} learnware: reuse it with job-selector, average, "
                         "ensemble-pruning or feature-augment")
    if x.ndim != 2:
        raise InputError(f"reuse across feature spaces takes a table, got shape {x.shape}")
    if missing_descriptions(user_input):
        first = next((lw for lw in learnwares if lw.id in other), None)
        diff = "" if first is None or user_input is None or not user_input.features else \
            " (" + column_difference([f.name for f in user_input.features],
                                     [f.name for f in first.semantic.input.features]) + ")"
        what = (f"learnware {first.id} names other columns ({_column_names(first)}) than "
                f"yours{diff}" if first is not None
                else f"--method {HETERO} maps columns by meaning")
        raise InputError(f"{what}: describe your columns in a --semantic TOML "
                         "([input.columns] name = \"description\") so they can be mapped")
    try:
        # columns are matched on all the user's rows (their statistics help), the
        # stack is fitted on the labelled ones
        model = HeteroReuser(learnwares, user_input=user_input, weights=weights).fit(x)
        if labels is not None:
            model = HeteroReuser(learnwares, mappings=model.mappings_,
                                 weights=weights).fit(x[:len(labels)], labels)
        predictions = np.asarray(model.predict(x))
    except MissingExtraError as exc:
        raise InputError(f"{exc}") from None
    mappings = tuple((lw.id, m) for lw, m in zip(learnwares, model.mappings_, strict=True))
    used = None if labels is None else hetero_labels_used(model, len(labels))
    return Reused(predictions, HETERO, mappings, tuple(model.notes_), labels_used=used)


HETERO_CORRECTIONS = {
    "constant": "a constant shift of the learnwares' average",
    "outputs": "a re-weighting of the learnwares' outputs",
    "outputs+columns": "a ridge model on the learnwares' outputs and your columns",
}


def hetero_labels_used(model: Any, n_labels: int) -> str:
    """What `engine.hetero.reuse.HeteroReuser` fitted on `n_labels` labels, in a
    sentence: a classifier stacked on them, or the correction of the learnwares'
    data-free average chosen by leave-one-out (none when none beat it clearly)."""
    if model.correction_ == "stacked":
        return (f"your {n_labels} labels fitted a logistic model stacked on your columns "
                "and the learnwares' class probabilities; it predicts every row")
    from engine.hetero.reuse import LABELS_PER_PARAMETER
    from engine.reuse.base import REGRESSION

    if model.task_ != REGRESSION:  # a one-class draw: the notes say what was done
        return f"your {n_labels} labels were not used: predicted the data-free average"
    tried = ("a constant shift, a re-weighting of the learnwares' outputs, a ridge model on "
             f"the outputs and your columns; each needs {LABELS_PER_PARAMETER} labels per "
             "parameter")
    if model.correction_ == "none":
        return (f"your {n_labels} labels tested corrections of the learnwares' data-free "
                f"average by leave-one-out ({tried}): none beat it by more than a standard "
                "error, so the predictions are that average")
    return (f"your {n_labels} labels chose, by leave-one-out among corrections of the "
            f"learnwares' data-free average ({tried}), "
            f"{HETERO_CORRECTIONS[model.correction_]}: the simplest within a standard error "
            "of the best; added to that average for every row")
