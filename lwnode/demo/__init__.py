"""Demos and their data: a dock network on this machine, the engine-level demo.

=================  ================================================================
module             holds
=================  ================================================================
``network.py``     ``lwnode demo``: organizations on loopback, publish, search, reuse
``engine.py``      ``lwnode demo --engine``: the engine alone, no node
``data.py``        the demo's data sets (digits, births per state, food reviews)
``birthdays.py``   the Birthdays-per-state recipe (demo, benchmarks)
``cluster.py``     local nodes on loopback, started and stopped as one
=================  ================================================================

Uses the daemon, the HTTP client and the user's side; only the CLI imports it.
"""
