"""The paradigm's experiments on offline data, in the shape of the reference's results.

    python -m benchmarks.experiments [tabular] [image] [text]     # or: make experiments

================== ==========================================================
module             holds
================== ==========================================================
``tabular.py``     Birthdays per state (RMSE), after the reference's retail runs
``image.py``       MNIST-5k class subsets (error), after its CIFAR-10 runs
``text.py``        fine-food reviews by topic (accuracy), after 20-Newsgroups
``common.py``      `Setting`, the user loop, the two target verdicts
``report.py``      `docs/results/<name>.md` and `<name>.png`
``embed_cache.py`` sentence embeddings cached under `.bench-cache/`
================== ==========================================================
"""
