"""The node daemon: one organization's dock — store, catalog, peers, HTTP, CLI.

Rooms, top to bottom; a module imports only from rooms below its own (a test,
tests/unit/test_layout.py, holds every arrow to this order and forbids cycles)::

    __main__.py  ``python -m lwnode``: the same command as the ``lwnode`` script
    cli/         the ``lwnode`` command: parser, one module per command group
    demo/        ``lwnode demo``: a dock network on loopback, the engine demo, their data
    daemon.py    the composition root: store + service + peers + HTTP, started as one
    http/        the aiohttp app under /v1, its JSON, the one OpenAPI document, web/ page
    userside/    what runs on the user's machine: tables, columns, specs, fetch, reuse
    federation/  peers: gossip, intake, trust, anti-entropy, routed search, p2p/
    node/        the node core: service, catalog, records, checks, store/ (no HTTP, no p2p)
    home.py      `NodeHome`: the node's directory (config, key, token, data)
    config.py    `NodeConfig`: TOML -> ``LWDOCK_*`` env -> CLI flags
    client.py    the HTTP client of a node (CLI, demo, the page's jobs)
    ratelog.py   rate-limited log lines
    errors.py    the node's errors, each with a stable code (http/errors.py maps them)

Each room's ``__init__`` lists its modules. `engine` (pure algorithms) and
`protocol` (wire format) sit below all of them and never import ``lwnode``.
"""
