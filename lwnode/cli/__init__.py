"""The ``lwnode`` command line: parsing, one module per command group, rendering.

=================  ================================================================
module             holds
=================  ================================================================
``commands.py``    the parser and the node-side commands (init, run, pack, publish,
                   search, fetch, reuse, spec, demo, ...)
``common.py``      what every command shares: exit codes, consoles, node URL, client
``browse.py``      ``lwnode list / show / withdraw / status``
``cache.py``       ``lwnode cache``: fetched packages, the fetch lock
``tables.py``      the search answer's tables, narrow enough for 80 columns
``completion.py``  ``lwnode completion bash|zsh|fish``
=================  ================================================================

The top of the import graph: nothing else in ``lwnode`` imports it.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The ``lwnode`` command (the console script's entry point, ``lwnode.cli:main``)."""
    from lwnode.cli.commands import main as run

    return run(argv)
