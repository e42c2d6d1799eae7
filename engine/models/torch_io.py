"""torch models: TorchScript archives and state dicts, loaded without unpickling code.

* TorchScript (``torch.jit.save``): the archive holds TorchScript code, which torch
  interprets itself (it cannot import or call arbitrary Python), and tensors.
* State dict (``torch.save(model.state_dict())``, zip format): loaded with
  ``torch.load(weights_only=True)``, whose unpickler builds only tensors and plain
  containers, into a network described by a small, closed layer list
  (`LAYERS`) from the manifest. The network is built on the ``meta`` device and the
  loaded tensors are assigned to it, so a hostile layer list cannot make us
  allocate more than the weights the package actually carries.

`TorchModel` adapts either to `engine.learnware.Model` (numpy in, numpy out).
torch is imported only when one of these functions runs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.errors import ModelLoadError
from engine.models.formats import TORCHSCRIPT, refuse_unsafe
from engine.package.archive import read_archive
from engine.package.limits import PackageLimits

ZIP_MAGIC = b"PK\x03\x04"
MAX_FEATURES = 1 << 20

# layer name -> {argument: type}; the only layers a state-dict package may declare.
LAYERS: dict[str, dict[str, type]] = {
    "Linear": {"in_features": int, "out_features": int, "bias": bool},
    "ReLU": {},
    "LeakyReLU": {"negative_slope": float},
    "Tanh": {},
    "Sigmoid": {},
    "GELU": {},
    "Softmax": {"dim": int},
    "Dropout": {"p": float},
    "BatchNorm1d": {"num_features": int},
    "LayerNorm": {"normalized_shape": int},
    "Flatten": {},
    "Identity": {},
}


def _check_zip(data: bytes, fmt: str, name: str, limits: PackageLimits | None) -> None:
    refuse_unsafe(name, fmt, data)
    if not data.startswith(ZIP_MAGIC):
        raise ModelLoadError(f"model file {name!r}: not a zip-format torch file (re-save it "
                             "with a current torch, which writes zip archives)")
    read_archive(data, limits, what=f"model file {name!r}")


def _layer_args(layer: Mapping[str, Any], index: int) -> tuple[str, dict[str, Any]]:
    kind = layer.get("layer")
    if kind not in LAYERS:
        raise ModelLoadError(f"architecture[{index}]: layer {kind!r} is not one of "
                             f"{', '.join(LAYERS)}")
    spec = LAYERS[kind]
    args = {k: v for k, v in layer.items() if k != "layer"}
    for key, value in args.items():
        want = spec.get(key)
        if want is None:
            raise ModelLoadError(f"architecture[{index}] ({kind}): unknown argument {key!r}")
        ok = (isinstance(value, bool) if want is bool else
              isinstance(value, int) and not isinstance(value, bool) if want is int else
              isinstance(value, int | float) and not isinstance(value, bool))
        if not ok:
            raise ModelLoadError(f"architecture[{index}] ({kind}) {key}: expected "
                                 f"{want.__name__}, got {value!r}")
        if want is int and key != "dim" and not 1 <= value <= MAX_FEATURES:
            raise ModelLoadError(f"architecture[{index}] ({kind}) {key}: {value} is outside "
                                 f"1..{MAX_FEATURES}")
    return kind, args


def build_network(architecture: Sequence[Mapping[str, Any]]) -> Any:
    """An ``nn.Sequential`` on the meta device (no memory) from a layer list."""
    import torch

    layers = [_layer_args(layer, i) for i, layer in enumerate(architecture)]
    try:
        with torch.device("meta"):
            return torch.nn.Sequential(*(getattr(torch.nn, kind)(**args)
                                         for kind, args in layers))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"architecture: {exc}") from None


def architecture_of(module: Any) -> list[dict[str, Any]]:
    """The layer list of an ``nn.Sequential`` made only of `LAYERS`; else ModelLoadError."""
    import torch

    if not isinstance(module, torch.nn.Sequential):
        raise ModelLoadError("a torch-state-dict package needs an nn.Sequential; save other "
                             "modules as TorchScript")
    out: list[dict[str, Any]] = []
    for i, layer in enumerate(module):
        kind = type(layer).__name__
        if kind not in LAYERS or type(layer) is not getattr(torch.nn, kind):
            raise ModelLoadError(f"layer {i} ({kind}) is not one of {', '.join(LAYERS)}; "
                                 "save the model as TorchScript instead")
        args: dict[str, Any] = {"layer": kind}
        for key in LAYERS[kind]:
            value = getattr(layer, key)
            if key == "bias":
                value = value is not None
            elif key == "normalized_shape":
                (value,) = value
            args[key] = value
        out.append(args)
    return out


def dump_torchscript(module: Any, input_shape: Sequence[int]) -> bytes:
    """TorchScript bytes of a module: scripted if possible, else traced on zeros."""
    import torch

    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        if isinstance(module, torch.jit.ScriptModule):
            scripted = module
        else:
            try:
                scripted = torch.jit.script(module)
            except Exception:  # scripting fails on dynamic Python: fall back to tracing
                example = torch.zeros((2, *input_shape), dtype=torch.float32)
                scripted = torch.jit.trace(module, example)
        buf = io.BytesIO()
        torch.jit.save(scripted, buf)
    return buf.getvalue()


def dump_state_dict(module: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getvalue()


def load_torchscript(data: bytes, *, name: str = "model",
                     limits: PackageLimits | None = None) -> Any:
    import torch

    _check_zip(data, TORCHSCRIPT, name, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            return torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as exc:  # hostile archive: every failure is a refusal
        raise ModelLoadError(f"model file {name!r}: not a loadable TorchScript archive "
                             f"({type(exc).__name__}: {str(exc)[:300]})") from None


def load_state_dict(data: bytes, architecture: Sequence[Mapping[str, Any]], *,
                    name: str = "model", limits: PackageLimits | None = None) -> Any:
    import torch

    from engine.models.formats import TORCH_STATE_DICT

    _check_zip(data, TORCH_STATE_DICT, name, limits)
    network = build_network(architecture)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and containers
        raise ModelLoadError(f"model file {name!r}: refused by torch.load(weights_only=True) "
                             f"({type(exc).__name__}: {str(exc)[:300]})") from None
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ModelLoadError(f"model file {name!r}: expected a state dict of named tensors")
    try:
        network.load_state_dict(state, strict=True, assign=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"model file {name!r}: weights do not fit the architecture "
                             f"({str(exc)[:500]})") from None
    on_meta = [n for n, t in [*network.named_parameters(), *network.named_buffers()]
               if t.is_meta]
    if on_meta:
        raise ModelLoadError(f"model file {name!r}: no weights for {on_meta}")
    return network.eval()


class TorchModel:
    """A torch network as an `engine.learnware.Model` (a regressor or feature map).

    Parameters
    ----------
    module
        The loaded network (TorchScript or ``nn.Module``), put in eval mode.
    input_shape, output_shape
        Per-row shapes from the manifest; inputs are reshaped to ``(n, *input_shape)``
        and outputs to ``(n, *output_shape)``.
    """

    def __init__(self, module: Any, input_shape: Sequence[int],
                 output_shape: Sequence[int] = ()) -> None:
        self.module = module.eval()
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)

    def _forward(self, x: NDArray[Any]) -> NDArray[np.float64]:
        import torch

        arr = np.asarray(x, dtype=np.float32)
        try:
            arr = arr.reshape((len(arr), *self.input_shape))
        except ValueError:
            raise ModelLoadError(f"X: expected rows of shape {self.input_shape}, got array of "
                                 f"shape {arr.shape}") from None
        with torch.inference_mode():
            out = self.module(torch.from_numpy(arr))
        if not isinstance(out, torch.Tensor):
            raise ModelLoadError(f"the network returned {type(out).__name__}, not a tensor")
        return np.asarray(out.detach().cpu().numpy(), dtype=np.float64).reshape(len(arr), -1)

    def predict(self, x: NDArray[Any]) -> NDArray[Any]:
        out = self._forward(x)
        return out.reshape((len(out), *self.output_shape))


class TorchClassifier(TorchModel):
    """A torch classifier: output columns are `classes_`, as logits or probabilities."""

    def __init__(self, module: Any, input_shape: Sequence[int], classes: Sequence[Any],
                 output_kind: str = "logits") -> None:
        super().__init__(module, input_shape, ())
        self.classes_ = np.asarray(list(classes))
        self.output_kind = output_kind

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float64]:
        out = self._forward(x)
        if out.shape[1] != len(self.classes_):
            raise ModelLoadError(f"the network returned {out.shape[1]} columns for "
                                 f"{len(self.classes_)} classes")
        if self.output_kind == "logits":
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
        return out

    def predict(self, x: NDArray[Any]) -> NDArray[Any]:
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]
