"""The ``lwnode`` command line: parsing, one module per command group, rendering.

=================  ================================================================
module             holds
=================  ================================================================
``main.py``        the parser and the node-side commands (init, run, pack, publish,
                   search, fetch, reuse, spec, demo, ...); ``main()`` is the entry point
``common.py``      what every command shares: exit codes, consoles, node URL, client
``browse.py``      ``lwnode list / show / withdraw / status``
``cache.py``       ``lwnode cache``: fetched packages, the fetch lock
``tables.py``      the search answer's tables, narrow enough for 80 columns
``completion.py``  ``lwnode completion bash|zsh|fish``
=================  ================================================================

The top of the import graph: nothing else in ``lwnode`` imports it.
"""
