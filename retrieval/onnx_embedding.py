"""ONNX Runtime document embedder for the packaged MiniLM, without torch.

The ONNX graph is written here from the model's safetensors weights (no torch export), using
ONNX Runtime's fused CPU kernels (Attention, SkipLayerNormalization, BiasGelu). It reproduces
the sentence-transformers pipeline (Transformer -> mean Pooling -> L2 Normalize): the fp32
graph gives the same vectors (cosine >= 0.999), so its vectors share the sentence-transformers
cache and indexes. The int8 variant (dynamic quantisation of the weights) is faster and keeps
retrieval recall, but its vectors are recorded under their own name.

A built graph is cached as `<cache_dir>/minilm-<weights digest>-<variant>.onnx`, so only the
first load of a given model converts (and quantises) it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Encoding

from retrieval.errors import EmbeddingError
from retrieval.fast_minilm import _ModelSpec, _read_spec, load_tokenizer, tokenize

logger = logging.getLogger(__name__)

FP32 = "fp32"
INT8 = "int8"
VARIANTS = (FP32, INT8)

_OPSET = 17
_GRAPH_FORMAT = "2"  # bump when the graph written below changes, so caches are rebuilt
# Sorted by length, texts go in batches of at most this many tokens (padding included):
# big enough for efficient matrix products, small enough to stay in cache.
_BATCH_TOKENS = 4096
_MAX_BATCH = 64

Matrix = NDArray[np.float32]


def weights_digest(model_dir: Path) -> str:
    """Digest of the weights, tokenizer and configs the graph is built from."""
    digest = hashlib.sha256(_GRAPH_FORMAT.encode())
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        with (model_dir / name).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _tensors(model_dir: Path) -> dict[str, Matrix]:
    path = model_dir / "model.safetensors"
    try:
        raw = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise EmbeddingError(f"cannot load weights from {path}: {exc}") from exc
    return {k.removeprefix("bert."): np.asarray(v, dtype=np.float32) for k, v in raw.items()}


class _GraphWriter:
    """Accumulates the nodes and weights of the encoder graph."""

    def __init__(self, tensors: dict[str, Matrix]) -> None:
        self._tensors = tensors
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def weight(self, name: str, transpose: bool = False) -> Matrix:
        try:
            value = self._tensors[name]
        except KeyError as exc:
            raise EmbeddingError(f"the weights have no tensor {name}") from exc
        return np.ascontiguousarray(value.T if transpose else value)

    def constant(self, name: str, value: NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(
        self, op: str, inputs: Sequence[str], domain: str = "", name: str = "", **attrs: Any
    ) -> str:
        from onnx import helper

        self._count += 1
        output = name or f"{op.lower()}_{self._count}"
        self.nodes.append(
            helper.make_node(
                op, list(inputs), [output], name=output, domain=domain or None, **attrs
            )
        )
        return output


def _embeddings(w: _GraphWriter, spec: _ModelSpec) -> str:
    """Word + position + token-type 0 embeddings, layer-normalised: (batch, length, hidden)."""
    # Single texts always have token type 0: its row is folded into the position table.
    positions = w.weight("embeddings.position_embeddings.weight")
    positions = positions + w.weight("embeddings.token_type_embeddings.weight")[0]
    words = w.node(
        "Gather",
        [w.constant("word_embeddings", w.weight("embeddings.word_embeddings.weight")), "input_ids"],
    )
    shape = w.node("Shape", ["input_ids"])
    length = w.node(
        "Slice",
        [
            shape,
            w.constant("one", np.array([1], dtype=np.int64)),
            w.constant("two", np.array([2], dtype=np.int64)),
        ],
    )
    zero = w.constant("zero", np.array([0], dtype=np.int64))
    position = w.node("Slice", [w.constant("position_embeddings", positions), zero, length, zero])
    summed = w.node("Add", [words, position])
    return w.node(
        "LayerNormalization",
        [
            summed,
            w.constant("emb_ln_w", w.weight("embeddings.LayerNorm.weight")),
            w.constant("emb_ln_b", w.weight("embeddings.LayerNorm.bias")),
        ],
        axis=-1,
        epsilon=spec.layer_norm_eps,
    )


def _layer(w: _GraphWriter, spec: _ModelSpec, i: int, x: str, mask: str) -> str:
    """One BERT encoder layer on (batch, length, hidden) with fused ONNX Runtime kernels."""
    p = f"encoder.layer.{i}."
    attn = p + "attention.self."
    qkv_w = np.concatenate(
        [w.weight(attn + n + ".weight", transpose=True) for n in ("query", "key", "value")], axis=1
    )
    qkv_b = np.concatenate([w.weight(attn + n + ".bias") for n in ("query", "key", "value")])
    ms = "com.microsoft"
    context = w.node(
        "Attention",
        [x, w.constant(f"l{i}_qkv_w", qkv_w), w.constant(f"l{i}_qkv_b", qkv_b), mask],
        domain=ms,
        num_heads=spec.num_heads,
    )
    projected = w.node(
        "MatMul",
        [context, w.constant(f"l{i}_ao_w", w.weight(p + "attention.output.dense.weight", True))],
    )
    x = _skip_layer_norm(w, spec, projected, x, p + "attention.output.", f"l{i}_a")
    inter = w.node(
        "MatMul",
        [x, w.constant(f"l{i}_in_w", w.weight(p + "intermediate.dense.weight", True))],
    )
    inter = w.node(
        "BiasGelu",
        [inter, w.constant(f"l{i}_in_b", w.weight(p + "intermediate.dense.bias"))],
        domain=ms,
    )
    out = w.node(
        "MatMul",
        [inter, w.constant(f"l{i}_out_w", w.weight(p + "output.dense.weight", True))],
        name=_ffn_out_name(i),
    )
    return _skip_layer_norm(w, spec, out, x, p + "output.", f"l{i}_o")


def _ffn_out_name(layer: int) -> str:
    return f"l{layer}_ffn_out"


def _skip_layer_norm(
    w: _GraphWriter, spec: _ModelSpec, projected: str, residual: str, prefix: str, name: str
) -> str:
    """LayerNorm(projected + bias + residual), one fused kernel."""
    return w.node(
        "SkipLayerNormalization",
        [
            projected,
            residual,
            w.constant(f"{name}_ln_w", w.weight(prefix + "LayerNorm.weight")),
            w.constant(f"{name}_ln_b", w.weight(prefix + "LayerNorm.bias")),
            w.constant(f"{name}_bias", w.weight(prefix + "dense.bias")),
        ],
        domain="com.microsoft",
        epsilon=spec.layer_norm_eps,
    )


def _pooling(w: _GraphWriter, x: str) -> str:
    """Mean of the unpadded token vectors, L2-normalised: (batch, hidden)."""
    mask = w.node("Cast", ["attention_mask"], to=1)  # float
    mask3 = w.node("Unsqueeze", [mask, w.constant("axis2", np.array([2], dtype=np.int64))])
    axis1 = w.constant("axis1", np.array([1], dtype=np.int64))
    summed = w.node("ReduceSum", [w.node("Mul", [x, mask3]), axis1], keepdims=0)
    counts = w.node("ReduceSum", [mask, axis1], keepdims=1)
    counts = w.node("Max", [counts, w.constant("tiny", np.array(1e-9, dtype=np.float32))])
    return w.node("LpNormalization", [w.node("Div", [summed, counts])], axis=1, p=2)


def build_graph(model_dir: Path) -> Any:
    """The fp32 ONNX model of the sentence-transformers pipeline stored in `model_dir`."""
    from onnx import TensorProto, helper

    spec = _read_spec(model_dir)
    if spec.hidden_act != "gelu":
        raise EmbeddingError(f"activation {spec.hidden_act!r} is not supported by the ONNX graph")
    w = _GraphWriter(_tensors(model_dir))
    x = _embeddings(w, spec)
    mask = w.node("Cast", ["attention_mask"], to=TensorProto.INT32)
    for i in range(spec.num_layers):
        x = _layer(w, spec, i, x, mask)
    pooled = _pooling(w, x)
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "length"])
        for name in ("input_ids", "attention_mask")
    ]
    output = helper.make_tensor_value_info(
        "sentence_embedding", TensorProto.FLOAT, ["batch", spec.hidden_size]
    )
    w.nodes.append(helper.make_node("Identity", [pooled], ["sentence_embedding"]))
    graph = helper.make_graph(w.nodes, "minilm", inputs, [output], w.initializers)
    opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="pilote-ia")


def _save_atomically(model: Any, path: Path) -> None:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".onnx-", dir=path.parent)
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _DropPreprocessAdvice(logging.Filter):
    """The quantiser advises pre-processing on the root logger at every run; not for users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


_ADVICE_FILTER = _DropPreprocessAdvice()


def _quiet_quantiser() -> None:
    root = logging.getLogger()
    if _ADVICE_FILTER not in root.filters:
        root.addFilter(_ADVICE_FILTER)


def _quantise(fp32_path: Path, path: Path, num_layers: int) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(prefix=".onnx-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        # shape inference cannot type the outputs of the fused (com.microsoft) kernels
        options = {"DefaultTensorType": TensorProto.FLOAT}
        _quiet_quantiser()
        # Dense layers only, one scale per output channel, and not the feed-forward output
        # (its GELU input has outliers that one activation scale per batch flattens): on
        # knowledge/ passages, mean cosine to fp32 0.9974 (min 0.994) instead of 0.9916
        # (min 0.981) with every product quantised, or 0.93 with one scale per matrix.
        # Quantising the attention's QKV projection too (QAttention, "Attention" below) runs
        # 1.3x faster but lost 1 to 3 questions of hybrid recall@5 (cosine 0.996, min 0.989).
        quantize_dynamic(
            fp32_path,
            tmp,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=[_ffn_out_name(i) for i in range(num_layers)],
            per_channel=True,
            extra_options=options,
        )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def graph_path(model_dir: Path, cache_dir: Path, variant: str) -> Path:
    """The cached ONNX file of `variant`, converted (and quantised) on first use."""
    if variant not in VARIANTS:
        raise EmbeddingError(f"unknown ONNX variant {variant!r}, expected one of {VARIANTS}")
    digest = weights_digest(model_dir)
    fp32 = cache_dir / f"minilm-{digest}-{FP32}.onnx"
    if not fp32.is_file():
        logger.info("converting %s to ONNX in %s", model_dir, fp32)
        _save_atomically(build_graph(model_dir), fp32)
    if variant == FP32:
        return fp32
    int8 = cache_dir / f"minilm-{digest}-{INT8}.onnx"
    if not int8.is_file():
        logger.info("quantising %s to int8", fp32)
        _quantise(fp32, int8, _read_spec(model_dir).num_layers)
    return int8


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise EmbeddingError(f"cannot load the ONNX graph {path}: {exc}") from exc


def length_batches(lengths: Sequence[int], max_tokens: int, max_batch: int) -> Iterator[list[int]]:
    """Indices grouped by similar length, each group padded to at most `max_tokens` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for index in order:
        # sorted ascending, so the newest text is the longest of the batch
        if batch and ((len(batch) + 1) * lengths[index] > max_tokens or len(batch) == max_batch):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


class OnnxMiniLMEmbedder:
    """Document embedder running the MiniLM graph on ONNX Runtime (both cores)."""

    def __init__(
        self,
        model_dir: Path,
        *,
        model_name: str,
        cache_dir: Path,
        variant: str = FP32,
        threads: int | None = None,
    ) -> None:
        model_dir = Path(model_dir)
        self._spec = _read_spec(model_dir)
        self.model_name = model_name
        self.dimension = self._spec.hidden_size
        self.variant = variant
        self.threads = threads or os.cpu_count() or 1
        self._tokenizer = load_tokenizer(model_dir / "tokenizer.json", self._spec)
        path = graph_path(model_dir, Path(cache_dir), variant)
        self._session = _session(path, self.threads)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts into a float32 (n, dimension) array, L2-normalised."""
        encodings = tokenize(self._tokenizer, self._spec, texts)
        result = np.zeros((len(encodings), self.dimension), dtype=np.float32)
        lengths = [len(e.ids) for e in encodings]
        for batch in length_batches(lengths, _BATCH_TOKENS, _MAX_BATCH):
            result[batch] = self.run([encodings[i] for i in batch])
        return result

    def run(self, encodings: Sequence[Encoding]) -> Matrix:
        """Vectors of one batch of tokenised texts, padded to the longest."""
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        (vectors,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(vectors, dtype=np.float32)
