"""The learnware engine: pure algorithms, usable as a library with no node running.

======================  ==========================================================
subpackage / module     what it owns
======================  ==========================================================
``specification/``      semantic and statistical (RKME) specifications
``search/``             catalog, semantic filter, index, ranking, mixture
``kernel.py``           the Gaussian kernel, bandwidth rule, kernel-mean products
``qp.py``               exact simplex-constrained QP (RKME and mixture weights)
``vocabulary.py``       closed vocabularies of the semantic spec
``errors.py``           `LwdockError` and the engine's subclasses
======================  ==========================================================

No network I/O and no hidden disk I/O; importing `engine` does not import torch.
"""
