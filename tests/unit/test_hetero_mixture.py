"""Mixtures across feature spaces: two organizations over different columns, each
knowing one half of the user's population, are mixed about half and half."""

import numpy as np
import pytest
from hetero_helpers import need_minilm, user_spec

from engine.hetero.synthetic import KEYS, Organization, Task, semantic_for
from engine.search import Catalog, Requirement
from engine.specification import RKMETableSpec

AREA = KEYS.index("area")
SMALL = Organization("small-homes", (0, 2, 3, 4, 5), (0,) * 5)   # floor_area, ...
LARGE = Organization("large-homes", (4, 3, 0, 7, 1), (1,) * 5)   # area_income, ...
USER = Organization("user", (3, 0, 4, 9, 2), (2,) * 5)           # cbdDistance, ...


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of one city split by floor area: the small homes and the large ones."""
    x, _ = Task("city-a").sample(2 * n, np.random.default_rng(seed))
    order = np.argsort(x[:, AREA])
    return x[order[:n]], x[order[n:]]


@pytest.fixture(scope="module")
def searched():
    need_minilm()
    small, large = halves(1500, seed=1)
    catalog = Catalog()
    for org, rows in ((SMALL, small), (LARGE, large)):
        spec = RKMETableSpec(n_points=50, random_state=0).fit(org.select(rows))
        catalog.add(org.name, semantic_for(org), spec)
    # 1,000 rows per half: a private spec has at most one point per 20 rows, and the
    # match needs ~50 points to tell the halves apart (at 300 rows even the old,
    # non-private fit failed to with 15 points)
    user_small, user_large = halves(1000, seed=2)
    x_user = USER.select(np.vstack([user_small, user_large]))
    semantic = semantic_for(USER)
    mixed = catalog.search(Requirement(semantic, user_spec(x_user)), k=5, max_mixture=3)
    only_small = catalog.search(Requirement(semantic, user_spec(USER.select(user_small))),
                                k=5, max_mixture=3)
    return mixed, only_small


def test_a_user_spanning_both_halves_gets_a_mixture_of_both(searched):
    mixed, _ = searched
    assert all(m.mapping is not None for m in mixed.single)
    mixture = mixed.mixture
    assert mixture is not None, mixed.notes
    assert sorted(mixture.ids) == ["large-homes", "small-homes"]
    assert all(0.3 < w < 0.7 for w in mixture.weights), mixture.weights
    best_single = min(m.mmd2 for m in mixed.single)
    assert mixture.mmd2 < 0.8 * best_single
    assert mixture.score > max(m.score for m in mixed.single)
    assert any("across feature spaces" in n for n in mixed.notes)
    # The mixture carries each member's column mapping (it used to carry none, and
    # reuse had to look them up in the single matches).
    by_id = {m.id: m.mapping for m in mixed.single}
    assert mixture.mappings == tuple(by_id[i] for i in mixture.ids)
    assert all(mixture.mapping_of(i) is by_id[i] for i in mixture.ids)


def test_a_user_inside_one_half_gets_that_learnware_and_no_mixture(searched):
    _, only_small = searched
    assert only_small.single[0].id == "small-homes"
    assert only_small.mixture is None
