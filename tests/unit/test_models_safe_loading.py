"""Safe model loading: skops with restricted types, torch without unpickling code,
pickle and joblib refused before a byte of them runs."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from package_helpers import data, rkme, semantic, sklearn_package, with_entries, with_manifest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeRegressor

from engine.checks import Status, check_package
from engine.errors import ModelLoadError, PackageError
from engine.models import dump_sklearn, load_sklearn, load_state_dict, looks_like_pickle
from engine.models.torch_io import architecture_of
from engine.package import build_bytes, open_package


@pytest.fixture(scope="module")
def torch():
    """torch, imported by the tests that use it, not when the suite is collected (~4 s)."""
    import torch

    return torch


class _Evil:
    """Unpickling this creates the sentinel file (as any pickle can run any code)."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


@pytest.fixture
def sentinel(tmp_path) -> Path:
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "untrusted code ran while loading a model"


@pytest.fixture(scope="module")
def package() -> bytes:
    return sklearn_package()


def test_pickle_declared_under_a_safe_format_is_refused(package, sentinel) -> None:
    evil = pickle.dumps(_Evil(sentinel))
    assert looks_like_pickle(evil)
    hostile = with_entries(package, {"model/model.skops": evil})
    pkg = open_package(hostile)
    with pytest.raises(ModelLoadError, match=r"pickle.*skops\.io\.dump"):
        pkg.load_model()
    report = check_package(hostile)
    assert report.status is Status.NONUSABLE and report.failed.name == "model_load"


def test_joblib_file_is_refused(package, sentinel, tmp_path) -> None:
    path = tmp_path / "m.joblib"
    joblib.dump(_Evil(sentinel), path)
    for compressed in (False, True):
        joblib.dump(_Evil(sentinel), path, compress=compressed)
        hostile = with_entries(package, {"model/model.skops": path.read_bytes()})
        with pytest.raises(ModelLoadError, match=r"pickle|not a skops file"):
            open_package(hostile).load_model()


def test_pickle_file_names_and_formats_are_refused_in_the_manifest(package, sentinel) -> None:
    evil = pickle.dumps(_Evil(sentinel))

    def rename(m: dict) -> None:
        m["model"]["file"] = "model/model.pkl"

    hostile = with_manifest(with_entries(package, {"model/model.skops": None,
                                                   "model/model.pkl": evil}), rename)
    with pytest.raises(PackageError, match="pickle/joblib file name"):
        open_package(hostile)


@pytest.mark.parametrize("fmt", ["torch-state-dict", "torchscript"])
def test_torch_files_with_code_in_their_pickle_are_refused(torch, sentinel, fmt: str) -> None:
    buf = io.BytesIO()
    torch.save({"weight": _Evil(sentinel)}, buf)
    from engine.models import load_torchscript

    with pytest.raises(ModelLoadError, match=r"weights_only|TorchScript"):
        if fmt == "torch-state-dict":
            load_state_dict(buf.getvalue(), [{"layer": "Linear", "in_features": 3,
                                              "out_features": 1}])
        else:
            load_torchscript(buf.getvalue())
    with pytest.raises(ModelLoadError, match="pickle"):
        load_state_dict(pickle.dumps(_Evil(sentinel)), [{"layer": "ReLU"}])


def test_skops_refuses_types_outside_sklearn_numpy_scipy_unless_trusted() -> None:
    x, _ = data()
    model = make_pipeline(FunctionTransformer(np.tanh),
                          DecisionTreeRegressor(max_depth=2)).fit(x, x[:, 0])
    assert load_sklearn(dump_sklearn(model)).predict(x[:2]).shape == (2,)
    odd = make_pipeline(FunctionTransformer(_identity), DecisionTreeRegressor(max_depth=2))
    odd.fit(x, x[:, 0])
    blob = dump_sklearn(odd)
    name = f"{__name__}._identity"
    with pytest.raises(ModelLoadError, match=rf"untrusted type\(s\) {name}"):
        load_sklearn(blob)
    with pytest.raises(PackageError, match="trusted_types"):
        build_bytes(odd, semantic("regression"), rkme(x))
    pkg = open_package(build_bytes(odd, semantic("regression"), rkme(x),
                                   trusted_types=[name]))
    assert pkg.manifest.model.trusted_types == (name,)
    with pytest.raises(ModelLoadError, match="untrusted"):
        pkg.load_model()
    np.testing.assert_allclose(pkg.load_model(trusted_types=[name]).predict(x),
                               odd.predict(x))


def _identity(x):
    return x


def test_skops_bytes_do_not_depend_on_object_ids() -> None:
    x, _ = data()
    first = dump_sklearn(DecisionTreeRegressor(random_state=0).fit(x, x[:, 1]))
    second = dump_sklearn(DecisionTreeRegressor(random_state=0).fit(x.copy(), x[:, 1].copy()))
    assert first == second


def _net(torch, out: int) -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.LayerNorm(8),
                               torch.nn.Linear(8, out))


@pytest.mark.parametrize("fmt", ["torchscript", "torch-state-dict"])
def test_torch_classifier_round_trip(torch, fmt: str) -> None:
    x, _ = data()
    net = _net(torch, 2)
    pkg = open_package(build_bytes(net, semantic(), rkme(x), model_format=fmt))
    assert pkg.manifest.model.output_kind == "logits"
    model = pkg.load_model()
    with torch.no_grad():
        logits = net(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_array_equal(model.predict(x), np.array(["neg", "pos"])[logits.argmax(1)])
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    again = build_bytes(net, semantic(), rkme(x), model_format=fmt)
    assert open_package(again).id == pkg.id


def test_torch_regressor_round_trip(torch) -> None:
    x, _ = data()
    net = _net(torch, 1)
    model = open_package(build_bytes(net, semantic("regression"), rkme(x))).load_model()
    assert model.predict(x).shape == (len(x),)
    assert not hasattr(model, "predict_proba")


def test_state_dict_architecture_is_a_closed_list(torch) -> None:
    weights = io.BytesIO()
    torch.save(_net(torch, 2).state_dict(), weights)
    with pytest.raises(ModelLoadError, match="not one of"):
        load_state_dict(weights.getvalue(), [{"layer": "Conv2d", "in_channels": 1}])
    with pytest.raises(ModelLoadError, match="unknown argument"):
        load_state_dict(weights.getvalue(), [{"layer": "Linear", "in_features": 3,
                                              "out_features": 8, "device": "cuda"}])
    # A layer list that would need terabytes is built on the meta device: refused at once.
    huge = [{"layer": "Linear", "in_features": 1 << 20, "out_features": 1 << 20}]
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_state_dict(weights.getvalue(), huge)
    with pytest.raises(ModelLoadError, match=r"nn.Sequential"):
        architecture_of(torch.nn.Linear(3, 1))


def test_the_evil_pickle_is_live(tmp_path) -> None:
    """Control: the payload used above really runs when unpickled."""
    target = tmp_path / "control"
    pickle.loads(pickle.dumps(_Evil(target))).close()
    assert target.exists()
