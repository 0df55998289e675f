"""The documents the code cites live in the repository and say what they are cited for
(issue 13 bullet 8): `docs/contracts.md` and `docs/payment-rules.md`, copies of the shared
specification kept in step, and every `contracts §N` / `payment-rules §N` citation in code,
docs, policies and templates names a section those files have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CITED = {"contracts": ROOT / "docs" / "contracts.md",
         "payment-rules": ROOT / "docs" / "payment-rules.md"}
SHARED = ROOT.parent / "shared" / "docs"  # the specification the project was given
SECTION = r"\d+(?:\.\d+)?"
CITATION = re.compile(
    rf"\b(contracts|payment-rules)(?:\.md)?(?:'s conventions)?\)?"
    rf"((?:[\s,;]*(?:and\s+)?§{SECTION}(?:\s*[–-]\s*§?{SECTION})?)+)")
SOURCES = ("*.py", "*.md", "*.toml", "*.j2")
SKIP = {"tests/data", ".git", "docs/contracts.md", "docs/payment-rules.md"}


def _sections(doc: Path) -> set[str]:
    """Section numbers of a document's headings (`## 2. DRG`, `### 2.6 Per diem`)."""
    heads = re.findall(rf"^#+\s+({SECTION})\.?\s", doc.read_text(encoding="utf-8"), re.MULTILINE)
    return set(heads)


def _citations() -> list[tuple[str, str, str]]:
    found = []
    for pattern in SOURCES:
        for path in ROOT.rglob(pattern):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel == s or rel.startswith(s + "/") for s in SKIP):
                continue
            for m in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
                for number in re.findall(SECTION, m.group(2)):
                    found.append((rel, m.group(1), number))
    return found


def test_the_cited_documents_are_in_the_repository() -> None:
    for doc in CITED.values():
        assert doc.is_file(), doc
        assert len(_sections(doc)) >= 5, doc


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared specification is not beside the repo")
def test_the_copies_are_in_step_with_the_shared_specification() -> None:
    for doc in CITED.values():
        assert doc.read_bytes() == (SHARED / doc.name).read_bytes(), (
            f"{doc.name} differs from {SHARED / doc.name}: copy it again")


def test_every_citation_names_a_section_that_exists() -> None:
    citations = _citations()
    assert len(citations) > 50  # the code does cite them: the pattern still finds them
    sections = {name: _sections(doc) for name, doc in CITED.items()}
    wrong = [f"{rel}: {name} §{n}" for rel, name, n in citations if n not in sections[name]]
    assert not wrong, "citations of sections that do not exist:\n" + "\n".join(wrong)


def test_docs_cite_the_files_by_their_path() -> None:
    """User-facing pages name the file (`docs/payment-rules.md §4`), not a bare `payment-rules`."""
    bare = []
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        if page in CITED.values():
            continue
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"(?<![/\w])(contracts|payment-rules)(?:\.md\b|(?= §\d))", text):
            bare.append(f"{page.name}: …{text[max(0, m.start() - 20):m.end() + 10]}…")
    assert not bare, "\n".join(bare)
