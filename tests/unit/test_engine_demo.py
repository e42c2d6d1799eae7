"""The engine demo finds the right learnwares and its reuse beats the user-only model."""

from rich.console import Console


def test_demo_finds_the_two_matching_developers_and_reuse_wins():
    from lwnode.demo import engine as engine_demo  # sklearn's datasets: not at collection

    report = engine_demo.run(seed=0, console=Console(quiet=True))
    mixture = report.result.mixture
    assert mixture is not None
    covered = {c for lw_id in mixture.ids for c in report.tasks[lw_id]}
    assert set(engine_demo.USER_CLASSES) <= covered
    top_two = {m.id for m in report.result.single[:2]}
    assert top_two == {"dev02", "dev07"}  # classes (2, 3) and (7, 8)
    assert report.reuse_accuracy > 0.9
    assert report.reuse_accuracy > report.user_only_accuracy
