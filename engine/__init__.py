"""The learnware engine: pure algorithms, usable as a library with no node running.

======================  ==========================================================
subpackage / module     what it owns
======================  ==========================================================
``specification/``      semantic and statistical (RKME) specifications
``privacy/``            what a spec may reveal: private fit, signed record, report
``search/``             catalog, semantic filter, index, ranking, mixture
``reuse/``              job selector, averaging, ensemble pruning, feature augment
``hetero/``             search and reuse across feature spaces (column matching)
``package/``            the package format: deterministic build, hostile-safe open
``models/``             safe model loading (skops, TorchScript, weights-only torch)
``sandbox/``            child-process runner for models that need their own code
``checks.py``           usability checks run on every submission
``learnware.py``        `Learnware` and the `Model` protocol
``text_encoder.py``     the offline MiniLM sentence encoder (``text`` extra)
``kernel.py``           the Gaussian kernel, bandwidth rule, kernel-mean products
``qp.py``               exact simplex-constrained QP (RKME and mixture weights)
``params.py``           parameter constraints declared once per class, one check
``vocabulary.py``       closed vocabularies of the semantic spec
``errors.py``           `LwdockError` and the engine's subclasses
======================  ==========================================================

No network I/O and no hidden disk I/O; importing `engine` does not import torch.
"""
