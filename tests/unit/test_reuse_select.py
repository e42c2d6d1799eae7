"""engine.reuse.select: the default with labels is chosen out of fold, and kept
data-free unless a labelled method truly beats it (issue 16, finding 5)."""

from __future__ import annotations

import numpy as np
import pytest
from lwtesting import decoy_market

from engine.errors import ReuseError
from engine.package import open_package
from engine.reuse.select import MIN_LABELS, label_folds
from lwnode.userside.local import data_free_method, select_method

DATA_FREE = "average"


@pytest.fixture(scope="module")
def decoy():
    packages, x, y = decoy_market()
    learnwares = [open_package(data).learnware() for data in packages.values()]
    # both learnwares were trained on overlapping inputs (one shifted by 2 in a column):
    # the router cannot tell them apart, so the data-free default averages them
    assert data_free_method(learnwares, x, None).method == DATA_FREE
    return learnwares, x, y


def accuracy(selection, x, y):
    return float(np.mean(np.asarray(selection.model.predict(x)) == y))


def test_folds_are_stratified_deterministic_and_cover_every_row_once():
    y = np.array(["a"] * 12 + ["b"] * 6 + ["c"] * 2)
    splits = label_folds(y, True)
    assert len(splits) == 5
    assert sorted(np.concatenate([t for _, t in splits]).tolist()) == list(range(20))
    for train, test in splits:
        assert not set(train.tolist()) & set(test.tolist())
        assert len(test) == 4  # the folds' sizes differ by at most one
        assert sorted(set(y[test]) - {"c"}) == ["a", "b"]  # every fold has the big classes
    again = label_folds(y, True)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))
    assert [len(t) for _, t in label_folds(np.arange(7.0), False)] == [2, 2, 1, 1, 1]


def test_labels_that_help_choose_a_labelled_method(decoy):
    learnwares, x, y = decoy
    data_free = select_method(learnwares, x[:3], y[:3], None)  # too few: no choice
    assert data_free.chosen == DATA_FREE
    before = accuracy(data_free, x, y)
    chosen = select_method(learnwares, x[:20], y[:20], None)
    assert chosen.chosen in ("ensemble-pruning", "feature-augment")
    assert accuracy(chosen, x, y) > before + 0.15  # 0.755 (averaged) -> 0.94
    scores = {s.name: s.value for s in chosen.scores}
    assert scores[chosen.chosen] > scores[DATA_FREE]
    # the nested estimate (0.80) sits between the averaged rows (0.755) and the truth (0.94)
    assert chosen.estimate is not None and chosen.estimate.value > before
    assert "chose " in chosen.describe() and "nested cross-validation" in chosen.describe()


def test_noise_labels_keep_the_data_free_method(decoy):
    learnwares, x, _ = decoy
    kept = 0
    for seed in range(6):
        noise = np.where(np.random.default_rng(seed).random(len(x)) < 0.5, "pos", "neg")
        selection = select_method(learnwares, x[:10], noise[:10], None)
        kept += selection.chosen == DATA_FREE
        assert selection.n_folds == 5 and len(selection.scores) == 4
    assert kept >= 5  # the paired 1.645-SE rule lets few 10-label flukes through


def test_degenerate_draws_keep_the_data_free_method_with_a_note(decoy):
    learnwares, x, y = decoy
    one_class = np.full(12, "pos")
    selection = select_method(learnwares, x[:12], one_class, None)
    assert selection.chosen == DATA_FREE and selection.n_folds == 0
    assert any("one class" in n for n in selection.notes)
    assert selection.estimate is not None and selection.estimate.value == pytest.approx(
        float(np.mean(np.asarray(selection.model.predict(x[:12])) == "pos")))
    few = select_method(learnwares, x[:MIN_LABELS - 1], y[:MIN_LABELS - 1], None)
    assert few.chosen == DATA_FREE
    assert any("too few to tell methods apart" in n for n in few.notes)
    assert few.describe() == ""


def test_labels_of_the_wrong_kind_are_refused_even_when_too_few_to_choose(decoy):
    learnwares, x, _ = decoy
    with pytest.raises(ReuseError, match="labels of the wrong kind"):
        select_method(learnwares, x[:4], np.array([0, 1, 0, 1]), None)


def _singles(learnwares):
    from engine.reuse import Averaging
    from engine.reuse.select import Candidate

    return [Candidate(lw.semantic.name, lambda lw=lw: Averaging([lw]), False)
            for lw in learnwares]


def test_rank_by_labels_moves_the_useful_learnware_up_only_when_the_labels_separate(decoy):
    from engine.reuse.select import rank_by_labels

    learnwares, x, y = decoy  # given in MMD² order: the look-alike first
    ranked = rank_by_labels(_singles(learnwares), x[:20], y[:20], task="classification")
    assert [e.name for e in ranked.entries] == ["useful", "look-alike"] and ranked.moved
    assert ranked.entries[0].given_rank == 1 and ranked.n_folds == 5
    assert ranked.entries[0].value > ranked.entries[1].value
    noise = np.where(np.random.default_rng(5).random(10) < 0.5, "pos", "neg")
    kept = rank_by_labels(_singles(learnwares), x[:10], noise, task="classification")
    assert not kept.moved and [e.given_rank for e in kept.entries] == [0, 1]
    few = rank_by_labels(_singles(learnwares), x[:3], y[:3], task="classification")
    assert not few.moved and few.n_folds == 0 and "kept the given order" in few.notes[0]
