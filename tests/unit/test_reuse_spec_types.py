"""The reuser conformance suite over every spec type: table, image and text learnwares.

Companion of `test_reuse_conformance.py` (which checks the estimator contract on
table learnwares in depth). Here every reuser runs on markets of each spec type
through the one input contract of `engine.reuse.inputs`: the reuser takes the
user's raw inputs (rows, images, texts or their embeddings), the models get one
numeric row per input, routing gets each spec's own `transform`. Each market has
three learnwares whose tasks differ (so routing is right and averaging is not), and
a user whose inputs mix all three; degenerate label draws (one label, one class)
must fall back with a note, never raise.

Small on purpose: 8x8 synthetic images, ~100 short texts embedded once by the
packaged MiniLM (offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from lwtesting import TEXT_TOPICS, TEXT_VARIANTS
from sklearn.linear_model import LogisticRegression, Ridge

from engine.errors import ReuseError
from engine.hetero.reuse import HeteroReuser
from engine.learnware import Learnware
from engine.reuse import Averaging, EnsemblePruning, FeatureAugment, JobSelector, Reuser
from engine.reuse.synthetic import make_learnwares, make_regions
from engine.specification import InputSpec, OutputSpec, RKMETableSpec, SemanticSpec
from engine.specification.image import RKMEImageSpec
from engine.specification.text import RKMETextSpec, TextEmbeddings

REUSERS: list[type[Reuser]] = [JobSelector, Averaging, EnsemblePruning, FeatureAugment]
NEEDS_LABELS = {EnsemblePruning, FeatureAugment}
KINDS = ("table", "image", "text")



@dataclass
class Market:
    """Learnwares of one spec type and a user whose inputs mix their three tasks."""

    learnwares: list[Learnware]
    x: Any  # raw user inputs: rows, images or texts
    y: np.ndarray
    rows: np.ndarray  # what the models take: rows, flat pixels, embeddings
    task_of: np.ndarray  # which learnware's task each user input comes from


def _semantic(name: str, data_type: str, task: str, dim: int,
              labels: tuple[Any, ...] = ()) -> SemanticSpec:
    out = OutputSpec(1, (), labels) if labels else OutputSpec(1)
    return SemanticSpec(data_type=data_type, task_type=task, name=name,
                        input=InputSpec(dim), output=out)


# -- images: three drawing styles, each learnware knows two shapes of its style ----------

def _images(style: int, shape: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """8x8 images: style 0 stripes, 1 checks, 2 blobs; shape picks orientation/place."""
    out = np.zeros((n, 8, 8))
    ii, jj = np.mgrid[0:8, 0:8]
    for k in range(n):
        if style == 0:
            pattern = (ii % 2 == 0) if shape == 0 else (jj % 2 == 0)
        elif style == 1:
            pattern = ((ii // 2 + jj // 2) % 2 == 0) if shape == 0 else ((ii + jj) % 4 < 2)
        else:
            ci, cj = (2, 2) if shape == 0 else (5, 5)
            pattern = (ii - ci) ** 2 + (jj - cj) ** 2 < 5
        out[k] = pattern * (1.0 + 0.2 * rng.normal()) + 0.15 * rng.normal(size=(8, 8))
    return out


@pytest.fixture(scope="module")
def image_markets() -> dict[str, Market]:
    rng = np.random.default_rng(0)
    out = {}
    for task in ("classification", "regression"):
        lws, xs, ys, tasks = [], [], [], []
        for style in range(3):
            imgs = np.concatenate([_images(style, s, 40, rng) for s in (0, 1)])
            shape = np.repeat([0, 1], 40)
            flat = imgs.reshape(len(imgs), -1)
            spec = RKMEImageSpec(n_points=10, random_state=style).fit(imgs)
            if task == "classification":
                labels = (f"s{style}a", f"s{style}b")
                target = np.asarray(labels)[shape]
                model: Any = LogisticRegression(max_iter=2000).fit(flat, target)
            else:
                labels, target = (), style + shape + 0.1 * imgs.mean(axis=(1, 2))
                model = Ridge(alpha=1.0).fit(flat, target)
            lws.append(Learnware(f"img-{task}-{style}", _semantic(
                f"style {style}", "image", task, 64, labels), spec, model))
            user = np.concatenate([_images(style, s, 8, rng) for s in (0, 1)])
            xs.append(user)
            user_shape = np.repeat([0, 1], 8)
            ys.append(np.asarray(labels)[user_shape] if labels else
                      style + user_shape + 0.1 * user.mean(axis=(1, 2)))
            tasks.append(np.full(16, style))
        x = np.concatenate(xs)
        out[task] = Market(lws, x, np.concatenate(ys), x.reshape(len(x), -1),
                           np.concatenate(tasks))
    return out


# -- texts: three topics (lwtesting.TEXT_TOPICS), each learnware tells two sentiments
#    (or scores) of its topic --------------------------------------------------------------

@pytest.fixture(scope="module")
def text_markets() -> dict[str, Market]:
    from engine.specification.text import embed_texts

    texts, topic, side = [], [], []
    for t, (good, bad) in enumerate(TEXT_TOPICS.values()):
        for s, sentence in enumerate((good, bad)):
            for v in TEXT_VARIANTS:
                texts.append(v + sentence)
                topic.append(t)
                side.append(s)
    emb = embed_texts(texts).vectors
    topic_a, side_a = np.asarray(topic), np.asarray(side)
    dev = np.tile(np.arange(len(TEXT_VARIANTS)) < 8, 6)  # 8 variants train, 4 are the user's
    out = {}
    for task in ("classification", "regression"):
        lws = []
        for t, name in enumerate(TEXT_TOPICS):
            rows = dev & (topic_a == t)
            spec = RKMETextSpec(n_points=6, random_state=t).fit(TextEmbeddings(emb[rows]))
            if task == "classification":
                labels = (f"{name}+", f"{name}-")
                model: Any = LogisticRegression(max_iter=2000).fit(
                    emb[rows], np.asarray(labels)[side_a[rows]])
            else:
                labels = ()
                model = Ridge(alpha=0.1).fit(emb[rows], t + side_a[rows])
            lws.append(Learnware(f"txt-{task}-{t}", _semantic(name, "text", task, 384, labels),
                                 spec, model))
        user = ~dev
        names = np.asarray(list(TEXT_TOPICS))[topic_a[user]]
        y = (np.char.add(names, np.where(side_a[user] == 0, "+", "-")) if task ==
             "classification" else (topic_a[user] + side_a[user]).astype(float))
        out[task] = Market(lws, [texts[i] for i in np.flatnonzero(user)], y, emb[user],
                           topic_a[user])
    return out


@pytest.fixture(scope="module")
def table_markets() -> dict[str, Market]:
    out = {}
    for task in ("classification", "regression"):
        regions = make_regions(3, 4, task=task, n_classes=3, n_labels=4, spread=3.0,
                               random_state=0)
        lws = make_learnwares(regions, 200, n_points=15, random_state=1)
        x, y, which = regions.sample_mixture([1 / 3, 1 / 3, 1 / 3], 48,
                                             np.random.default_rng(2))
        out[task] = Market(list(lws), x, y, x, which)
    return out


@pytest.fixture(scope="module")
def markets(table_markets, image_markets, text_markets) -> dict[str, dict[str, Market]]:
    return {"table": table_markets, "image": image_markets, "text": text_markets}


def oracle(market: Market) -> float:
    """Accuracy when each input goes to its own task's learnware: what routing can reach."""
    pred = np.empty(len(market.y), dtype=object)
    for j, lw in enumerate(market.learnwares):
        mine = market.task_of == j
        pred[mine] = lw.model.predict(market.rows[mine])
    return float((pred.astype(market.y.dtype) == market.y).mean())


def fitted(cls: type[Reuser], market: Market, x: Any = None, y: Any = None,
           **params: Any) -> Reuser:
    reuser = cls(market.learnwares, **params)
    if cls in NEEDS_LABELS:
        return reuser.fit(market.x if x is None else x, market.y if y is None else y)
    return reuser.fit()


def _take(x: Any, idx: np.ndarray) -> Any:
    return [x[i] for i in idx] if isinstance(x, list) else x[idx]


# -- every reuser, every spec type, both tasks ----------------------------------------------

@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cls", REUSERS)
def test_every_reuser_predicts_raw_inputs_of_every_spec_type(cls, kind, task, markets):
    market = markets[kind][task]
    reuser = fitted(cls, market)
    pred = reuser.predict(market.x)
    assert pred.shape == (len(market.y),)
    assert reuser.notes_ == ()
    if task == "classification":
        proba = reuser.predict_proba(market.x)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert set(pred.tolist()) <= set(reuser.classes_.tolist())
    else:
        assert np.isfinite(pred).all()


@pytest.mark.parametrize("kind", KINDS)
def test_job_selector_routes_each_input_to_its_own_task(kind, markets):
    """Routing in the spec's own space: images through the conv feature map, texts
    through the encoder."""
    market = markets[kind]["classification"]
    selector = JobSelector(market.learnwares).fit()
    assert selector.routed_
    assert (selector.route(market.x) == market.task_of).mean() >= 0.9
    routed = (selector.predict(market.x) == market.y).mean()
    assert routed >= oracle(market) - 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_labelled_reusers_route_on_every_spec_type(kind, markets):
    market = markets[kind]["classification"]
    pruned = EnsemblePruning(market.learnwares).fit(market.x, market.y)
    assert pruned.combine_ == "route"
    assert (pruned.predict(market.x) == market.y).mean() >= oracle(market) - 0.05
    stacked = FeatureAugment(market.learnwares).fit(market.x, market.y)
    assert stacked.routed_
    assert (stacked.predict(market.x) == market.y).mean() >= oracle(market) - 0.1


@pytest.mark.parametrize("cls", REUSERS)
def test_texts_embeddings_and_embedding_rows_are_one_input(cls, markets):
    """A list of texts, their `TextEmbeddings` and the same vectors as a 2-D matrix
    (how a node hands texts over, in a .npy) predict the same."""
    market = markets["text"]["classification"]
    reuser = fitted(cls, market)
    by_text = reuser.predict_proba(market.x)
    np.testing.assert_allclose(reuser.predict_proba(TextEmbeddings(market.rows)), by_text,
                               atol=1e-6)
    np.testing.assert_allclose(reuser.predict_proba(market.rows), by_text, atol=1e-6)


def test_image_models_receive_flattened_images(markets):
    market = markets["image"]["regression"]
    alone = Averaging(market.learnwares, weights=[1.0, 0.0, 0.0]).fit()
    np.testing.assert_allclose(alone.predict(market.x),
                               market.learnwares[0].model.predict(market.rows))
    stacked = FeatureAugment(market.learnwares).fit(market.x, market.y)
    assert stacked.input_kind_ == "image" and stacked.scaler_.n_features_in_ == 64


# -- degenerate label draws fall back with a note -------------------------------------------

@pytest.mark.parametrize("draw", ["one label", "one class"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cls", sorted(NEEDS_LABELS, key=lambda c: c.__name__))
def test_degenerate_label_draws_fall_back_with_a_note(cls, kind, draw, markets):
    market = markets[kind]["classification"]
    first = int(np.flatnonzero(market.task_of == 1)[0])
    idx = (np.array([first]) if draw == "one label"
           else np.flatnonzero(market.y == market.y[first])[:4])
    reuser = cls(market.learnwares).fit(_take(market.x, idx), market.y[idx])
    assert len(reuser.notes_) == 1 and "one class" in reuser.notes_[0]
    pred = reuser.predict(market.x)
    # the data-free fallback routes: it does not answer the one class everywhere
    assert len(set(pred.tolist())) > 1
    assert (pred == market.y).mean() >= oracle(market) - 0.05


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cls", sorted(NEEDS_LABELS, key=lambda c: c.__name__))
def test_one_regression_label_falls_back_with_a_note(cls, kind, markets):
    market = markets[kind]["regression"]
    reuser = cls(market.learnwares).fit(_take(market.x, np.array([0])), market.y[:1])
    assert len(reuser.notes_) == 1 and "1 labelled row" in reuser.notes_[0]
    assert np.isfinite(reuser.predict(market.x)).all()


@pytest.mark.parametrize("kind", ["table", "image", "text"])
@pytest.mark.parametrize("cls", sorted(NEEDS_LABELS, key=lambda c: c.__name__))
def test_two_labels_of_two_classes_fit(cls, kind, markets):
    market = markets[kind]["classification"]
    a = int(np.flatnonzero(market.task_of == 0)[0])
    b = next(i for i in np.flatnonzero(market.task_of == 0) if market.y[i] != market.y[a])
    idx = np.array([a, b])
    reuser = cls(market.learnwares).fit(_take(market.x, idx), market.y[idx])
    assert reuser.predict(market.x).shape == (len(market.y),)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_hetero_reuser_degenerate_labels_fall_back_with_a_note(task, markets):
    """HeteroReuser (table learnwares over mapped columns) used to raise on these."""
    from engine.hetero.mapping import ColumnMapping, ColumnPair

    market = markets["table"][task]
    cols = tuple(f"c{i}" for i in range(market.rows.shape[1]))
    same = ColumnMapping(cols, cols, tuple(ColumnPair(i, i, 1.0) for i in range(len(cols))))
    idx = (np.flatnonzero(market.y == market.y[0])[:3] if task == "classification"
           else np.array([0]))
    reuser = HeteroReuser(market.learnwares, mappings=[same] * 3).fit(market.x[idx],
                                                                     market.y[idx])
    assert len(reuser.notes_) == 1 and reuser.model_ is None
    data_free = HeteroReuser(market.learnwares, mappings=[same] * 3).fit(market.x)
    np.testing.assert_array_equal(reuser.predict(market.x), data_free.predict(market.x))


# -- what is refused, and what falls back ---------------------------------------------------

def test_image_learnwares_refuse_a_table_and_images_of_another_size(markets):
    market = markets["image"]["classification"]
    reuser = JobSelector(market.learnwares).fit()
    with pytest.raises(ReuseError, match="image learnwares take images") as info:
        reuser.predict(np.zeros((4, 2)))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ReuseError, match="have 100 values each, the learnwares take 64"):
        reuser.predict(np.zeros((4, 10, 10)))


def test_text_learnwares_refuse_rows_that_are_not_embeddings(markets):
    market = markets["text"]["classification"]
    reuser = Averaging(market.learnwares).fit()
    with pytest.raises(ReuseError, match="unit-norm"):
        reuser.predict(np.ones((3, 384)))
    with pytest.raises(ReuseError, match="texts"):
        reuser.predict(["fine", None])


def test_image_and_text_learnwares_together_are_refused(markets):
    lws = [markets["image"]["classification"].learnwares[0],
           markets["text"]["classification"].learnwares[0]]
    with pytest.raises(ReuseError, match="image and text learnwares together"):
        Averaging(lws).fit()


def test_table_learnwares_on_pixels_join_image_learnwares_without_routing(markets):
    """A table spec fitted on the flat pixels lives in another space than the image
    specs: the JobSelector cannot route and averages with a note; the labelled
    reusers work without routing."""
    market = markets["image"]["classification"]
    first = market.learnwares[0]
    imgs = market.x[market.task_of == 0]
    as_table = Learnware("img-as-table", first.semantic,
                         RKMETableSpec(n_points=5, random_state=0).fit(
                             imgs.reshape(len(imgs), -1)), first.model)
    lws = [as_table, *market.learnwares[1:]]
    selector = JobSelector(lws).fit()
    assert not selector.routed_ and "different spaces" in selector.notes_[0]
    np.testing.assert_allclose(selector.predict_proba(market.x),
                               Averaging(lws).fit().predict_proba(market.x))
    pruned = EnsemblePruning(lws).fit(market.x, market.y)
    assert pruned.combine_ == "average" and pruned.notes_ == ()
    stacked = FeatureAugment(lws).fit(market.x, market.y)
    assert not stacked.routed_
