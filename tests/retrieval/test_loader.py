"""Loading fiches and user documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import load_document, load_fiches
from retrieval.errors import KnowledgeBaseError
from tests.retrieval.conftest import FIXTURES


def test_load_fiches_reads_front_matter_and_skips_eval_and_readme(knowledge_dir: Path) -> None:
    fiches, errors = load_fiches(knowledge_dir)
    assert errors == []
    ids = {f.id for f in fiches}
    assert len(ids) == 7
    assert "tool-factures-express" in ids
    tool = next(f for f in fiches if f.id == "tool-factures-express")
    assert tool.type == "tool"
    assert tool.title == "Factures Express"
    assert tool.meta["price_eur_month"] == {"min": 15, "max": 40}
    assert tool.meta["as_of"] == "2026-10-01"  # YAML date turned into an ISO string
    assert tool.sectors == ("tous",)
    assert "## Prix" in tool.body and "---" not in tool.body.splitlines()[0]
    assert len(tool.content_hash) == 64


def test_broken_front_matter_names_the_file_and_the_rest_loads(knowledge_dir: Path) -> None:
    broken = knowledge_dir / "tools" / "tool-casse.md"
    broken.write_text(
        (FIXTURES / "broken" / "tool-casse.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    fiches, errors = load_fiches(knowledge_dir)
    assert len(fiches) == 7
    assert len(errors) == 1
    assert errors[0].path == str(broken)
    assert "YAML" in errors[0].problem
    assert "tool-casse.md" in str(errors[0])


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        ("id: tool-x\ntitle: X\ntype: robot\n", "type « robot » inconnu"),
        ("title: X\ntype: tool\n", "champ « id »"),
        ("id: guide-x\ntitle: X\ntype: tool\n", "préfixe « tool- »"),
        ("id: guide-x\ntitle: X\ntype: guide\nsectors: boulangerie\n", "« sectors » doit"),
        ("id: tool-x\ntitle: X\ntype: tool\nprice_eur_month: gratuit\n", "price_eur_month"),
        ("- une\n- liste\n", "clé: valeur"),
    ],
)
def test_invalid_front_matter_is_explained(tmp_path: Path, front: str, expected: str) -> None:
    path = tmp_path / "fiche.md"
    path.write_text(f"---\n{front}---\n# X\n\nTexte.\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as info:
        load_document(path)
    assert expected in info.value.problem
    assert info.value.path == str(path)


def test_unclosed_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "fiche.md"
    path.write_text("---\nid: tool-x\ntitle: X\n# X\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="non fermé"):
        load_document(path)


def test_markdown_without_front_matter_is_a_user_document(tmp_path: Path) -> None:
    path = tmp_path / "Notes réunion.md"
    path.write_text(
        "# Compte rendu du 3 mars\n\n## Décisions\n\nEssayer un assistant.\n", encoding="utf-8"
    )
    doc = load_document(path)
    assert doc.id == "doc-notes-reunion"
    assert doc.type == "doc"
    assert doc.title == "Compte rendu du 3 mars"
    assert doc.sectors == ("tous",)


def test_text_file_in_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "tarifs_2026.txt"
    path.write_bytes("Tarifs négociés avec le fournisseur.".encode("cp1252"))
    doc = load_document(path)
    assert doc.title == "Tarifs 2026"
    assert "négociés" in doc.body


def test_html_keeps_text_and_headings_drops_scripts(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Offre IA</title><style>p{color:red}</style></head><body>"
        "<h1>Offre</h1><p>Un assistant pour les devis.</p><script>alert(1)</script>"
        "<h2>Prix</h2><ul><li>Base : 10 &euro;</li><li>Pro : 30 &euro;</li></ul></body></html>",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.title == "Offre IA"
    assert "## Prix" in doc.body
    assert "10 €" in doc.body
    assert "alert" not in doc.body and "color" not in doc.body


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF whose content stream shows `text` (ASCII) in Helvetica."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    path = tmp_path / "plaquette.pdf"
    path.write_bytes(_minimal_pdf("Devis automatiques pour artisans"))
    doc = load_document(path)
    assert "Devis automatiques pour artisans" in doc.body
    assert doc.id == "doc-plaquette"


def test_corrupt_pdf_and_unknown_format_are_errors(tmp_path: Path) -> None:
    pdf = tmp_path / "abime.pdf"
    pdf.write_bytes(b"%PDF-1.4\nn'importe quoi")
    with pytest.raises(KnowledgeBaseError, match="PDF"):
        load_document(pdf)
    docx = tmp_path / "note.docx"
    docx.write_bytes(b"PK")
    with pytest.raises(KnowledgeBaseError, match="non pris en charge"):
        load_document(docx)


def test_empty_document_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "vide.txt"
    path.write_text("  \n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="aucun texte"):
        load_document(path)
