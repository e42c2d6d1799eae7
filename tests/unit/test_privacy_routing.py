"""[privacy] require_dp_requirements: a user's non-DP requirement stays on its node."""

from __future__ import annotations

import numpy as np
import pytest
from test_federation_memory import node, publish

from engine.search import Requirement
from engine.specification import RKMETableSpec
from lwnode.federation.p2p import InProcessHub
from lwnode.node.searchtypes import SearchQuery

pytestmark = pytest.mark.timeout(60)
X = np.random.default_rng(0).normal(size=(200, 4))


async def test_a_non_dp_requirement_is_answered_locally_with_a_note_and_a_dp_one_is_routed():
    hub = InProcessHub()
    async with node(hub, "A", sync=False) as a:
        on_a = await publish(a, 1)
        async with node(hub, "U", bootstrap=(a,), sync=False,
                        privacy={"require_dp_requirements": True}) as u:
            hub.set_drop(u.id, 1.0)  # no gossip: U can learn of A's learnware only by asking
            plain = Requirement(None, RKMETableSpec(random_state=0).fit(X))
            answer = await u.service.search(SearchQuery(plain, 5, 1))
            assert answer.asked == () and answer.hits == ()
            assert any("require_dp_requirements" in n for n in answer.notes), answer.notes
            assert u.federation.counters()["searches_not_routed_privacy"] == 1
            dp = Requirement(None, RKMETableSpec(epsilon=1.0, delta=1e-5, gamma=0.25,
                                                 bounds=(-4, 4), n_points=10,
                                                 random_state=0).fit(X))
            answer = await u.service.search(SearchQuery(dp, 5, 1))
            assert answer.asked == (a.id,)
            assert [h.learnware_id for h in answer.hits] == [on_a]
