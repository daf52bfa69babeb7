"""Read knowledge fiches and user documents into Fiche objects."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from retrieval.errors import KnowledgeBaseError
from retrieval.models import Fiche
from retrieval.text import fold
from retrieval.vocabulary import (
    FICHE_TYPES,
    TYPE_PREFIXES,
    USER_DOC_TYPE,
    VOCABULARY_FILE,
    load_domain_vocabulary,
)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
_SKIPPED_DIRS = ("eval",)
_SKIPPED_NAMES = ("README.md",)
_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def load_fiches(knowledge_dir: Path) -> tuple[list[Fiche], list[KnowledgeBaseError]]:
    """Load every fiche under `knowledge_dir` (eval/ and README.md skipped); collect errors."""
    fiches: list[Fiche] = []
    errors: list[KnowledgeBaseError] = []
    for item in iter_fiches(knowledge_dir):
        if isinstance(item, KnowledgeBaseError):
            errors.append(item)
        else:
            fiches.append(item)
    return fiches, errors


def iter_fiches(knowledge_dir: Path) -> Iterator[Fiche | KnowledgeBaseError]:
    """The fiches of `knowledge_dir` read one at a time, each unreadable one as its error."""
    try:
        sectors = load_domain_vocabulary(knowledge_dir).sector_codes
    except ValueError as exc:
        yield KnowledgeBaseError(str(knowledge_dir / VOCABULARY_FILE), str(exc))
        return
    seen: dict[str, str] = {}
    for path in _fiche_paths(knowledge_dir):
        try:
            fiche = load_document(path)
            if fiche.type == USER_DOC_TYPE:
                raise KnowledgeBaseError(str(path), "en-tête YAML absent (--- ... ---)")
            _check_sectors(fiche, sectors)
            if fiche.id in seen:
                raise KnowledgeBaseError(
                    str(path), f"identifiant « {fiche.id} » déjà utilisé par {seen[fiche.id]}"
                )
        except KnowledgeBaseError as exc:
            yield exc
            continue
        seen[fiche.id] = str(path)
        yield fiche


def _check_sectors(fiche: Fiche, known: tuple[str, ...]) -> None:
    """A fiche names only the sectors its base's vocabulary declares."""
    unknown = [str(s) for s in fiche.meta.get("sectors") or [] if s not in known]
    if unknown:
        raise KnowledgeBaseError(
            fiche.path, f"secteur inconnu : {', '.join(unknown)} ({VOCABULARY_FILE}, sectors)"
        )


def supported_files(directory: Path) -> list[Path]:
    """Readable documents under a user directory, sorted, hidden files skipped."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def _fiche_paths(knowledge_dir: Path) -> list[Path]:
    return [
        p
        for p in sorted(knowledge_dir.rglob("*.md"))
        if p.name not in _SKIPPED_NAMES
        and not any(part in _SKIPPED_DIRS for part in p.relative_to(knowledge_dir).parts[:-1])
    ]


def load_document(path: Path) -> Fiche:
    """Read one document (.md with optional front matter, .txt, .html/.htm, .pdf)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise KnowledgeBaseError(
            str(path),
            f"format « {suffix or 'sans extension'} » non pris en charge (md, txt, html, pdf)",
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KnowledgeBaseError(str(path), f"lecture impossible ({exc.strerror})") from exc
    content_hash = hashlib.sha256(raw).hexdigest()
    if suffix == ".pdf":
        title, body = _read_pdf(path, raw)
        return _user_doc(path, title, body, content_hash)
    text = _decode(raw)
    if suffix in (".html", ".htm"):
        title, body = _html_to_markdown(text)
        return _user_doc(path, title or _title_from_name(path), body, content_hash)
    if suffix == ".txt":
        return _user_doc(path, _title_from_name(path), text, content_hash)
    return _markdown(path, text, content_hash)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Text files saved by Windows tools are often cp1252.
        return raw.decode("cp1252", errors="replace")


def _title_from_name(path: Path) -> str:
    words = re.sub(r"[-_]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


def _user_doc(path: Path, title: str, body: str, content_hash: str) -> Fiche:
    if not body.strip():
        raise KnowledgeBaseError(str(path), "aucun texte lisible dans le document")
    slug = re.sub(r"[^a-z0-9]+", "-", fold(path.stem)).strip("-") or "document"
    meta = {"title": title, "type": USER_DOC_TYPE, "sectors": ["tous"], "source": str(path)}
    return Fiche(
        id=f"doc-{slug}",
        title=title,
        type=USER_DOC_TYPE,
        body=body,
        path=str(path),
        content_hash=content_hash,
        meta=meta,
    )


def _markdown(path: Path, text: str, content_hash: str) -> Fiche:
    match = _FRONT_MATTER.match(text)
    if match is None:
        if text.lstrip().startswith("---"):
            raise KnowledgeBaseError(str(path), "en-tête YAML non fermé (--- manquant)")
        heading = _H1.search(text)
        title = heading.group(1) if heading else _title_from_name(path)
        return _user_doc(path, title, text, content_hash)
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (ligne {mark.line + 2})" if mark is not None else ""
        raise KnowledgeBaseError(str(path), f"en-tête YAML illisible{where}") from exc
    if not isinstance(meta, dict):
        raise KnowledgeBaseError(
            str(path), "l'en-tête YAML doit être une liste de champs clé: valeur"
        )
    meta = {str(k): _plain(v) for k, v in meta.items()}
    body = text[match.end() :]
    _check_meta(path, meta)
    return Fiche(
        id=str(meta["id"]),
        title=str(meta["title"]).strip(),
        type=str(meta["type"]),
        body=body,
        path=str(path),
        content_hash=content_hash,
        meta=meta,
    )


def _plain(value: Any) -> Any:
    """YAML dates become ISO strings so metadata stays JSON-friendly."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    """Check the fields retrieval relies on; other content rules live in the knowledge tests."""
    name = str(path)
    for key in ("id", "title", "type"):
        if not meta.get(key) or not isinstance(meta[key], str):
            raise KnowledgeBaseError(name, f"champ « {key} » manquant ou vide dans l'en-tête")
    fiche_id, fiche_type = meta["id"], meta["type"]
    if fiche_type not in FICHE_TYPES:
        raise KnowledgeBaseError(
            name, f"type « {fiche_type} » inconnu (attendu : {', '.join(FICHE_TYPES)})"
        )
    if not _ID_PATTERN.match(fiche_id) or not fiche_id.startswith(TYPE_PREFIXES[fiche_type]):
        raise KnowledgeBaseError(
            name,
            f"identifiant « {fiche_id} » invalide (minuscules, "
            f"chiffres et tirets, préfixe « {TYPE_PREFIXES[fiche_type]} »)",
        )
    sectors = meta.get("sectors") or []
    if not isinstance(sectors, list):
        raise KnowledgeBaseError(name, "« sectors » doit être une liste")
    if fiche_type == "tool":
        price = meta.get("price_eur_month")
        if price is None and isinstance(meta.get("price_unknown"), str):
            return  # no published price: said so, never guessed
        if not isinstance(price, dict) or not all(
            isinstance(price.get(k), int | float) and not isinstance(price.get(k), bool)
            for k in ("min", "max")
        ):
            raise KnowledgeBaseError(
                name,
                "« price_eur_month » doit donner min et max en euros "
                "(ou valoir null avec « price_unknown » : sur devis, non publié)",
            )


class _HTMLText(HTMLParser):
    """Collect visible text, turning h1 into the title and h2/h3 into `##` headings."""

    _SKIP = {"script", "style", "noscript", "template", "head"}
    _BLOCKS = {
        "p",
        "div",
        "li",
        "br",
        "tr",
        "section",
        "article",
        "ul",
        "ol",
        "table",
        "blockquote",
        "pre",
    }
    # what a tag writes where it opens and where it closes (other blocks open a paragraph)
    _OPENING = {"h1": "\n\n", "h2": "\n\n## ", "h3": "\n\n## ", "li": "\n- "}
    _CLOSING = {"h1": "\n\n", "h2": "\n\n", "h3": "\n\n"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip_depth = 0
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._track(tag, opening=True)
        if tag in self._OPENING:
            self.parts.append(self._OPENING[tag])
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        self._track(tag, opening=False)
        if tag in self._CLOSING:
            self.parts.append(self._CLOSING[tag])

    def _track(self, tag: str, *, opening: bool) -> None:
        """Follow the elements whose text is not body text: skipped ones, title, h1."""
        if tag in self._SKIP:
            self._skip_depth = self._skip_depth + 1 if opening else max(0, self._skip_depth - 1)
        if tag == "title":
            self._in_title = opening
        elif tag == "h1":
            self._in_h1 = opening

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = self.title or data.strip()
            return
        if self._skip_depth:
            return
        if self._in_h1 and not self.title:
            self.title = data.strip()
        self.parts.append(re.sub(r"\s+", " ", data))


def _html_to_markdown(text: str) -> tuple[str, str]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    body = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts))
    body = "\n".join(line.strip() for line in body.splitlines())
    return parser.title, body.strip()


def _read_pdf(path: Path, raw: bytes) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
        info_title = reader.metadata.title if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise KnowledgeBaseError(str(path), "PDF illisible ou endommagé") from exc
    body = "\n\n".join(p.strip() for p in pages if p.strip())
    return (str(info_title).strip() if info_title else _title_from_name(path)), body
