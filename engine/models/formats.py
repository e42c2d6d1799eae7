"""Model file formats a package may declare, and the ones refused on sight.

Only formats that load without running arbitrary code are accepted; "code" models
run only in the sandbox. Pickle and joblib are refused with a message that says how
to convert, because the developer usually holds such a file already.
"""

from __future__ import annotations

from engine.errors import ModelLoadError

SKOPS = "sklearn-skops"
TORCHSCRIPT = "torchscript"
TORCH_STATE_DICT = "torch-state-dict"
CODE = "code"
MODEL_FORMATS = (SKOPS, TORCHSCRIPT, TORCH_STATE_DICT, CODE)

UNSAFE_FORMATS = ("pickle", "joblib", "dill", "cloudpickle")
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".sav")

CONVERT_HINT = (
    "Pickle and joblib files run arbitrary code when loaded, so they are refused. "
    "Convert the model where you trust the file: for scikit-learn, "
    "`import joblib, skops.io; skops.io.dump(joblib.load('model.pkl'), 'model.skops')` "
    "and declare format = \"sklearn-skops\" (or pass the fitted estimator to "
    "engine.package.build); for torch, save a TorchScript module "
    "(`torch.jit.save(torch.jit.script(model), 'model.pt')`, format = \"torchscript\") or "
    "a state dict (`torch.save(model.state_dict(), 'weights.pt')`, format = "
    "\"torch-state-dict\")."
)

_PICKLE_PROTOCOLS = range(2, 6)
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18", b"ZF")


def looks_like_pickle(data: bytes) -> bool:
    """True if `data` starts like a pickle (protocol 2-5) or a joblib-compressed one.

    Checked before any loader sees a file, so a pickle hidden under another
    format's name is refused with the conversion hint instead of a parse error.
    Compressed streams count as joblib since no accepted format is one.
    """
    if len(data) >= 2 and data[0] == 0x80 and data[1] in _PICKLE_PROTOCOLS:
        return True
    return data.startswith(_COMPRESSED_MAGIC)


def refuse_unsafe(name: str, fmt: str, data: bytes | None = None) -> None:
    """Raise `ModelLoadError` with the conversion hint if the file is pickle-like."""
    reason = ""
    if fmt.lower() in UNSAFE_FORMATS:
        reason = f"declared format {fmt!r}"
    elif name.lower().endswith(UNSAFE_SUFFIXES):
        reason = "a pickle/joblib file name"
    elif data is not None and looks_like_pickle(data):
        reason = "pickle or joblib content"
    if reason:
        raise ModelLoadError(f"model file {name!r}: {reason}. {CONVERT_HINT}")
