"""The peers: gossip of signed records, intake, trust, anti-entropy, routed search.

Never imports HTTP code; the node core (`lwnode.node`) never imports this package:
the daemon hands the service a `PeerLayer` (``node/peering.py``) built here.

===================  ==============================================================
module               holds
===================  ==============================================================
``layer.py``         `Federation`: the `PeerLayer` over a `PeerNetwork` (gossip, sync,
                     routed search, peers)
``intake.py``        peers' signed records: signature, size, trust, content, replay, insert
``trust.py``         `TrustPolicy`: trust on first use or an allowlist of owners
``quotas.py``        per-peer and per-owner announcement rates and quotas
``antientropy.py``   digests and paginated pulls over ``/lwdock/sync/1.0.0``
``routing.py``       routed search as a pure function with an injected `ask_peer`
``searchwire.py``    the service's search types <-> `SearchRequest`/`SearchResponse`
``ownerfetch.py``    whom a spec fetch asks for which id: linked owner, dialled owner, relays
``supervision.py``   restarts the peer tasks with back-off; what is down, for health
``stableport.py``    the p2p port kept in the node's home across restarts
``p2p/``             `PeerNetwork`: libp2p (only importer of libp2p/trio) and in-process
===================  ==============================================================
"""
