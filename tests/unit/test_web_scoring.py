"""lwnode.http.web.scoring (reuse + score against a user-only model) and the upload helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import ReuseError
from engine.reuse.synthetic import make_learnwares, make_regions
from lwnode.errors import BadRequest
from lwnode.http.web.forms import FileField, Form, safe_name
from lwnode.http.web.scoring import measure, reuse_rows
from lwnode.http.web.worker import run


@pytest.fixture(scope="module")
def market():
    regions = make_regions(3, 4, n_classes=2, random_state=0)
    return regions, make_learnwares(regions, 400, n_points=20, random_state=0)


@pytest.fixture(scope="module")
def regression_market():
    regions = make_regions(2, 3, task="regression", random_state=1)
    return regions, make_learnwares(regions, 400, n_points=20, random_state=1)


def test_data_free_reuse_beats_a_user_only_model_on_few_labels(market):
    regions, learnwares = market
    rng = np.random.default_rng(3)
    x, y = regions.sample(1, 200, rng)
    out = reuse_rows([learnwares[1]], x, "job-selector", labels=y[:20])
    assert out.predictions.shape == (200,) and out.task == "classification"
    score = out.score
    assert score is not None and score.metric == "accuracy" and score.n_labels == 20
    assert score.reuse == pytest.approx(measure("classification", out.predictions[:20], y[:20]))
    assert score.reuse > 0.8  # the right region's learnware knows its quadratic labels
    assert score.user_only is not None and score.user_only < score.reuse
    assert "did not see the labels" in score.protocol


def test_label_learning_reuse_is_cross_validated(market):
    regions, learnwares = market
    x, y = regions.sample(0, 120, np.random.default_rng(4))
    out = reuse_rows(learnwares[:2], x, "ensemble-pruning", labels=y[:30])
    assert out.score is not None and out.score.reuse is not None
    assert "5-fold cross-validation" in out.score.protocol
    assert out.predictions.shape == (120,)


def test_regression_is_scored_by_rmse(regression_market):
    regions, learnwares = regression_market
    x, y = regions.sample(0, 80, np.random.default_rng(5))
    out = reuse_rows(learnwares, x, "average", labels=y[:15])
    assert out.task == "regression" and out.score is not None
    assert out.score.metric == "rmse" and out.score.reuse is not None
    assert out.score.reuse == pytest.approx(
        float(np.sqrt(np.mean((out.predictions[:15] - y[:15]) ** 2))))


def test_bad_reuse_requests_say_what_is_wrong(market):
    regions, learnwares = market
    x, y = regions.sample(0, 10, np.random.default_rng(6))
    with pytest.raises(ReuseError, match="learns from a few labels"):
        reuse_rows(learnwares, x, "feature-augment")
    with pytest.raises(ReuseError, match="11 labels for 10 rows"):
        reuse_rows(learnwares, x, "job-selector", labels=np.concatenate([y, y[:1]]))
    with pytest.raises(ReuseError, match="not one of"):
        reuse_rows(learnwares, x, "magic")
    one = reuse_rows(learnwares, x, "job-selector", labels=y[:1]).score
    assert one is not None and one.user_only is None and "at least 2" in one.protocol


def test_upload_names_are_reduced_to_a_safe_base_name():
    assert safe_name("../../etc/passwd.csv", (".csv",), "data") == "passwd.csv"
    assert safe_name("C:\\Users\\me\\my rows (1).CSV", (".csv",), "data") == "my_rows_1_.CSV"
    assert safe_name("x" * 300 + ".npy", (".npy",), "data").endswith(".npy")
    with pytest.raises(BadRequest, match=r"unsupported file type '\.txt'"):
        safe_name("notes.txt", (".csv", ".npy"), "data")
    with pytest.raises(BadRequest, match="unsupported file type"):
        safe_name(None, (".csv",), "data")


def test_messages_name_the_users_file_not_the_temp_path(tmp_path):
    path = tmp_path / "data" / "rows.csv"
    form = Form(tmp_path, files={"data": FileField("rows.csv", path, 10)})
    assert form.clean(f"{path} line 3: bad") == "rows.csv line 3: bad"
    assert str(tmp_path) not in form.clean(f"{tmp_path}/elsewhere")


def test_the_worker_answers_bad_input_as_a_400_not_a_crash(tmp_path):
    bad = tmp_path / "rows.csv"
    bad.write_text("a,b\n1,x\n")
    answer = run({"kind": "reuse", "data": str(bad), "packages": [], "method": "average",
                  "predictions": str(tmp_path / "p.csv")})
    assert answer["error"]["status"] == 400
    assert "line 2, column 2" in answer["error"]["message"]
    json.dumps(answer)  # the worker writes it as JSON
    model = tmp_path / "model.skops"
    model.write_bytes(b"not a skops file")
    answer = run({"kind": "pack", "model": str(model), "data": str(bad),
                  "package": str(tmp_path / "p.zip"), "semantic": {"name": "x"}})
    assert answer["error"]["status"] == 400


@pytest.fixture(scope="module")
def image_learnwares():
    """Two image learnwares (8x8: horizontal vs vertical stripes, two brightness
    classes each) with models on the flat pixels, and a user mixing both (built once:
    the reusers only read them)."""
    from sklearn.linear_model import LogisticRegression

    from engine.learnware import Learnware
    from engine.specification import InputSpec, OutputSpec, SemanticSpec
    from engine.specification.image import RKMEImageSpec

    rng = np.random.default_rng(0)
    ii, jj = np.mgrid[0:8, 0:8]

    def draw(style: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        pattern = (ii % 2 == 0) if style == 0 else (jj % 2 == 0)
        level = rng.integers(0, 2, n)
        x = pattern[None] * (1.0 + level[:, None, None]) + 0.1 * rng.normal(size=(n, 8, 8))
        return x, np.asarray([f"s{style}-{v}" for v in level])

    lws, xs, ys = [], [], []
    for style in (0, 1):
        x, y = draw(style, 60)
        labels = (f"s{style}-0", f"s{style}-1")
        semantic = SemanticSpec(data_type="image", task_type="classification",
                                name=f"stripes {style}", input=InputSpec(64),
                                output=OutputSpec(1, (), labels))
        lws.append(Learnware(f"img{style}", semantic,
                             RKMEImageSpec(n_points=8, random_state=style).fit(x),
                             LogisticRegression(max_iter=2000).fit(x.reshape(60, -1), y)))
        ux, uy = draw(style, 20)
        xs.append(ux)
        ys.append(uy)
    order = rng.permutation(40)
    return lws, np.concatenate(xs)[order], np.concatenate(ys)[order]


@pytest.mark.parametrize("method", ["job-selector", "average", "ensemble-pruning",
                                    "feature-augment"])
def test_the_page_reuses_image_learnwares_and_scores_them(method, image_learnwares):
    """Images (3-D) reach the reusers as images, and the user-only model gets them
    flattened; this raised before (reusers took only 2-D rows)."""
    lws, x, y = image_learnwares
    out = reuse_rows(lws, x, method, labels=y[:12])
    assert out.predictions.shape == (40,)
    assert out.score is not None and out.score.user_only is not None
    if method != "average":
        assert (out.predictions == y).mean() >= 0.9


def test_the_page_notes_a_one_class_label_draw(image_learnwares):
    lws, x, y = image_learnwares
    one = np.flatnonzero(y == y[0])[:3]
    x = np.concatenate([x[one], np.delete(x, one, axis=0)])
    out = reuse_rows(lws, x, "feature-augment", labels=y[one])
    assert len(out.notes) == 1 and "one class" in out.notes[0]
