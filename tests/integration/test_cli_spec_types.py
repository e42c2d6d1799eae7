"""`lwnode reuse` on image and text learnwares, with every method the command line offers.

Developers pack image learnwares (8x8 images in a ``.npy``, ``data_type = "image"``:
an `RKMEImageSpec`) and text learnwares (sentence embeddings in a ``.npy``,
``data_type = "text"``: an `RKMETextSpec`), publish them to a running node, and a
user reuses them from raw images / embeddings. Every same-column method predicts
(job selector and average without labels, ensemble pruning and feature augment with
a few); a one-class label file falls back with a printed note; ``--method hetero``
(which maps table columns) is refused with one clear line. These all failed before
the reusers took raw inputs of every spec type.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import lwnode, lwnode_many, served_node
from lwtesting import TEXT_TOPICS, TEXT_VARIANTS

pytestmark = pytest.mark.timeout(300)

SEMANTIC = ('name = "{name}"\ndata_type = "{kind}"\ntask_type = "classification"\n'
            'library = "scikit_learn"\nlicense = "mit"\n')


def _images(style: int, shape: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """8x8 images: style 0 stripes, 1 checks, 2 blobs; the shape picks a variant."""
    ii, jj = np.mgrid[0:8, 0:8]
    if style == 0:
        pattern = (ii % 2 == 0) if shape == 0 else (jj % 2 == 0)
    elif style == 1:
        pattern = ((ii // 2 + jj // 2) % 2 == 0) if shape == 0 else ((ii + jj) % 4 < 2)
    else:
        pattern = (ii - 2 - 3 * shape) ** 2 + (jj - 2 - 3 * shape) ** 2 < 5
    return (pattern[None] * (1.0 + 0.2 * rng.normal(size=(n, 1, 1)))
            + 0.15 * rng.normal(size=(n, 8, 8)))




def _market(kind: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """Three developers' (inputs, labels) and the user's shuffled inputs and labels."""
    rng = np.random.default_rng(5)
    devs, user_x, user_y = [], [], []
    if kind == "image":
        for style in range(3):
            x = np.concatenate([_images(style, s, 40, rng) for s in (0, 1)])
            devs.append((x, np.repeat([f"s{style}a", f"s{style}b"], 40)))
            user_x.append(np.concatenate([_images(style, s, 10, rng) for s in (0, 1)]))
            user_y.append(np.repeat([f"s{style}a", f"s{style}b"], 10))
    else:
        from engine.specification.text import embed_texts

        for name, sentences in TEXT_TOPICS.items():
            texts = [v + s for s in sentences for v in TEXT_VARIANTS]
            emb = embed_texts(texts).vectors
            labels = np.repeat([f"{name}+", f"{name}-"], len(TEXT_VARIANTS))
            dev = np.tile(np.arange(len(TEXT_VARIANTS)) < 8, 2)
            devs.append((emb[dev], labels[dev]))
            user_x.append(emb[~dev])
            user_y.append(labels[~dev])
    order = rng.permutation(sum(len(y) for y in user_y))
    return devs, np.concatenate(user_x)[order], np.concatenate(user_y)[order]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    d = tmp_path_factory.mktemp("spec-types")
    truth = {}
    for kind in ("image", "text"):
        devs, user, y = _market(kind)
        for i, (x, labels) in enumerate(devs):
            np.save(d / f"{kind}{i}.npy", x)
            model = LogisticRegression(max_iter=2000).fit(x.reshape(len(x), -1), labels)
            sio.dump(model, d / f"{kind}{i}.skops")
            (d / f"{kind}{i}.toml").write_text(SEMANTIC.format(name=f"{kind} task {i}",
                                                                kind=kind))
        np.save(d / f"{kind}-user.npy", user)
        np.savetxt(d / f"{kind}-labels.csv", y[:12], fmt="%s")
        one = np.flatnonzero(y == y[0])[:3]  # a draw of one class, labelling rows 0..2
        user_one = np.concatenate([user[one], np.delete(user, one, axis=0)])
        np.save(d / f"{kind}-user-one.npy", user_one)
        np.savetxt(d / f"{kind}-one-class.csv", y[one], fmt="%s")
        truth[kind] = y
    return d, truth


@pytest.fixture(scope="module")
def published(work):
    d, _ = work
    with served_node(d, "Spec Types Org"):
        lwnode_many([("pack", "--model", f"{kind}{i}.skops", "--data", f"{kind}{i}.npy",
                      "--semantic", f"{kind}{i}.toml", "-o", f"{kind}{i}.zip", "--points", "10")
                     for kind in ("image", "text") for i in range(3)], cwd=d)
        ids: dict[str, list[str]] = {"image": [], "text": []}
        for kind in ids:
            for i in range(3):
                answer = json.loads(lwnode("publish", f"{kind}{i}.zip", "--home", "home",
                                           "--json", cwd=d, check=0).stdout)
                assert answer["report"]["status"] == "usable", answer
                ids[kind].append(answer["id"])
        yield ids


@pytest.mark.parametrize("kind", ["image", "text"])
def test_every_method_reuses_image_and_text_learnwares(kind, work, published):
    d, truth = work
    ids = published[kind]
    runs = {"job-selector": (), "average": (),
            "ensemble-pruning": ("--labels", f"{kind}-labels.csv"),
            "feature-augment": ("--labels", f"{kind}-labels.csv")}
    done = lwnode_many([("reuse", *ids, "--data", f"{kind}-user.npy", "--method", method,
                         *extra, "-o", f"{kind}-{method}.csv", "--home", "home")
                        for method, extra in runs.items()], cwd=d)
    accuracy = {}
    for method, proc in zip(runs, done, strict=True):
        assert f"predictions by {method}" in proc.stdout, proc.stdout
        pred = np.loadtxt(d / f"{kind}-{method}.csv", dtype=str, skiprows=1, delimiter=",")
        assert len(pred) == len(truth[kind])
        accuracy[method] = float((pred == truth[kind]).mean())
    # Routing (in the image / text spec's own space) sends each input to its task's
    # learnware: the job selector and the labelled methods, which route too, are right.
    for method in ("job-selector", "ensemble-pruning", "feature-augment"):
        assert accuracy[method] >= 0.9, accuracy


@pytest.mark.parametrize("kind", ["image", "text"])
def test_one_class_labels_fall_back_with_a_note_and_hetero_is_refused(kind, work, published):
    d, _ = work
    ids = published[kind]
    pruned, stacked = lwnode_many([
        ("reuse", *ids, "--data", f"{kind}-user-one.npy", "--labels", f"{kind}-one-class.csv",
         "--method", method, "-o", f"{kind}-one-{method}.csv", "--home", "home")
        for method in ("ensemble-pruning", "feature-augment")], cwd=d)
    for proc in (pruned, stacked):
        assert "note: y: the labels hold one class" in proc.stdout, proc.stdout
    hetero = lwnode("reuse", *ids, "--data", f"{kind}-user.npy", "--method", "hetero",
                    "-o", "h.csv", "--home", "home", cwd=d, check=2)
    assert "maps table columns" in hetero.stderr and len(hetero.stderr.strip().splitlines()) == 1
