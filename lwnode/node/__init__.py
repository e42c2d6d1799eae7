"""The node core: what one dock does, with no HTTP and no peers.

=====================  ============================================================
module                 holds
=====================  ============================================================
``service.py``         `NodeService`: publish, search, fetch, withdraw, checks
``catalog.py``         `NodeCatalog`: the engine's `Catalog` + where learnwares live
``records.py``         signed records <-> store rows
``checker.py``         usability checks in worker processes (``checkworker.py``)
``peering.py``         `PeerLayer`: the seam between the service and its peers
``budget.py``          ``[budget]`` points caps on specs, applied where records and
                       searches enter
``privacypolicy.py``   ``[privacy]``: which privacy records a node accepts and shows
``diskbudget.py``      ``[replication] max_disk_mb``: what a node over its disk budget
                       keeps (a pure decision; the service applies it)
``store/``             SQLite records + content-addressed package directory
=====================  ============================================================

Imports only `engine`, `protocol` and the bottom of ``lwnode`` (config, errors,
home); no aiohttp, no libp2p.
"""
