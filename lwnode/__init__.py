"""The node daemon: one organization's dock — store, catalog, HTTP API, peers, CLI.

=====================  ==========================================================
module                 holds
=====================  ==========================================================
``cli.py``             `lwnode` command line (init, run, pack, publish, search, ...)
``cli_common.py``      what every command shares: exit codes, consoles, node URL, client
``cli_browse.py``      ``lwnode list / show / withdraw / status``
``cli_cache.py``       ``lwnode cache``: fetched packages, the fetch lock
``cli_tables.py``      the search answer's tables, narrow enough for 80 columns
``cli_completion.py``  ``lwnode completion bash|zsh|fish``
``daemon.py``          store + service + HTTP server, started and stopped as one
``service.py``         `NodeService`: what a node does, independent of HTTP
``api.py``             the aiohttp API under ``/v1``
``httperrors.py``      the one error -> HTTP status table (API and web routes)
``httpguard.py``       bearer token, Host allowlist, Origin check (every route)
``httpserver.py``      aiohttp's server + header/body deadlines, connection caps
``openapi.py``         the OpenAPI 3 document served at ``/v1/openapi.json``
``jsonio.py``          JSON of the API <-> the node's types
``config.py``          `NodeConfig`: TOML -> ``LWDOCK_*`` env -> CLI flags
``home.py``            `NodeHome`: the node's directory (config, key, token, data)
``store/``             SQLite records + content-addressed package directory
``records.py``         signed records <-> store rows
``catalog.py``         `NodeCatalog`: the engine's `Catalog` + where learnwares live
``checker.py``         usability checks in worker processes (``checkworker.py``)
``peering.py``         `PeerLayer`: the seam between the service and its peers
``federation.py``      `Federation`: the `PeerLayer` over a `PeerNetwork` (gossip, sync,
                       routed search, peers)
``intake.py``          peers' signed records: signature, size, trust, content, replay, insert
``budget.py``          ``[budget]`` points caps on specs, applied where records and searches enter
``ratelimit.py``       rate and concurrency limits on expensive routes for clients without the token
``trust.py``           `TrustPolicy`: trust on first use or an allowlist of owners
``antientropy.py``     digests and paginated pulls over ``/lwdock/sync/1.0.0``
``searchwire.py``      the service's search types <-> `SearchRequest`/`SearchResponse`
``p2p/``               `PeerNetwork`: libp2p (only importer of libp2p/trio) and in-process
``routing.py``         routed search as a pure function with an injected `ask_peer`
``client.py``          the CLI's HTTP client of a node
``local.py``           work done on the user's machine (RKME of their data, fetch, reuse)
``safefetch.py``       downloads from hostile owners: host, address, deadline, size rules
``tabular.py``         reading users' CSV / NPY files with errors that say where;
                       ``--impute`` of missing values
``columns.py``         a table's columns: CSV header + ``[input.columns]`` descriptions;
                       a user's columns ordered by name like a learnware's
``engine_demo.py``     the engine-level demo (`lwnode demo --engine`)
``network_demo.py``    `lwnode demo`: a dock network on this machine, end to end
``demo_data.py``       the demo's data sets (digits, births per state, food reviews)
``birthdays.py``       the Birthdays-per-state recipe (demo, benchmarks)
``cluster.py``         local nodes on loopback, started and stopped as one
``web/``               the node's web page and its ``/v1/web`` routes
``errors.py``          the node's errors, each with a stable code (httperrors.py maps them)
``testing.py``         small real fixtures for tests and benchmarks
=====================  ==========================================================
"""
