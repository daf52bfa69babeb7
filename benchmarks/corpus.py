"""A synthetic French corpus of SME-advice passages for search benchmarks (deterministic).

Passages are built from a pool of template sentences (businesses, tasks, tools, prices,
pilot steps, regulation); each document is a Markdown note with five `##` sections, and each
section becomes exactly one chunk of the real chunker. Embedding 100k passages with the real
model would take hours on two cores, so a chunk's vector is the normalised mean of the real
model's vectors of its title, heading and sentences (the pool is embedded once). Queries are
not synthetic vectors: they go through the real query embedder at search time.

    .venv/bin/python benchmarks/corpus.py 1000   # writes benchmarks/out/corpus-1000/
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

OUT = Path(__file__).resolve().parent / "out"
SEED = 20240611
SECTIONS_PER_DOC = 5
_SECTION_WORDS = 80

BUSINESSES = [
    "une boulangerie de quartier",
    "un garage automobile",
    "un cabinet d'expertise comptable",
    "une agence immobilière",
    "un salon de coiffure",
    "une entreprise de plomberie",
    "un restaurant traditionnel",
    "une boutique de vêtements en ligne",
    "un cabinet d'avocats",
    "une pharmacie",
    "une auto-école",
    "un cabinet de kinésithérapie",
    "une PME du bâtiment",
    "une agence de voyages",
    "un fleuriste",
    "une librairie indépendante",
    "un hôtel familial",
    "une entreprise de nettoyage",
    "un atelier de menuiserie",
    "une crèche privée",
    "un cabinet d'architectes",
    "une épicerie fine",
    "un traiteur",
    "une salle de sport",
    "un opticien",
    "une société de transport",
    "un bureau d'études",
    "une ferme en vente directe",
    "un cabinet dentaire",
    "une agence de communication",
]
TASKS = [
    "la rédaction des devis",
    "la relance des factures impayées",
    "la prise de rendez-vous",
    "les réponses aux avis Google",
    "la gestion des commandes WhatsApp",
    "la saisie des factures fournisseurs",
    "la publication sur les réseaux sociaux",
    "le suivi des stocks",
    "la rédaction des fiches produits",
    "le tri des courriels",
    "la préparation des plannings",
    "le compte rendu des réunions",
    "la traduction des menus",
    "les réponses aux questions fréquentes",
    "la veille sur les appels d'offres",
    "la transcription des messages vocaux",
    "la création de visuels promotionnels",
    "le rapprochement bancaire",
    "l'accueil téléphonique",
    "la préparation des newsletters",
]
TOOLS = [
    ("Le Chat de Mistral", 15),
    ("ChatGPT Plus", 23),
    ("Claude Pro", 22),
    ("Microsoft Copilot", 21),
    ("Gemini", 22),
    ("Canva", 12),
    ("Make", 10),
    ("Zapier", 20),
    ("Brevo", 9),
    ("Pennylane", 49),
    ("Qonto", 11),
    ("Agicap", 99),
    ("Calendly", 10),
    ("Planity", 39),
    ("HubSpot", 20),
    ("Notion AI", 10),
    ("Otter", 17),
    ("DeepL Pro", 9),
    ("Whisper", 0),
    ("Ollama", 0),
]
PEOPLE = [
    "la gérante",
    "le patron",
    "l'assistante administrative",
    "le chef d'atelier",
    "la responsable commerciale",
    "le comptable",
    "l'apprenti",
    "la secrétaire médicale",
    "le responsable des achats",
    "l'équipe d'accueil",
]
KPIS = [
    "le temps passé par devis",
    "le délai moyen de réponse aux clients",
    "le nombre de rendez-vous manqués",
    "le taux de factures payées à l'échéance",
    "le nombre d'avis clients traités",
    "le panier moyen",
    "le nombre d'erreurs de saisie",
    "les heures administratives par semaine",
    "le taux de transformation des devis",
    "la satisfaction des clients",
]
RULES = [
    "informer les clients qu'ils échangent avec une IA",
    "ne pas transmettre de données de santé à un service non hébergé en Europe",
    "tenir un registre des traitements de données personnelles",
    "vérifier la durée de conservation des conversations",
    "relire toute réponse avant un engagement contractuel",
    "désactiver l'entraînement sur vos données dans les réglages",
    "signer un accord de traitement des données avec le fournisseur",
    "limiter l'accès aux documents sensibles",
]
AIDS = [
    "le chèque numérique de la région",
    "le diagnostic IA de Bpifrance",
    "l'accompagnement de la CCI",
    "le programme IA Booster",
    "les formations financées par l'OPCO",
]
HEADINGS = [
    "Le problème",
    "La solution retenue",
    "Les coûts",
    "Le pilote de deux semaines",
    "Les résultats",
    "Les précautions",
    "Pour aller plus loin",
    "Le point de départ",
    "Ce qui a changé",
    "Les limites",
]

_TEMPLATES = [
    "Dans {business}, {task} prend environ {hours} heures par semaine à {person}.",
    "Chez {business}, {person} passait chaque soir sur {task}.",
    "Avec {tool}, facturé {price} € par mois, {task} se fait en quelques minutes.",
    "{tool} coûte {price} € par mois et par utilisateur, sans engagement.",
    "Avant le pilote, mesurez {kpi} pendant une semaine normale.",
    "Au bout de deux semaines, comparez {kpi} avec la mesure de départ.",
    "Le pilote vise {task} uniquement, sur un périmètre de {hours} clients au plus.",
    "Pour rester conforme, pensez à {rule}.",
    "Le RGPD impose de {rule} lorsque l'outil traite des données de clients.",
    "{aid_cap} peut financer une partie de l'accompagnement pour {business}.",
    "Le gain observé chez {business} : {percent} % de temps en moins sur {task}.",
    "Décision au jour 14 : on continue si {kpi} s'améliore d'au moins {percent} %.",
    "Un budget de {price} € par mois suffit pour tester {tool} sur {task}.",
    "{person_cap} relit chaque brouillon proposé par {tool} avant l'envoi.",
    "Les premiers jours, {task} demande un peu plus de temps, le temps de régler les consignes.",
]


@dataclass(frozen=True)
class Corpus:
    """A generated corpus on disk: documents, and per chunk heading the pool rows it mixes."""

    directory: Path
    docs_dir: Path
    n_chunks: int
    pool: list[str]
    # "doc stem|heading" -> indices of title, heading and sentences in `pool`
    parts: dict[str, list[int]]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def sentence_pool(seed: int = SEED, size: int = 3000) -> list[str]:
    """Distinct French sentences from the templates (deterministic)."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < size:
        tool, price = rng.choice(TOOLS)
        person = rng.choice(PEOPLE)
        sentence = rng.choice(_TEMPLATES).format(
            business=rng.choice(BUSINESSES),
            task=rng.choice(TASKS),
            tool=tool,
            price=price or rng.choice((5, 8, 12)),
            person=person,
            person_cap=_cap(person),
            kpi=rng.choice(KPIS),
            rule=rng.choice(RULES),
            aid_cap=_cap(rng.choice(AIDS)),
            hours=rng.randint(2, 15),
            percent=rng.choice((10, 15, 20, 25, 30, 40)),
        )
        seen[sentence] = None
    return list(seen)


def titles() -> list[str]:
    """Document titles: a business and a task."""
    return [f"{_cap(b)} : {t}" for b in BUSINESSES for t in TASKS]


def generate(n_chunks: int, seed: int = SEED) -> Corpus:
    """Write (once) `n_chunks` sections as Markdown notes under benchmarks/out/corpus-N/."""
    directory = OUT / f"corpus-{n_chunks}"
    docs_dir = directory / "docs"
    meta_file = directory / "parts.json"
    sentences = sentence_pool(seed)
    all_titles = titles()
    pool = all_titles + HEADINGS + sentences
    if meta_file.is_file():
        parts = json.loads(meta_file.read_text(encoding="utf-8"))
        return Corpus(directory, docs_dir, n_chunks, pool, parts)
    rng = random.Random(seed + n_chunks)
    docs_dir.mkdir(parents=True, exist_ok=True)
    parts = {}
    first_sentence = len(all_titles) + len(HEADINGS)
    for doc in range((n_chunks + SECTIONS_PER_DOC - 1) // SECTIONS_PER_DOC):
        title_row = rng.randrange(len(all_titles))
        stem = f"note-{doc:06d}"
        count = min(SECTIONS_PER_DOC, n_chunks - doc * SECTIONS_PER_DOC)
        lines = [f"# {all_titles[title_row]}", ""]
        for heading_row in rng.sample(range(len(HEADINGS)), count):
            rows = [
                first_sentence + rng.randrange(len(sentences)) for _ in range(rng.randint(3, 5))
            ]
            while len(rows) > 1 and sum(len(pool[r].split()) for r in rows) > _SECTION_WORDS:
                rows.pop()  # one section must stay one chunk of the real chunker
            lines += [f"## {HEADINGS[heading_row]}", "", " ".join(pool[r] for r in rows), ""]
            parts[f"{stem}|{HEADINGS[heading_row]}"] = [
                title_row,
                len(all_titles) + heading_row,
                *rows,
            ]
        (docs_dir / f"{stem}.md").write_text("\n".join(lines), encoding="utf-8")
    meta_file.write_text(json.dumps(parts), encoding="utf-8")
    return Corpus(directory, docs_dir, n_chunks, pool, parts)


def pool_vectors(pool: Sequence[str], model: str) -> NDArray[np.float32]:
    """Real-model vectors of the pool, computed once and cached under benchmarks/out/."""
    digest = hashlib.sha256("\n".join([model, *pool]).encode()).hexdigest()[:16]
    path = OUT / f"pool-{digest}.npy"
    if path.is_file():
        loaded: NDArray[np.float32] = np.load(path)
        return loaded
    from retrieval.embedding import load_embedder

    vectors: NDArray[np.float32] = load_embedder(model).encode(list(pool))
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def chunk_vector(pool_vecs: NDArray[np.float32], rows: Sequence[int]) -> NDArray[np.float32]:
    """Normalised mean of the pool vectors of a chunk's title, heading and sentences."""
    mean = pool_vecs[list(rows)].mean(axis=0)
    out: NDArray[np.float32] = (mean / np.linalg.norm(mean)).astype(np.float32)
    return out


def build_index(corpus: Corpus, model: str) -> Path:
    """Index the corpus through the real ingest (vectors pre-seeded in the embedding cache).

    Returns the index directory; built once and reused while `ready.json` says it is complete.
    """
    from retrieval import open_knowledge_base
    from retrieval.chunker import chunk_fiche
    from retrieval.embed_cache import VectorCache, text_key
    from retrieval.lexical import StoredChunk
    from retrieval.loader import load_document

    index_dir = corpus.directory / "index"
    ready = corpus.directory / "ready.json"
    if ready.is_file():
        return index_dir
    pool_vecs = pool_vectors(corpus.pool, model)
    keys, vectors = [], []
    for path in sorted(corpus.docs_dir.glob("*.md")):
        for chunk in chunk_fiche(load_document(path)):
            rows = corpus.parts[f"{path.stem}|{chunk.heading}"]
            text = StoredChunk(chunk.id, chunk.text, dict(chunk.metadata)).indexed_text()
            keys.append(text_key(text))
            vectors.append(chunk_vector(pool_vecs, rows))
    assert len(keys) == corpus.n_chunks, (len(keys), corpus.n_chunks)
    cache = VectorCache(index_dir / "embeddings.sqlite3")
    cache.put_many(model, keys, np.stack(vectors))
    cache.close()
    empty = corpus.directory / "no-fiches"
    empty.mkdir(exist_ok=True)
    kb = open_knowledge_base(index_dir=index_dir, knowledge_dir=empty, embedding_model=model)
    try:
        report = kb.ingest([corpus.docs_dir], progress=False)
    finally:
        kb.close()
    assert report.chunks == report.cached_chunks == corpus.n_chunks, report
    ready.write_text(json.dumps({"chunks": report.chunks, "seconds": report.seconds}))
    return index_dir


def queries(n: int = 200, seed: int = SEED) -> list[str]:
    """Distinct French owner questions in the corpus' domain (not from the sentence pool)."""
    rng = random.Random(seed - 1)
    forms = [
        "Je gère {business}, comment gagner du temps sur {task} ?",
        "Quel outil d'IA pour {task} à moins de {price} € par mois ?",
        "Combien coûte {tool} pour {business} ?",
        "Comment mesurer {kpi} pendant un pilote de deux semaines ?",
        "Est-ce que je dois {rule} si j'utilise un chatbot ?",
        "Quelle aide publique pour équiper {business} en IA ?",
    ]
    out: dict[str, None] = {}
    while len(out) < n:
        tool, price = rng.choice(TOOLS)
        out[
            rng.choice(forms).format(
                business=rng.choice(BUSINESSES),
                task=rng.choice(TASKS),
                tool=tool,
                price=max(price, 10),
                kpi=rng.choice(KPIS),
                rule=rng.choice(RULES),
            )
        ] = None
    return list(out)


if __name__ == "__main__":
    built = generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
    print(f"{len(built.parts)} sections in {built.docs_dir}")
