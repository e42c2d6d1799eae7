"""The simplex QP solver agrees with cvxpy (the reference solver) to high precision."""

import cvxpy as cp
import numpy as np
import pytest

from engine import kernel
from engine.qp import objective, project_simplex, simplex_qp, simplex_qp_many


def cvxpy_solution(q, c):
    w = cp.Variable(len(c))
    psd = cp.psd_wrap(q)
    prob = cp.Problem(cp.Minimize(cp.quad_form(w, psd) - 2 * c @ w), [w >= 0, cp.sum(w) == 1])
    prob.solve(solver=cp.CLARABEL)
    return np.asarray(w.value)


def problems():
    rng = np.random.default_rng(7)
    out = []
    for k in (2, 5, 30, 100):
        z = rng.normal(size=(k, 4))
        q = kernel.gaussian(z, z, 0.5)
        x = rng.normal(size=(300, 4)) + rng.normal(size=4) * 0.5
        out.append((q, kernel.mean_embedding_on(z, x, 0.5)))
    a = rng.normal(size=(20, 3))  # rank-deficient PSD
    out.append((a @ a.T, rng.normal(size=20)))
    z = np.repeat(rng.normal(size=(5, 2)), 2, axis=0)  # duplicated points: singular Gram
    out.append((kernel.gaussian(z, z, 1.0), rng.uniform(size=10)))
    # near-duplicate mixture members (solved by support enumeration): ill-conditioned
    z = np.repeat(rng.normal(size=(2, 3)), 2, axis=0) + rng.normal(scale=1e-4, size=(4, 3))
    out.append((kernel.gaussian(z, z, 0.5), rng.uniform(size=4)))
    return out


@pytest.mark.parametrize("case", range(7))
def test_matches_cvxpy(case):
    q, c = problems()[case]
    ours = simplex_qp(q, c)
    ref = cvxpy_solution(q, c)
    assert ours.min() >= 0 and abs(ours.sum() - 1) < 1e-12
    f_ours, f_ref = objective(q, c, ours), objective(q, c, ref)
    assert f_ours <= f_ref + 1e-7 * (1 + abs(f_ref))


def test_projection_is_on_simplex_and_idempotent():
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.normal(size=7) * 3
        p = project_simplex(v)
        assert p.min() >= 0 and abs(p.sum() - 1) < 1e-12
        assert np.allclose(project_simplex(p), p)


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="q must be"):
        simplex_qp(np.eye(3), np.ones(2))


@pytest.mark.parametrize("k", [2, 3, 5, 9])
def test_many_problems_at_once_equal_one_at_a_time(k):
    # Mixture trials: well-posed, near-duplicate and exactly duplicated members (a
    # singular KKT system in the batch); k = 9 takes the one-at-a-time path.
    rng = np.random.default_rng(k)
    qs, cs = [], []
    for i in range(12):
        z = rng.normal(size=(k, 3))
        if i % 3 == 1:
            z[1] = z[0] + rng.normal(scale=1e-6, size=3)
        if i % 3 == 2:
            z[1] = z[0]
        qs.append(kernel.gaussian(z, z, 0.5))
        cs.append(rng.uniform(size=k))
    many = simplex_qp_many(np.array(qs), np.array(cs))
    for w, q, c in zip(many, qs, cs, strict=True):
        np.testing.assert_array_equal(w, simplex_qp(q, c))


def test_many_problems_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="q must be"):
        simplex_qp_many(np.ones((2, 3, 3)), np.ones((2, 2)))
