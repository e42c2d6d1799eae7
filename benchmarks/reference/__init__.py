"""Side-by-side runs of the reference system (the ``learnware`` package).

Only `bridge` is for import by our benchmarks; the ``ref_*.py`` runners and
``runner_common.py`` run inside the separate reference venv and import ``learnware``.
"""
