"""The paradigm's experiments on offline data, in the shape of the reference's results.

    python -m benchmarks.experiments [tabular] [image] [text]     # or: make experiments
    python -m benchmarks.experiments [diamonds] [ridership] [survey] | held-out

================== ==========================================================
module             holds
================== ==========================================================
``tabular.py``     Birthdays per state (RMSE), after the reference's retail runs
``image.py``       MNIST-5k class subsets (error), after its CIFAR-10 runs
``text.py``        fine-food reviews by topic (accuracy), after 20-Newsgroups
``diamonds.py``    held out: diamonds, colour hidden (inputs alike)
``ridership.py``   held out: Chicago ridership by year (drift)
``survey.py``      held out: 2016 vote by state (one-hot answers)
``heldout.py``     held-out split, default reuse, per-user W/L
``common.py``      `Setting`, the user loop, the two target verdicts
``report.py``      `docs/results/<name>.md` and `<name>.png`
``embed_cache.py`` sentence embeddings cached under `.bench-cache/`
================== ==========================================================
"""
