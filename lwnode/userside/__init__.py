"""Work done on the user's machine: their tables, their specs, fetch and reuse.

=================  ================================================================
module             holds
=================  ================================================================
``local.py``       the RKME of the user's data, fetch, verify, reuse
``tabular.py``     reading users' CSV / NPY files with errors that say where;
                   ``--impute`` of missing values
``columns.py``     a table's columns: CSV header + ``[input.columns]`` descriptions
``privacy.py``     the DP options (``--epsilon`` ..., the page's fields of those names)
                   parsed once for both; what a spec reveals, in one clause
``safefetch.py``   downloads from hostile owners: host, address, deadline, size rules
=================  ================================================================

Talks to nodes through `lwnode.client` (HTTP); imports the federation's intake only
to verify fetched records the way a node does.
"""
