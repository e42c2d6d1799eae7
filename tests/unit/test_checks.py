"""Usability checks: each failure is reported by name, status and reason."""

from __future__ import annotations

import json
import textwrap
import time

import numpy as np
import pytest
from package_helpers import data, rkme, semantic, sklearn_package, with_entries, with_manifest
from sklearn.linear_model import LogisticRegression

from engine.checks import CheckOptions, Status, check_learnware, check_package
from engine.learnware import Learnware
from engine.models import CodeModel
from engine.package import build_bytes
from engine.sandbox import SandboxLimits

ALL_CHECKS = ["archive", "manifest", "semantic", "statistical", "dimensions", "model_load",
              "predict", "outputs"]
CODE = CheckOptions(time_limit=3, allow_code=True,
                    sandbox_limits=SandboxLimits(wall_seconds=3, cpu_seconds=3,
                                                 memory_bytes=1 << 30))


@pytest.fixture(scope="module")
def package() -> bytes:
    return sklearn_package()


def _code_package(body: str, task: str = "classification",
                  methods: tuple[str, ...] = ("predict",)) -> bytes:
    x, _ = data()
    code = CodeModel({"m.py": textwrap.dedent(body).encode()}, "m:Model", methods)
    return build_bytes(code, semantic(task), rkme(x))


def _failed(report, name: str, status: Status, reason: str) -> None:
    assert report.status is status, report.to_dict()
    assert report.failed is not None and report.failed.name == name, report.to_dict()
    assert reason in report.failed.reason, report.failed.reason
    assert [r.name for r in report.results] == ALL_CHECKS[:ALL_CHECKS.index(name) + 1] or \
        report.results[0].name == "semantic"


def test_a_good_package_is_usable_and_the_report_is_json(package: bytes) -> None:
    report = check_package(package)
    assert report.ok and report.status is Status.USABLE
    assert [r.name for r in report.results] == ALL_CHECKS
    assert report.learnware_id is not None and report.learnware_id.startswith("sha256:")
    as_json = json.loads(report.to_json())
    assert as_json["status"] == "usable" and as_json["reason"] == "all checks passed"
    assert [c["status"] for c in as_json["checks"]] == ["usable"] * len(ALL_CHECKS)


def test_structural_problems_are_invalid(package: bytes) -> None:
    _failed(check_package(b"junk"), "archive", Status.INVALID, "not a readable zip")
    _failed(check_package(with_entries(package, {"learnware.toml": b"x = "})), "manifest",
            Status.INVALID, "malformed TOML")
    _failed(check_package(with_manifest(package, lambda m: m["semantic"].pop("data_type"))),
            "semantic", Status.INVALID, "missing required field(s) data_type")

    def widen(m: dict) -> None:
        m["model"]["input_shape"] = [4]
        m["semantic"]["input"]["dimension"] = 4

    _failed(check_package(with_manifest(package, widen)), "dimensions", Status.INVALID,
            "dimension 3 disagrees")


def test_code_models_run_only_when_allowed() -> None:
    pkg = _code_package("""
        import numpy as np

        class Model:
            def predict(self, x):
                return np.where(x[:, 0] > 0, "pos", "neg")

            def predict_proba(self, x):
                p = 1 / (1 + np.exp(-x[:, 0]))
                return np.column_stack([1 - p, p])
    """, methods=("predict", "predict_proba"))
    _failed(check_package(pkg), "model_load", Status.NONUSABLE, "allow_code=True")
    report = check_package(pkg, CODE)
    assert report.ok, report.to_dict()


@pytest.mark.parametrize(("body", "reason"), [
    ("return np.full(len(x), 'maybe')", "label(s) ['maybe'] outside the declared labels"),
    ("return np.full((len(x), 2), 'pos')", "rows of shape (2,), declared ()"),
    ("return np.array(['pos'])", "returned shape (1,) for"),
])
def test_wrong_classifier_outputs_are_nonusable(body: str, reason: str) -> None:
    pkg = _code_package(f"""
        import numpy as np

        class Model:
            def predict(self, x):
                {body}
    """)
    _failed(check_package(pkg, CODE), "outputs", Status.NONUSABLE, reason)


def test_non_finite_regression_outputs_are_nonusable() -> None:
    pkg = _code_package("""
        import numpy as np

        class Model:
            def predict(self, x):
                out = x[:, 0].copy()
                out[0] = np.nan
                return out
    """, task="regression")
    _failed(check_package(pkg, CODE), "outputs", Status.NONUSABLE, "non-finite")


def test_probabilities_must_be_probabilities() -> None:
    pkg = _code_package("""
        import numpy as np

        class Model:
            def predict(self, x):
                return np.where(x[:, 0] > 0, "pos", "neg")

            def predict_proba(self, x):
                return np.ones((len(x), 2))
    """, methods=("predict", "predict_proba"))
    _failed(check_package(pkg, CODE), "outputs", Status.NONUSABLE, "not probabilities")


def test_a_hanging_or_crashing_model_is_nonusable_within_the_time_limit() -> None:
    start = time.monotonic()
    pkg = _code_package("""
        import time

        class Model:
            def predict(self, x):
                time.sleep(3600)
    """)
    _failed(check_package(pkg, CODE), "predict", Status.NONUSABLE, "[timeout]")
    assert time.monotonic() - start < 8
    crashing = _code_package("""
        class Model:
            def predict(self, x):
                raise RuntimeError("weights file missing")
    """)
    _failed(check_package(crashing, CODE), "predict", Status.NONUSABLE, "weights file missing")


def test_check_learnware_in_memory() -> None:
    x, y = data()
    good = Learnware("local:1", semantic(), rkme(x), LogisticRegression().fit(x, y))
    assert check_learnware(good).ok
    relabelled = LogisticRegression().fit(x, np.where(y == "pos", "yes", "no"))
    report = check_learnware(Learnware("local:2", semantic(), rkme(x), relabelled))
    _failed(report, "outputs", Status.NONUSABLE, "outside the declared labels")
    narrow = Learnware("local:3", semantic(dim=2), rkme(x), good.model)
    _failed(check_learnware(narrow), "dimensions", Status.INVALID, "disagrees")
    slow = CheckOptions(time_limit=1e-9)
    _failed(check_learnware(good, slow), "predict", Status.NONUSABLE, "more than the limit")


def test_checks_run_concurrently_from_threads(package: bytes) -> None:
    """The node runs checks in an executor: no shared state, sandbox safe in threads."""
    from concurrent.futures import ThreadPoolExecutor

    code = _code_package("""
        import numpy as np

        class Model:
            def predict(self, x):
                return np.where(x[:, 1] > 0, "pos", "neg")
    """)
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda p: check_package(p, CODE), [package, code] * 2))
    assert [r.status for r in reports] == [Status.USABLE] * 4
    assert reports[0].learnware_id == reports[2].learnware_id != reports[1].learnware_id
