"""SIGKILL at random moments of publishing: the store is whole after every restart.

A child process publishes (chunked upload, blob commit, signed record, row) and
withdraws in a loop; the test kills it with SIGKILL after a random delay, then
opens the store *without* recovery to see exactly what the crash left, recovers,
verifies, and rebuilds the catalog. Looped a few dozen times.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import lwtesting
import pytest

from lwnode.node.catalog import NodeCatalog
from lwnode.node.store import FileStore

ROUNDS = 30
SUPPORT_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(Path(lwtesting.__file__).parent), os.environ.get("PYTHONPATH", "")])}
ALLOWED_BEFORE_RECOVERY = {"orphan_blob", "temp_file"}


@pytest.mark.timeout(240)
def test_sigkill_during_publish_leaves_nothing_half_done(tmp_path):
    root = tmp_path / "store"
    rng = random.Random(20240611)
    seen_damage = {"orphan_blob": 0, "temp_file": 0}
    issued = [0]
    # the children: processes forked by one that did the imports (`lwtesting.crash_children`)
    children = subprocess.Popen([sys.executable, "-m", "lwtesting", "crash-children",
                                 str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=SUPPORT_ENV)
    assert children.stdin is not None and children.stdout is not None
    try:
        for round_no in range(ROUNDS):
            # Every fifth kill lands surely mid-upload; the others at a random moment.
            mid_upload = round_no % 5 == 4
            children.stdin.write(f"{round_no}{' mid-upload' * mid_upload}\n")
            children.stdin.flush()
            said = children.stdout.readline().split()
            assert said[:1] == ["child"], said
            try:
                assert children.stdout.readline().strip() == "ready"
                if mid_upload:
                    assert children.stdout.readline().strip() == "mid-upload"
                else:
                    time.sleep(rng.uniform(0.0, 0.3))
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(said[1]), signal.SIGKILL)
            assert children.stdout.readline().strip() == "reaped"
            check_after_the_kill(root, round_no, seen_damage, issued)
    finally:
        children.kill()
        children.wait(timeout=30)
    # The children did real work between kills, and some kills landed mid-upload.
    progressed = sum(b > a for a, b in itertools.pairwise(issued))
    assert progressed > ROUNDS // 2 and issued[-1] > 2 * ROUNDS, issued
    assert seen_damage["temp_file"] >= ROUNDS // 5, seen_damage


def check_after_the_kill(root: Path, round_no: int, seen_damage: dict[str, int],
                         issued: list[int]) -> None:

    with FileStore(root, recover=False) as store:
        damage = store.verify()
        kinds = {p.kind for p in damage}
        assert kinds <= ALLOWED_BEFORE_RECOVERY, (round_no, damage)
        for p in damage:
            seen_damage[p.kind] += 1
        store.recover()
        assert store.verify() == [], round_no
        active = {o.learnware_id for o in store.list_own() if o.status == "active"}
        assert set(store.blobs.ids()) == active
        catalog = NodeCatalog()
        catalog.rebuild(store)
        assert catalog.ids() == {r.learnware_id for r in store.iter_announcements()}
        assert catalog.ids() == active
        issued.append(max((seq for _, seq, _ in store.owners()), default=0))
