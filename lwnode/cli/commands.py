"""`lwnode`: the command line of a learnware dock node.

=====================  ====================================================
command                what it does
=====================  ====================================================
``demo``               a dock network on this machine, end to end (``--engine``:
                       the engine alone, in-process)
``init``               create a node's home: config, Ed25519 key, API token
``run``                run the node until SIGINT / SIGTERM
``pack``               build a package from a model file and its training data
``publish``            upload a package to a node (needs the node's token)
``search``             describe your data by its RKME (built here) and search
``fetch``              download packages, verified against id and signature
``reuse``              predict your rows with fetched learnwares
``peers``              the peers a node knows
``spec make``          the RKME of a data file, as JSON
``list``               list and search the learnwares a node knows (`lwnode.cli.browse`)
``show``               one learnware as a card (`lwnode.cli.browse`)
``withdraw``           withdraw an own learnware (`lwnode.cli.browse`)
``status``             node, organization, health, token, peers (`lwnode.cli.browse`)
``cache``              fetched packages; ``cache clear`` (`lwnode.cli.cache`)
``completion``         a bash / zsh / fish completion script (`lwnode.cli.completion`)
=====================  ====================================================

Results go to stdout (``--json`` on every command that prints results); progress and
errors to stderr. Bad input gives one line on stderr, never a traceback, naming the
command typed (``lwnode search: ...``). Shared helpers: `lwnode.cli.common`.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

from engine.errors import LwdockError
from lwnode.cli.common import (
    DEFAULT_URL,
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    WrappingHelpFormatter,
    check_home,
    command_typed,
    wrong_token_hint,
)
from lwnode.cli.common import err_console as _err
from lwnode.cli.common import node_client as _client
from lwnode.cli.common import node_home as _home
from lwnode.cli.common import out_console as _out
from lwnode.cli.common import print_json as _print_json
from lwnode.cli.common import resolve_ids as _resolve_ids
from lwnode.cli.common import say as _say
from lwnode.cli.common import short_id as _short

EXIT_CODES = "\n".join([  # a line a paragraph: --help wraps them (WrappingHelpFormatter)
    "exit codes:",
    f"  {EXIT_OK}    success",
    f"  {EXIT_FAILURE}    failure (the node failed, a download did not verify, an existing "
    "key; 'status' of a degraded node)",
    f"  {EXIT_BAD_INPUT}    bad usage or bad input (missing file, non-numeric CSV, wrong "
    "columns, no API token, a --home that does not exist)",
    f"  {EXIT_UNREACHABLE}    the node is unreachable",
    f"  {EXIT_REFUSED}    the node refused the request (package rejected, unknown id, bad "
    "token; 'status' with a refused token)",
    f"  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)",
    "",
    "environment: LWDOCK_HOME (default ~/.lwdock), LWDOCK_NODE (node URL), LWDOCK_TOKEN, "
    "and LWDOCK_<SECTION>_<KEY> settings for 'run' (see configs/node.toml)."])


def _cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from lwnode.demo import engine as engine_demo

    # --json: the report is the one line on stdout; progress goes to stderr
    console = Console(stderr=True) if args.json else Console()
    if args.engine and args.data != "image":
        from lwnode.errors import InputError

        raise InputError("--data chooses the network demo's data set; the engine demo "
                         "(--engine) runs on the digits only")
    if not args.engine:
        import asyncio
        from pathlib import Path

        from lwnode.demo import network as network_demo

        keep = Path(args.keep) if args.keep else None
        net = asyncio.run(network_demo.run_network_demo(
            data=args.data, n_orgs=args.orgs, n_labels=20 if args.labels is None else args.labels,
            seed=args.seed, quick=args.quick,
            keep=keep, console=console))
        if args.json:
            _print_json({**network_demo.network_json(net),
                         "kept": None if keep is None else str(keep)})
            return 0
        network_demo.print_network_report(net, console)
        if keep is not None:
            homes = ", ".join(f"node{i} ({org})" for i, org in enumerate(net.organizations))
            console.print(f"kept in {keep}: the node homes {homes}, and the fetched packages "
                          f"in {keep / 'fetched'}. Start a node again on its own (the demo's "
                          f"links are not kept): lwnode run --home {keep / 'node0'} --http "
                          "127.0.0.1:0", highlight=False)
        return 0
    report = engine_demo.run(seed=args.seed, console=console,
                             n_user_labels=8 if args.labels is None else args.labels)
    if args.json:
        _print_json(engine_demo.engine_json(report))
        return 0
    engine_demo.print_report(report, console)
    return 0


# -- shared helpers -------------------------------------------------------------------------
@contextmanager
def _step(text: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs (only on a terminal)."""
    console = _err()
    if not console.is_terminal:
        yield
        return
    with console.status(text):
        yield


@contextmanager
def _bar(text: str, total: int) -> Iterator[Callable[[int], None]]:
    """A byte progress bar on stderr (only on a terminal); yields an advance(n) function."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TransferSpeedColumn,
    )

    console = _err()
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(text, total=total or None)
        yield lambda n: progress.advance(task, n)


def _seed(text: str) -> int:
    """A random seed as numpy takes it: 0 .. 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected 0..{2**32 - 1}, got {value}")
    return value


def _url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a URL like {DEFAULT_URL}")
    return text


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _read_table(path: str, args: argparse.Namespace | None = None) -> Any:
    """The data file, its missing values filled as ``--impute`` says (a note on stderr)."""
    from lwnode.userside.tabular import read_table

    impute_with = getattr(args, "impute", None)
    with _step(f"reading {path}"):
        table = read_table(path, impute_with)
    if table.imputed:
        print(f"{path}: filled {table.imputed} missing value(s) with each column's "
              f"{impute_with}" if impute_with != "zero" else
              f"{path}: filled {table.imputed} missing value(s) with 0", file=sys.stderr)
    return table


def _spec_of(table: Any, args: argparse.Namespace, data_type: str | None = None,
             semantic: Any = None) -> Any:
    """The RKME of `table` as the spec options say; `semantic`: the `SemanticSpec` read
    from ``--semantic``, whose columns' declared ranges bound a DP spec's points."""
    from lwnode.errors import InputError
    from lwnode.userside.local import dp_choices, make_spec

    dp = _dp_options(args)  # a bad option names the option, not the data file
    where = getattr(args, "semantic", None)
    dp, notes = dp_choices(table, data_type, dp, market=_market_gammas(args),
                           declared=None if semantic is None else semantic.input,
                           declared_in=str(where) if where else "a --semantic TOML")
    for note in notes:  # which public rule chose gamma (or bounds): the spec carries it
        print(f"differential privacy: {note}", file=sys.stderr)
    try:
        with _step(f"building the RKME of {len(table.values)} rows (on this machine)"):
            points = {} if args.points is None else {"n_points": args.points}
            return make_spec(table, data_type=data_type, seed=args.seed, dp=dp, **points)
    except InputError as exc:  # e.g. too few rows to hide one: name the file
        name = getattr(args, "data", None)
        raise InputError(f"{name}: {exc}" if name else str(exc)) from None


def _check_range(option: str, value: int, most: int | None, where: str = "") -> None:
    """An integer option outside ``1..most`` is bad input, named as typed (`where`: whose
    limit `most` is); `most` None: no upper limit known."""
    from lwnode.errors import InputError

    if value < 1 or (most is not None and value > most):
        top = "" if most is None else most
        raise InputError(f"{option}: {value} is outside 1..{top}" +
                         (f" ({where})" if where else ""))


def _check_points(args: argparse.Namespace, node_most: int | None = None) -> None:
    """``--points`` within what the engine fits (and `node_most`, the node's limit on a
    search's points, ``[budget] requirement_points``); left out, the default is."""
    from engine.specification.rkme import MAX_POINTS

    if args.points is None:
        return
    if node_most is not None and node_most < MAX_POINTS:
        _check_range("--points", args.points, node_most, "the node's [budget] "
                    "requirement_points")
    _check_range("--points", args.points, MAX_POINTS)


def _points_note(spec: Any, args: argparse.Namespace, rows: int) -> str:
    """Why `spec` has fewer points than ``--points`` asked (the private default's groups
    of rows), as a clause to print in the parentheses after its point count (it begins
    with "; "); "" when it has them all or ``--points`` was left out."""
    asked = getattr(args, "points", None)
    if asked is None or getattr(spec, "rows_per_point_", None) is None or \
            len(spec.points_) >= asked:
        return ""
    from engine.privacy.grouping import group_bounds

    most, group = group_bounds(rows, spec.min_rows_per_point)
    return (f"; fewer than --points {asked}: the private default makes each point the mean "
            f"of at least {group} rows, so {rows} rows give at most {most}")


# -- init / run ----------------------------------------------------------------------------------
def _cmd_init(args: argparse.Namespace) -> int:
    home = _home(args)
    http = {"host": args.http[0], "port": args.http[1]} if args.http else None
    identity = home.init(args.org or "", http=http)
    if args.json:
        _print_json({"home": str(home.path), "node_id": identity.node_id,
                     "config": str(home.config_path), "key": str(home.key_path),
                     "token": str(home.token_path)})
        return EXIT_OK
    print(f"created node home {home.path}")
    print(f"  node id   {identity.node_id}")
    print(f"  config    {home.config_path}")
    print(f"  key       {home.key_path} (mode 0600: the node's identity, back it up)")
    print(f"  token     {home.token_path} (mode 0600: needed to publish and withdraw)")
    print(f"next: lwnode run --home {home.path}")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from lwnode.daemon import configure_logging, serve

    home = _home(args)
    if home.ensure():
        print(f"lwnode: new node home {home.path} (key and API token created)",
              file=sys.stderr)
    overrides: dict[str, dict[str, Any]] = {"http": {}, "p2p": {}, "node": {}}
    if args.http:
        overrides["http"].update(host=args.http[0], port=args.http[1])
    if args.p2p:
        overrides["p2p"]["listen"] = [args.p2p]
    if args.bootstrap:
        overrides["p2p"]["bootstrap"] = list(args.bootstrap)
    if args.no_p2p:
        overrides["p2p"]["enabled"] = False
    if args.org:
        overrides["node"]["organization"] = args.org
    config = home.config(env=os.environ, overrides=overrides, config_file=args.config)
    configure_logging(config.log)
    asyncio.run(serve(home, config))
    return EXIT_OK


# -- developer: pack / publish ---------------------------------------------------------------
def _output_file(args: argparse.Namespace) -> Path:
    """``-o FILE`` of every command that writes a file (pack, spec make, reuse; options
    from `_add_output`), checked before any work: its folder exists, and the file does
    not unless ``--force``."""
    from lwnode.errors import InputError

    out = Path(args.output)
    if not out.parent.is_dir():
        raise InputError(f"-o {out}: the folder {out.parent} does not exist (create it, or "
                         "give another path)")
    if out.is_dir():
        raise InputError(f"-o {out}: a folder; give the path of a file")
    if out.exists() and not args.force:
        raise InputError(f"{out} exists (use --force to replace it)")
    return out


def _write_file(out: Path, data: bytes) -> None:
    """`data` into `out` whole: a hidden partial file beside it (of this process: never
    a file of the user's; its name short, whatever `out`'s length), synced, then renamed
    over `out`, so a failure or Ctrl-C leaves the old file (or none) and no partial one.
    A failure names `out`, not the partial file."""
    from lwnode.errors import InputError

    tmp = out.with_name(f".lwnode-{os.getpid()}.partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(f"-o {out}: cannot write it ({exc.strerror or exc})") from None


def _add_output(p: argparse.ArgumentParser, metavar: str, what: str) -> None:
    """``-o FILE`` and ``--force`` of a command that writes a file: one rule for all
    (`_output_file` checks it before any work, `_write_file` writes it)."""
    p.add_argument("-o", "--output", required=True, metavar=metavar,
                   help=f"{what} (refused if it exists, unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")


def _cmd_pack(args: argparse.Namespace) -> int:
    from engine.checks import CheckOptions, check_package
    from engine.errors import PackageError
    from engine.package import build_bytes
    from lwnode.errors import InputError
    from lwnode.userside.local import load_model_file, read_semantic

    out = _output_file(args)
    _check_points(args)
    table = _read_table(args.data, args)
    # the TOML's fields now, not after seconds of loading the model and fitting the spec
    read_semantic(args.semantic, table=table, data_name=args.data)
    with _step(f"loading the model {args.model}"):
        model = load_model_file(args.model, trusted_types=args.trusted_type,
                                allow_pickle=args.allow_pickle)
    semantic = read_semantic(args.semantic, table=table, data_name=args.data, model=model,
                             complete=True)
    spec = _spec_of(table, args, semantic.data_type.value if semantic.data_type else None,
                    semantic)
    privacy = _privacy_report(spec, table)  # printed below, kept in learnware.toml
    with _step("building the package"):
        try:
            data = build_bytes(model, semantic, spec, trusted_types=args.trusted_type,
                               privacy_report=privacy)
        except PackageError as exc:
            raise InputError(str(exc)) from None
    if not args.no_check:
        with _step("running the usability checks"):
            report = check_package(data, CheckOptions(trusted_types=tuple(args.trusted_type)))
        if not report.ok:
            print(f"lwnode: the package would be rejected: {report.reason}", file=sys.stderr)
            return EXIT_FAILURE
    _write_file(out, data)
    from protocol.content import content_id

    if args.json:
        _print_json({"output": str(out), "id": content_id(data), "size": len(data),
                     "name": semantic.name,
                     "task_type": semantic.task_type.value if semantic.task_type else None,
                     "input": _input_counts(semantic.input),
                     "statistical": {"type": spec.kind, "points": len(spec.points_),
                                     "dimension": int(spec.points_.shape[1]),
                                     "rows": len(table.values),
                                     "privacy_note": _spec_privacy(spec)},
                     "privacy": privacy.to_dict(), "checked": not args.no_check})
        return EXIT_OK
    _say(f"wrote {out} ({len(data)} bytes): {content_id(data)}", hang=2)
    _say(f"  {semantic.name} — {semantic.task_type.value if semantic.task_type else '?'}, "
         f"input {_input_summary(semantic.input)}", hang=4)
    _say(f"  statistical spec: {spec.kind}, {len(spec.points_)} points in "
         f"{spec.points_.shape[1]} dimensions from {len(table.values)} rows "
         f"({_spec_privacy(spec)}{_points_note(spec, args, len(table.values))})", hang=4)
    _say(f"  {privacy.summary()} (kept in the package's learnware.toml)", hang=4)
    return EXIT_OK


def _input_counts(input_spec: Any) -> dict[str, int] | None:
    """The input's dimension and how many of its features are named and described."""
    if input_spec is None:
        return None
    return {"dimension": input_spec.dimension, "named": len(input_spec.features),
            "described": sum(1 for f in input_spec.features if f.description.strip())}


def _input_summary(input_spec: Any) -> str:
    """"6 features (6 named, 6 described)": whether users over other columns can match
    them (that needs every column described)."""
    counts = _input_counts(input_spec)
    if counts is None:
        return "? features"
    named, described = counts["named"], counts["described"]
    if not named:
        return f"{counts['dimension']} features (unnamed)"
    hint = "" if described == named else "; describe them all in [input.columns] so " \
        "users with other columns can find it"
    return f"{counts['dimension']} features ({named} named, {described} described{hint})"


def _cmd_publish(args: argparse.Namespace) -> int:
    from lwnode.errors import InputError

    path = Path(args.package)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    client = _client(args, auth=True)
    size = path.stat().st_size
    limit = client.health().get("limits", {}).get("max_upload_bytes")
    if limit and size > limit:
        raise InputError(f"{path}: {size} bytes, more than the node's limit of {limit}")
    with _bar(f"uploading {path.name}", size) as advance:
        status, answer = client.publish(path, progress=advance)
    if args.json:
        _print_json(answer)
        return EXIT_OK
    report = answer.get("report", {})
    verb = "published" if status == 201 else "already published"
    _say(f"{verb} {answer['id']}", hang=2)
    _say(f"  checks: {report.get('status')} ({len(report.get('checks', []))} checks); "
         f"sequence {answer.get('sequence')}; {answer.get('package_url')}", hang=4)
    return EXIT_OK


# -- user: search / fetch / reuse -----------------------------------------------------------
def _cmd_search(args: argparse.Namespace) -> int:
    from lwnode.errors import InputError
    from lwnode.http.jsonio import spec_json
    from lwnode.userside.local import read_semantic

    body: dict[str, Any] = {"k": args.k}
    mine: tuple[Any, Any] | None = None
    if args.mixture is not None:
        body["max_mixture"] = args.mixture
    if args.data and args.spec:
        raise InputError("give --data or --spec, not both")
    # a stopped node fails now, not after the data's summary; its limits bound the options
    limits = _client(args).health().get("limits", {})
    _check_range("--k", args.k, limits.get("max_k"), "the node's [search] max_k")
    if args.mixture is not None:
        _check_range("--mixture", args.mixture, limits.get("max_mixture"),
                    "the node's [search] max_mixture")
    if args.data:
        _check_points(args, limits.get("max_requirement_points"))
        table = _read_table(args.data, args)
        # The header (and any descriptions in --semantic) travel with the RKME: they
        # let the node match learnwares over other columns (heterogeneous search).
        semantic = read_semantic(args.semantic, table=table, data_name=args.data)
        body["semantic"] = semantic.without_ranges().to_dict()  # ranges: for the DP fit only
        spec = _spec_of(table, args, semantic=semantic)
        body["statistical"] = spec_json(spec)
        mine = (spec, table)  # measured after the answer: a dead node costs no extra fit
    elif args.semantic:
        body["semantic"] = read_semantic(args.semantic).without_ranges().to_dict()
    elif args.spec:
        body["statistical"] = read_json_file(args.spec)
    if "semantic" not in body and "statistical" not in body:
        raise InputError("nothing to search with: give --data (or --spec) and/or --semantic")
    if args.labels and not args.data:
        raise InputError("--labels label the first rows of --data: give --data too")
    labels = None
    if args.labels:
        from lwnode.userside.rerank import check_rerank

        check_rerank(args.rerank)
        labels = _read_labels(args.labels)
    from lwnode.errors import RequestFailed

    source = args.data or args.spec or args.semantic
    with _step("searching"):
        try:
            answer = _client(args).search(body)
        except RequestFailed as exc:
            if exc.error_code not in ("bad_search", "bad_spec"):
                raise
            # The node cannot compare this data with its learnwares: an input problem.
            message = _in_cli_words(exc.body.get("message", str(exc)))
            raise InputError(f"{source}: {message}") from None
    if not answer["single"] and any(n.startswith("no learnware in space")
                                    for n in answer.get("notes", [])):
        raise InputError(f"{source}: no learnware on the node takes data like this "
                         f"({answer['notes'][0].rsplit(' ', 1)[-1]}); check its columns, or, "
                         "to match learnwares over other columns, give it a header and "
                         f"{_DESCRIBE}")
    reranked = None
    if labels is not None and answer["single"]:
        assert mine is not None
        reranked = _rerank(args, answer, mine[1], labels)
    if args.json:
        _print_json(answer if reranked is None else {**answer, "rerank": reranked})
        return EXIT_OK
    _print_answer(answer, body, "" if mine is None else
                  _points_note(mine[0], args, len(mine[1].values)))
    if reranked is not None:
        _print_rerank(reranked, answer, args.labels)
    if mine is not None:
        _out().print(f"your requirement's {_privacy_report(*mine).summary()}",
                     markup=False, highlight=False)
    return EXIT_OK


def _read_labels(path: str) -> Any:
    from lwnode.userside.tabular import read_labels

    with _step(f"reading {path}"):
        return read_labels(path)


def _rerank(args: argparse.Namespace, answer: dict[str, Any], table: Any, labels: Any
            ) -> dict[str, Any]:
    """Fetch the shortlist (verified, into the cache) and order it by the labels
    (`lwnode.userside.rerank.rerank_packages`, as the web page does)."""
    from lwnode.cli.cache import cache_dir
    from lwnode.userside.rerank import rerank_packages, shortlist_ids

    fetched, unfetched = _fetch_each(args, shortlist_ids(answer, args.rerank),
                                     cache_dir(args), tolerant=True)
    with _step(f"scoring {len(fetched)} learnware(s) on your {len(labels)} labels"):
        return rerank_packages(answer, {f.learnware_id: f.path for f in fetched}, table,
                               labels, labels_name=args.labels, semantic=args.semantic,
                               data_name=args.data, n=args.rerank, unfetched=unfetched)


def _print_rerank(reranked: dict[str, Any], answer: dict[str, Any], labels: str) -> None:
    """The shortlist by the labels: why it is in this order first, then the table, then
    the reuse command its first supports (the mixture's members, or one learnware)."""
    from lwnode.cli.tables import rerank_table, reuse_hint
    from lwnode.userside.rerank import labels_first, why_this_order

    console = _out()
    why = why_this_order(reranked)
    if why is not None:  # else the notes say why nothing was ranked
        console.print(why, markup=False, highlight=False)
    for note in reranked["notes"]:
        console.print(f"note: {note}", style="dim", markup=False)
    first = labels_first(reranked, answer)
    if first is None:
        return
    console.print(rerank_table(reranked))
    top = reranked["ranking"][0]
    _say(f"reuse the labels' first, {'the mixture' if first[1] else top['name']}, with your "
         "labels (the method is chosen on them out of fold):")
    print(reuse_hint(first[0], first[1], False, labels))


SCORE_ORDER = ("the scores are not in rank order: the rank is by MMD², and the score divides "
               "MMD² by how concentrated both embeddings are, so that a score means the same "
               "in every search; two neighbours may therefore have their scores the other way "
               "round")
"""Under the search table when its scores are not in rank order (as the web page says)."""

_DESCRIBE = "describe your columns in a --semantic TOML ([input.columns] name = \"description\")"


def _in_cli_words(message: str) -> str:
    """A search message that says what the engine needs, with how to give it here."""
    for engine_words, cli_words in (  # the engine's words -> the user's
            ("Build them with InputSpec.from_columns(names, descriptions)",
             _DESCRIBE[0].upper() + _DESCRIBE[1:]),
            ("semantic.input.features with a description for every column",
             "a description for every column"),
            ("mixture dropped: it held learnwares over other columns of the same width",
             "no mixture: it would have mixed learnwares whose columns are named otherwise "
             "than yours"),
            ("heterogeneous search (matching columns across feature spaces) needs",
             "matching your columns with a learnware's other columns needs"),
            ("heterogeneous search needs", "matching them with your columns needs"),
            ("heterogeneous search skipped:", "learnwares over other columns not compared:"),
            ("mixture across feature spaces (compared on your columns)",
             "the mixture holds learnwares over other columns (compared on your columns)"),
            ("heterogeneous: ", ""), ("requirement: ", ""),
            ("over other columns compared", "over other columns compared by your columns' "
             "descriptions")):
        message = message.replace(engine_words, cli_words)
    if message.endswith("a description for every column"):
        message += f": {_DESCRIBE}"
    return message


def read_json_file(path: str) -> Any:
    from lwnode.errors import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from None


def _print_answer(answer: dict[str, Any], body: dict[str, Any], points_note: str = "") -> None:
    """The ranked learnwares and the mixture; `points_note`: why the RKME sent has fewer
    points than asked."""
    console = _out()
    stat = body.get("statistical")
    if stat:
        points = stat["points"]
        console.print(f"sent the RKME of your data: {len(points)} weighted "
                      f"point{'' if len(points) == 1 else 's'} in "
                      f"{len(points[0])} dimensions (no raw rows{points_note})",
                      markup=False, highlight=False)
    if not answer["single"]:
        notes = "; ".join(answer.get("notes", [])) or "no learnware matches"
        console.print(f"no results: {_in_cli_words(notes)}", markup=False)
        return
    from lwnode.cli.tables import mixture_table, ranked_table, reuse_hint

    table = ranked_table(answer)
    console.print(table)
    shown = [round(h["score"], 3) for h in answer["single"]]  # as the table prints them
    if any(later > earlier for earlier, later in pairwise(shown)):
        console.print(f"note: {SCORE_ORDER}", style="dim", markup=False)
    for rank, hit in enumerate(answer["single"], 1):
        if hit.get("mapping"):
            console.print(f"#{rank} is heterogeneous: it takes other columns than yours "
                          "(its column <- yours, with the descriptions' similarity):")
            for line in hit["mapping"]["lines"]:  # column names may hold [brackets]
                console.print(f"    {line}", highlight=False, markup=False)
    for note in answer.get("notes", []):  # markup=False: "[input.columns]" is text
        console.print(f"note: {_in_cli_words(note)}", style="dim", markup=False)
    mixture = answer.get("mixture")
    if mixture:
        console.print(mixture_table(mixture))
        across = any(h.get("mapping") for h in answer["single"] if h["id"] in mixture["ids"])
        print("reuse it:\n" + reuse_hint(mixture["ids"], mixture["weights"], across))
    elif answer["single"]:
        top = answer["single"][0]
        print("reuse the top match:\n" + reuse_hint([top["id"]], None,
                                                     bool(top.get("mapping"))))
    shortlist = _shortlist_to_average(answer)
    if shortlist:
        print("or, with no labels, when these learnwares are alternatives for one task\n"
              "(the same task from other sources: it helped there, not across a drift\n"
              "in time; docs/reuse.md, \"Held-out markets\"), the equal average of the\n"
              "shortlist:\n" + reuse_hint(shortlist, None, False, method="average"))
    if answer.get("partial"):
        console.print(f"partial answer: no reply from {', '.join(answer.get('missed', []))}")


def _shortlist_to_average(answer: dict[str, Any]) -> list[str]:
    """The shortlist to average (`lwnode.userside.rerank.average_ids`: the top single
    hits over the user's columns that fit its data, and the mixture's members) when it
    holds more than what the reuse hint above it names, else nothing. Its equal
    average (``--method average`` without ``--weights``) is the data-free rule
    `benchmarks/agreement.py` chose on the tuning users (docs/reuse.md, "Held-out
    markets")."""
    from lwnode.userside.rerank import DEFAULT_RERANK, average_ids

    ids = average_ids(answer, DEFAULT_RERANK)
    mixture = answer.get("mixture")
    hinted = set(mixture["ids"]) if mixture else {answer["single"][0]["id"]}
    return ids if len(ids) > 1 and set(ids) != hinted else []


def _fetch(args: argparse.Namespace, ids: Sequence[str], dest: Path) -> list[Any]:
    fetched, _ = _fetch_each(args, ids, dest, tolerant=False)
    return fetched


def _fetch_each(args: argparse.Namespace, ids: Sequence[str], dest: Path, *, tolerant: bool
                ) -> tuple[list[Any], dict[str, str]]:
    """Fetch `ids` in turn. `tolerant` (a re-ranking's shortlist): one that fails is
    left out with why (id -> message), and only when none arrives does the first
    failure stand; otherwise the first failure stops the command."""
    from lwnode.cli.cache import fetch_lock
    from lwnode.errors import InputError, NodeError
    from lwnode.userside.local import fetch_package

    client = _client(args)
    limits = _fetch_limits(args, client.url)
    fetched, failed = [], {}
    first: NodeError | None = None
    for learnware_id in _resolve_ids(client, ids):
        try:
            with fetch_lock(dest), _bar(f"fetching {_short(learnware_id)}", 0) as advance:
                fetched.append(fetch_package(client, learnware_id, dest, progress=advance,
                                             limits=limits))
        except NodeError as exc:  # an owner down, a download that did not verify...
            if not tolerant or isinstance(exc, InputError):
                raise
            failed[learnware_id] = str(exc)[:300]
            first = first or exc
    if not fetched and first is not None:
        raise first
    return fetched, failed


def _fetch_limits(args: argparse.Namespace, node_url: str) -> Any:
    """``[fetch]`` of the home's config (and LWDOCK_FETCH_*), else the defaults; loopback
    owners are allowed when the node asked is on loopback."""
    from lwnode.config import load_config
    from lwnode.userside.safefetch import FetchLimits

    home = _home(args)
    path = home.config_path if home.config_path.is_file() else None
    return FetchLimits.from_config(load_config(path), node_url)


def _fetched_json(f: Any) -> dict[str, Any]:
    return {"id": f.learnware_id, "path": str(f.path), "size": f.size, "name": f.name,
            "owner": f.owner, "cached": f.cached}


def _output_folder(folder: Path) -> Path:
    """``-o DIR`` of fetch, made before anything is fetched: a file there, or a folder
    that cannot be made, is bad input saying what to give instead."""
    from lwnode.errors import InputError

    if folder.exists() and not folder.is_dir():
        raise InputError(f"-o {folder}: a file, not a folder: -o names the folder the "
                         "packages are saved in (made if missing), and fetch replaces no "
                         "file; give another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"-o {folder}: cannot create this folder ({exc.strerror or exc}); "
                         "give another path") from None
    return folder


def _cmd_fetch(args: argparse.Namespace) -> int:
    fetched = _fetch(args, args.ids, _output_folder(Path(args.output)))
    if args.json:
        _print_json({"fetched": [_fetched_json(f) for f in fetched]})
        return EXIT_OK
    for f in fetched:
        how = "already here" if f.cached else "downloaded"
        _say(f"{f.path}: {f.learnware_id} ({f.size} bytes, {f.name!r} by {f.owner}) — {how}, "
             "sha256 and owner's signature verified", hang=2)
    return EXIT_OK


def _cmd_reuse(args: argparse.Namespace) -> int:
    import tempfile

    from lwnode.errors import InputError
    from lwnode.userside.local import NEEDS_LABELS, read_semantic, reuse_with
    from lwnode.userside.tabular import predictions_csv, read_labels

    out = _output_file(args)
    if args.method in NEEDS_LABELS and not args.labels:
        raise InputError(f"--method {args.method} learns from a few labels: give --labels")
    if args.labels and args.method in ("job-selector", "average"):
        raise InputError(f"--method {args.method} uses no labels: leave --labels out, or "
                         "choose ensemble-pruning or feature-augment")
    table = _read_table(args.data, args)
    user_input = (read_semantic(args.semantic, table=table, data_name=args.data).input
                  if table.values.ndim == 2 else None)
    labels = read_labels(args.labels) if args.labels else None
    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise InputError(f"--weights: expected numbers separated by commas, got "
                             f"{args.weights!r}") from None
        if len(weights) != len(args.ids):  # now, not after fetching them
            raise InputError(f"--weights: {len(weights)} weights for {len(args.ids)} "
                             "learnwares")
    from lwnode.cli.cache import cache_dir

    cache = None if args.no_cache else Path(args.cache) if args.cache else cache_dir(args)
    with tempfile.TemporaryDirectory(prefix="lwnode-reuse-") as tmp:
        fetched = _fetch(args, args.ids, cache or Path(tmp))
        with _step(f"predicting {len(table.values)} rows"):
            try:
                reused = reuse_with([f.path for f in fetched], table.values,
                                    method=args.method, labels=labels, weights=weights,
                                    user_input=user_input, trusted_types=args.trusted_type,
                                    allow_code=args.allow_code)
            except InputError as exc:  # the engine calls the labels y
                if not str(exc).startswith("y: "):
                    raise
                text = re.sub(r"got dtype <U\d+", "got text", str(exc)[3:])
                raise InputError(f"{args.labels}: {text}") from None
    _write_file(out, predictions_csv(reused.predictions))
    if args.json:
        _print_json({"output": str(out), "predictions": len(reused.predictions),
                     "method": reused.method, "fetched": [_fetched_json(f) for f in fetched],
                     "mappings": {lw_id: mapping.describe() for lw_id, mapping
                                  in reused.mappings},
                     "selection": selection_json(reused.selection),
                     "labels_used": reused.labels_used, "notes": list(reused.notes)})
        return EXIT_OK
    for lw_id, mapping in reused.mappings:
        _say(f"{_short(lw_id)} takes other columns; mapped (its column <- yours):")
        for line in mapping.describe():
            _say(f"    {line}", hang=6)
    _say(f"wrote {out}: {len(reused.predictions)} predictions by {reused.method} "
         f"over {len(fetched)} learnware(s) "
         f"({', '.join(_short(f.learnware_id) for f in fetched)})", hang=2)
    if reused.selection is not None and reused.selection.n_folds:
        _say(f"chosen on your labels: {reused.selection.describe()}", hang=2)
    if reused.labels_used:  # hetero: no method chosen; what was fitted on them instead
        _say(f"labels: {reused.labels_used}", hang=2)
    for note in reused.notes:  # e.g. a one-class label draw: what was done instead
        _say(f"note: {note}", hang=2)
    return EXIT_OK


def selection_json(selection: Any) -> dict[str, Any] | None:
    """How the method was chosen on the labels (`engine.reuse.select.Selection`), for
    ``--json``: None when no choice was made on labels."""
    if selection is None:
        return None

    def score(s: Any) -> dict[str, Any] | None:
        return None if s is None else {"method": s.name, "value": s.value, "spread": s.spread}

    return {"chosen": selection.chosen, "metric": selection.metric,
            "n_labels": selection.n_labels, "n_folds": selection.n_folds,
            "scores": [score(s) for s in selection.scores],
            "estimate": score(selection.estimate), "notes": list(selection.notes)}


def _cmd_peers(args: argparse.Namespace) -> int:
    from rich.table import Table

    answer = _client(args).peers()
    if args.json:
        _print_json(answer)
        return EXIT_OK
    peers = answer["peers"]
    if not peers:
        print("no peers: this node runs on its own")
        return EXIT_OK
    table = Table(title="Peers")
    for column in ("node id", "organization", "connected", "HTTP", "multiaddrs",
                   "records accepted", "refused"):
        table.add_column(column)
    for p in peers:
        table.add_row(p["node_id"], p["organization"], "yes" if p["connected"] else "no",
                      p["http_url"], "\n".join(p["multiaddrs"]),
                      str(p.get("records_accepted", "")), str(p.get("records_rejected", "")))
    _out().print(table)
    return EXIT_OK


def _cmd_spec_make(args: argparse.Namespace) -> int:
    from lwnode.errors import InputError
    from lwnode.http.jsonio import spec_json

    if args.data and args.data_option:
        raise InputError("give the data file once: as DATA or as --data DATA")
    args.data = args.data or args.data_option
    if not args.data:
        raise InputError("give the data file: lwnode spec make DATA -o spec.json (or --data "
                         "DATA)")
    out = _output_file(args)
    _check_points(args)
    table = _read_table(args.data, args)
    semantic = None
    if args.semantic:  # its columns' ranges: the DP spec's bounds when --bounds is left out
        from lwnode.userside.local import read_semantic

        semantic = read_semantic(args.semantic, table=table, data_name=args.data)
    spec = _spec_of(table, args, args.type, semantic)
    _write_file(out, json.dumps(spec_json(spec)).encode())
    privacy = _privacy_report(spec, table)
    if args.json:
        _print_json({"output": str(out), "type": spec.kind, "points": len(spec.points_),
                     "dimension": int(spec.points_.shape[1]), "rows": len(table.values),
                     "privacy_note": _spec_privacy(spec), "privacy": privacy.to_dict()})
        return EXIT_OK
    k = len(spec.points_)
    _say(f"wrote {out}: {spec.kind}, {k} point{'' if k == 1 else 's'} in {spec.points_.shape[1]} "
         f"dimensions from {len(table.values)} rows ({_spec_privacy(spec)}"
         f"{_points_note(spec, args, len(table.values))})", hang=2)
    _say(f"  {privacy.summary()}", hang=4)
    return EXIT_OK


def _privacy_report(spec: Any, table: Any) -> Any:
    """The owner-side measurement of what `spec` reveals (`engine.privacy.report`)."""
    from lwnode.userside.local import spec_privacy_report

    with _step("measuring what the spec reveals (membership attacks on held-out rows)"):
        return spec_privacy_report(spec, table)


def _dp_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The DP settings of --epsilon/--delta/--gamma/--bounds, or None (default mode);
    parsed as the web page parses its fields (`lwnode.userside.privacy`)."""
    from lwnode.userside.privacy import parse_dp

    return parse_dp(getattr(args, "epsilon", None), getattr(args, "delta", None),
                    getattr(args, "gamma", None), getattr(args, "bounds", None))


MARKET_TIMEOUT = 3.0
"""Seconds `_market_gammas` waits for the node: without an answer, the data-free rule."""


def _market_gammas(args: argparse.Namespace) -> Any:
    """`dp_choices`' view of the market: the gammas of a space the user's node knows
    (``GET /v1/gammas``), or None when no node answers (the data-free rule then)."""
    from lwnode.client import NodeClient
    from lwnode.errors import NodeError

    def ask(space: str) -> dict[float, int] | None:
        from lwnode.cli.common import node_url

        try:  # a short wait: a node that is not running leaves the data-free rule
            return NodeClient(node_url(args), None, timeout=MARKET_TIMEOUT,
                              label="").gammas(space)
        except (NodeError, OSError, ValueError, KeyError, TypeError):
            return None

    return ask


def _spec_privacy(spec: Any) -> str:
    """What the spec reveals of the rows, in one clause (true of what is sent)."""
    from lwnode.userside.privacy import privacy_note

    return privacy_note(spec)


# -- parser ----------------------------------------------------------------------------------
def _add_node(p: argparse.ArgumentParser, *, token: bool = False, purpose: str = "") -> None:
    p.add_argument("--node", metavar="URL", type=_url,
                   help="the node's URL (default: $LWDOCK_NODE, the running node of --home, "
                   f"else {DEFAULT_URL})" + (f"; {purpose}" if purpose else ""))
    p.add_argument("--home", metavar="DIR", help="node home to read the URL (and token) "
                   "from (default: $LWDOCK_HOME or ~/.lwdock)")
    if token:
        p.add_argument("--token", help="the node's API token (default: api.token in an "
                       "explicit --home, else $LWDOCK_TOKEN, else api.token in $LWDOCK_HOME or "
                       "~/.lwdock)")


def _add_spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--points", type=int, metavar="K",
                   help="most points in the RKME (default 100); the private default "
                   "makes each point the mean of a group of rows, so small data gets fewer "
                   "(the output says so)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed of the RKME (default 0)")
    _add_impute(p)
    dp = p.add_argument_group(
        "differential privacy", "an (epsilon, delta)-DP spec instead of the default (each "
        "point the mean of >= 10 rows): a noisy random-feature mean with synthetic points; "
        "gamma and bounds must be public (declared, or chosen from public facts: never "
        "read from the data). What it costs, measured (docs/privacy.md): search ranks the "
        "right learnware first less often than with the default; zero-label reuse kept "
        "its accuracy at epsilon 1 on the tabular (6,189 rows a learnware) and text (a "
        "few hundred) experiments, not on 784-pixel images at 600 rows (error 0.49 "
        "against 0.13)")
    dp.add_argument("--epsilon", type=float, metavar="EPS",
                    help="privacy budget epsilon (e.g. 1); turns the DP mode on")
    dp.add_argument("--delta", type=float, help="delta (default 1e-5)")
    dp.add_argument("--gamma", metavar="G",
                    help="public kernel gamma of the DP spec (default: the data-free rule "
                         "2^round(log2(1/d)) for d standardised columns, 2^0 for text; "
                         "image specs need it); the choice is printed")
    dp.add_argument("--bounds", metavar="LOW,HIGH",
                    help="public range every column can take, for the synthetic points "
                         "(required with --epsilon for images, and for tables unless each "
                         "column declares its range = [LOW, HIGH] in --semantic's "
                         "[input.columns]; wins over those; e.g. --bounds=-3,3 for "
                         "standardised columns; text embeddings: -1,1 by default)")


def _add_impute(p: argparse.ArgumentParser) -> None:
    from lwnode.userside.tabular import IMPUTE_STRATEGIES

    p.add_argument("--impute", choices=IMPUTE_STRATEGIES,
                   help="fill missing values (empty, NaN, NA, ?) with each column's mean or "
                   "median over your rows, or 0 (default: refuse them); give the same to "
                   "search and reuse")


def _sub(sub: Any, name: str, help_text: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=description, epilog=EXIT_CODES,
        formatter_class=WrappingHelpFormatter)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwnode",
        description="A node of the learnware dock network: find, verify and reuse models "
                    "by the specification of their task.",
        epilog=EXIT_CODES, formatter_class=WrappingHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="run the demo: a dock network on this machine, end to end",
        description="Three organizations each run a node on 127.0.0.1 and publish learnwares "
                    "trained on offline data (digit images, births per US state or food "
                    "reviews); a user with unlabelled data (and a few labels) searches the "
                    "network from their own node, fetches and verifies the matches from their "
                    "owners and reuses them. Offline, under a minute; cleans up after "
                    "itself. Ctrl-C stops it cleanly.")
    demo.add_argument("--data", choices=("image", "tabular", "text"), default="image",
                      help="data set: image (8x8 digits, default), tabular (births per US "
                      "state, RMSE; needs the demo extra), text (fine-food reviews, MiniLM "
                      "embeddings; needs the demo and text extras)")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    demo.add_argument("--labels", type=int, default=None,
                      help="labels the user has (default 20; 8 with --engine)")
    demo.add_argument("--engine", action="store_true",
                      help="only the engine, in this process: no nodes, no network (3-6 s)")
    demo.add_argument("--orgs", type=int, default=3,
                      help="organizations, each with its own node (1-8, default 3)")
    demo.add_argument("--quick", action="store_true", help="smaller specs (for CI)")
    demo.add_argument("--keep", metavar="DIR",
                      help="keep the node homes and fetched packages in DIR")
    demo.add_argument("--json", action="store_true",
                      help="print the report as JSON (progress goes to stderr)")
    demo.set_defaults(func=_cmd_demo)

    p = _sub(sub, "init", "create a node's home (config, key, token)",
             "Create a node's home: node.toml, an Ed25519 key (the node's identity) and an API "
             "token, both mode 0600. Refuses to replace an existing key.")
    p.add_argument("--home", metavar="DIR", help="where (default: $LWDOCK_HOME or ~/.lwdock)")
    p.add_argument("--org", metavar="NAME", help="organization name shown to peers and users")
    p.add_argument("--http", type=_host_port, metavar="HOST:PORT",
                   help="API address written to node.toml (default 127.0.0.1:8470)")
    p.add_argument("--json", action="store_true", help="print what was created as JSON")
    p.set_defaults(func=_cmd_init)

    p = _sub(sub, "run", "run the node until Ctrl-C / SIGTERM",
             "Run the node: HTTP API (default 127.0.0.1:8470) and peer layer (libp2p, default "
             "127.0.0.1, any port) on this home's store. Settings: node.toml < "
             "LWDOCK_<SECTION>_<KEY> < these flags. A home without a key gets one.")
    p.add_argument("--home", metavar="DIR", help="node home (default: $LWDOCK_HOME or "
                   "~/.lwdock)")
    p.add_argument("--config", metavar="FILE", help="config file (default: node.toml in home)")
    p.add_argument("--http", type=_host_port, metavar="HOST:PORT",
                   help="API address (port 0: any free port; the URL is written to node.url)")
    p.add_argument("--p2p", metavar="MULTIADDR",
                   help="peer layer listen address (default /ip4/127.0.0.1/tcp/0; the real "
                        "one is printed and shown in /v1/health)")
    p.add_argument("--bootstrap", metavar="MULTIADDR", nargs="+",
                   help="peers to join (multiaddrs ending in /p2p/<peer id>, as printed by "
                        "their 'lwnode run'); kept connected")
    p.add_argument("--no-p2p", action="store_true",
                   help="run alone: no peer layer (same as [p2p] enabled = false)")
    p.add_argument("--org", metavar="NAME", help="organization name (overrides the config)")
    p.set_defaults(func=_cmd_run)

    p = _sub(sub, "pack", "build a package: model + RKME of its training data",
             "Build a learnware package from a model file and its training data. The RKME is "
             "computed here and only it goes into the package: each of its points stands for at "
             "least 10 rows, none is a row. semantic.toml holds name, "
             "data_type, task_type, library, license, scenarios, description, and [input.columns] "
             "(name = \"description\" per column of the data's header: users over other "
             "columns can then find it); input dimension and class labels are taken from the "
             "data and the model when missing.")
    p.add_argument("--model", required=True, metavar="FILE",
                   help=".skops (scikit-learn), .pt (TorchScript), .pkl/.joblib with "
                        "--allow-pickle")
    p.add_argument("--data", required=True, metavar="X.csv|.npy", help="training inputs")
    p.add_argument("--semantic", required=True, metavar="semantic.toml",
                   help="the semantic specification")
    _add_output(p, "PKG.zip", "the package to write")
    p.add_argument("--trusted-type", action="append", default=[], metavar="TYPE",
                   help="skops type to trust beyond scikit-learn/numpy/scipy (repeatable)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="load a pickled model (runs its code: only your own files)")
    p.add_argument("--no-check", action="store_true", help="skip the local usability checks")
    p.add_argument("--json", action="store_true",
                   help="print what was written and its privacy report as JSON")
    _add_spec_options(p)
    _add_node(p, purpose="asked only for the market's gamma when --epsilon leaves "
                             "--gamma out")
    p.set_defaults(func=_cmd_pack)

    p = _sub(sub, "publish", "upload a package to a node",
             "Upload a package; the node runs its usability checks and answers with the "
             "learnware id and the check report (or which check failed and why).")
    p.add_argument("package", metavar="PKG.zip")
    p.add_argument("--json", action="store_true", help="print the node's answer as JSON")
    _add_node(p, token=True)
    p.set_defaults(func=_cmd_publish)

    p = _sub(sub, "search", "search by the RKME of your data (built here)",
             "Build the RKME of your unlabelled data on this machine and send only it (and an "
             "optional partial semantic spec) to the node; print the ranked learnwares and the "
             "best mixture. With --labels, also fetch the shortlist (verified) and rank it "
             "by your labels, here: labels and rows never leave this machine.")
    p.add_argument("--data", metavar="user.csv|.npy", help="your unlabelled rows")
    p.add_argument("--spec", metavar="spec.json", help="a spec made by 'lwnode spec make'")
    p.add_argument("--semantic", metavar="semantic.toml", help="partial semantic spec")
    p.add_argument("--k", type=int, default=5, help="single learnwares to list (default 5)")
    p.add_argument("--mixture", type=int, metavar="N",
                   help="largest mixture (default: the node's)")
    p.add_argument("--labels", metavar="y.csv", help="labels of the first rows of --data "
                   "(as for reuse): fetch the shortlist here and rank it by them too; only "
                   "learnwares over your own columns (by name) and their mixture are "
                   "re-ranked, not those over other columns (a note says so)")
    from lwnode.userside.rerank import DEFAULT_RERANK, MAX_RERANK

    p.add_argument("--rerank", type=int, default=DEFAULT_RERANK, metavar="N",
                   help=f"with --labels: how many of the top learnwares to fetch and score "
                   f"(default {DEFAULT_RERANK}, at most {MAX_RERANK}; the mixture's members "
                   "too)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    _add_spec_options(p)
    _add_node(p)
    p.set_defaults(func=_cmd_search)

    p = _sub(sub, "fetch", "download and verify packages",
             "Download packages into DIR as <sha256>.zip, resuming partial downloads; each is "
             "checked against its id (sha256), the owner's signed announcement, and opened as "
             "a package before it is kept.")
    p.add_argument("ids", nargs="+", metavar="ID",
                   help="learnware ids, or unique prefixes of them (6+ hex digits)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="folder for the verified packages (created if missing)")
    p.add_argument("--json", action="store_true", help="print what was fetched as JSON")
    _add_node(p)
    p.set_defaults(func=_cmd_fetch)

    p = _sub(sub, "reuse", "predict your rows with learnwares",
             "Fetch the learnwares, load their models safely, and predict your rows: "
             "job-selector or average with no labels, ensemble-pruning or feature-augment "
             "with a few labels (--labels); with labels and no --method, the one that "
             "scores best on them out of fold. Learnwares over other columns than yours are "
             "reused by hetero, which maps your columns onto theirs and, with labels, fits "
             "on them what beats the learnwares' average by leave-one-out.")
    p.add_argument("ids", nargs="+", metavar="ID",
                   help="learnware ids, or unique prefixes of them (6+ hex digits)")
    p.add_argument("--data", required=True, metavar="user.csv|.npy")
    p.add_argument("--labels", metavar="y.csv", help="labels of your first rows, one per "
                   "line under an optional header (a few are enough; every row is "
                   "predicted); how they were used is printed")
    from lwnode.userside.local import REUSE_METHODS

    p.add_argument("--method", choices=REUSE_METHODS, metavar="METHOD",
                   help=f"{', '.join(REUSE_METHODS)}; default: hetero when a learnware takes "
                   "other columns than yours (your CSV header; with --labels it fits a "
                   "correction of the learnwares' average on them, or a stacked classifier, "
                   "and prints which), else job-selector when its router is sure where your "
                   "rows belong and average when it is not (printed); with --labels, the "
                   "method that scores best on them out of fold, that data-free one unless "
                   "another beats it clearly (the scores and an estimate of the choice are "
                   "printed)")
    p.add_argument("--semantic", metavar="semantic.toml",
                   help="describes your columns ([input.columns] name = \"description\"): "
                   "how they are matched with a learnware's other columns")
    p.add_argument("--weights", metavar="W1,W2,...", help="mixture weights (from search)")
    _add_output(p, "predictions.csv",
                "where to write the predictions, one per row under a header")
    p.add_argument("--cache", metavar="DIR", help="keep fetched packages here (default: "
                   "cache in --home; see 'lwnode cache')")
    p.add_argument("--no-cache", action="store_true",
                   help="fetch into a temporary folder, removed afterwards")
    p.add_argument("--trusted-type", action="append", default=[], metavar="TYPE",
                   help="skops type to trust beyond scikit-learn/numpy/scipy (repeatable)")
    p.add_argument("--allow-code", action="store_true",
                   help="allow code models (run in the sandbox)")
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    _add_impute(p)
    _add_node(p)
    p.set_defaults(func=_cmd_reuse)

    p = _sub(sub, "peers", "list the peers a node knows", "List the peers a node knows.")
    p.add_argument("--json", action="store_true")
    _add_node(p)
    p.set_defaults(func=_cmd_peers)

    p = _sub(sub, "spec", "statistical specifications", "Statistical specifications.")
    spec_sub = p.add_subparsers(dest="spec_command", required=True, metavar="COMMAND")
    p = _sub(spec_sub, "make", "the RKME of a data file, as JSON",
             "Compute the RKME of a data file here and write it as JSON (usable with "
             "'lwnode search --spec'). The JSON holds weighted points, not your rows.")
    p.add_argument("data", metavar="data.csv|.npy", nargs="?", help="the data file")
    p.add_argument("--data", dest="data_option", metavar="data.csv|.npy",
                   help="the data file, given as search, pack and reuse take it")
    _add_output(p, "spec.json", "the spec to write")
    p.add_argument("--type", choices=["table", "image"], help="default: from the array shape")
    p.add_argument("--semantic", metavar="semantic.toml",
                   help="describes the data's columns ([input.columns], checked against the "
                   "header); with --epsilon and no --bounds, the range = [LOW, HIGH] each "
                   "column declares there bounds the synthetic points")
    p.add_argument("--json", action="store_true",
                   help="print what was written and its privacy report as JSON")
    _add_spec_options(p)
    _add_node(p, purpose="asked only for the market's gamma when --epsilon leaves "
                             "--gamma out")
    p.set_defaults(func=_cmd_spec_make)
    import lwnode.cli.browse as cli_browse  # groups in their own modules
    import lwnode.cli.cache as cli_cache
    import lwnode.cli.completion as cli_completion

    cli_browse.add_commands(sub, _sub, _add_node)
    cli_cache.add_commands(sub, _sub)
    cli_completion.add_commands(sub, _sub, parser)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from protocol.versions import SCHEMA_STRING

    try:
        installed = version("lwdock")
    except PackageNotFoundError:  # run from a checkout that is not installed
        installed = "(not installed)"
    return f"lwnode {installed}, protocol {SCHEMA_STRING}"  # as status prints it


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _start_hint(args: argparse.Namespace, exc: BaseException) -> str:
    """For a refused connection: is a node running there, and how to start one."""
    if "refused" not in str(exc).lower():
        return ""
    if getattr(args, "node", None) or os.environ.get("LWDOCK_NODE"):
        given = "--node" if getattr(args, "node", None) else "$LWDOCK_NODE"
        return (f"; is a node running at that URL? check {given}, or start a node with: "
                "lwnode run --home DIR")
    home = f" --home {args.home}" if getattr(args, "home", None) else ""
    return f"; is the node running? start it with: lwnode run{home}"


CREATE_HOME = ("init", "run")
"""The commands whose --home may not exist yet (they create it)."""


def main(argv: Sequence[str] | None = None) -> int:
    from lwnode.errors import NodeUnreachable, RequestFailed

    parser = build_parser()
    args = parser.parse_args(argv)
    typed = command_typed(args)  # errors name the command typed, not an HTTP route
    try:
        if getattr(args, "home", None) and args.command not in CREATE_HOME:
            check_home(args.home)
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except NodeUnreachable as exc:
        print(f"{typed}: {_one_line(exc)}{_start_hint(args, exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except RequestFailed as exc:
        text = wrong_token_hint(args) if exc.status == 401 else _one_line(exc)
        print(f"{typed}: {text}", file=sys.stderr)
        return EXIT_REFUSED if 400 <= exc.status < 500 else EXIT_FAILURE
    except LwdockError as exc:
        print(f"{typed}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, ValueError) else EXIT_FAILURE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        hint = ("; another node (or program) uses that port: stop it, or give --http "
                "127.0.0.1:0 for any free port") if exc.errno == errno.EADDRINUSE else ""
        print(f"{typed}: {where}{exc.strerror or _one_line(exc)}{hint}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # a bug: still one line, no traceback
        print(f"{typed}: internal error ({type(exc).__name__}: {_one_line(exc)}); please "
              "report it", file=sys.stderr)
        return EXIT_FAILURE
