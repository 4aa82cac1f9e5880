"""The documentation's links hold: every relative link in README.md and docs/*.md names a file
that exists, every ``#anchor`` is a heading of its target (as GitHub spells heading anchors),
every page of docs/ is linked from the README, and prose stays within the project's 99
columns (tables and code blocks are left alone: a table row cannot wrap, and a command or an
error message is shown as typed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`[^`]*`")
MAX_COLUMNS = 99


def unfenced(text: str) -> str:
    """``text`` with its fenced code blocks blanked, the line count kept."""
    lines, fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fence = not fence
            lines.append("")
        else:
            lines.append("" if fence else line)
    return "\n".join(lines)


def prose(text: str) -> str:
    """``text`` without code: fenced blocks blanked, code spans removed."""
    return CODE_SPAN.sub("", unfenced(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, without punctuation
    other than ``-`` and ``_``, spaces as ``-`` (github-slugger)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of ``path``, with GitHub's ``-1``, ``-2`` for repeated ones."""
    seen: dict[str, int] = {}
    found = set()
    for line in unfenced(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """``(line, target)`` of every Markdown link and image of ``path``, code left out."""
    text = prose(path.read_text(encoding="utf-8"))
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in LINK.finditer(text)]


def test_the_docs_have_links_to_check():
    assert len(DOCS) > 5
    assert sum(len(links(path)) for path in DOCS) > 30


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(path):
    broken = []
    for line, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):       # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{line}: {target}"
        if not destination.exists():
            broken.append(f"{where}: no file {file_part}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{where}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    readme = ROOT / "README.md"
    linked = {(readme.parent / t.partition("#")[0]).resolve() for _, t in links(readme)}
    assert [p.name for p in DOCS[1:] if p.resolve() not in linked] == []


def test_the_roofline_image_is_shown():
    memory = ROOT / "docs" / "memory.md"
    assert "roofline_v1.png" in [target for _, target in links(memory)]
    assert (ROOT / "docs" / "roofline_v1.png").is_file()


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_prose_lines_within_the_column_limit(path):
    long = []
    fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fence = not fence
        elif not fence and not line.lstrip().startswith("|") and len(line) > MAX_COLUMNS:
            long.append(f"{path.relative_to(ROOT)}:{number}: {len(line)} columns")
    assert not long, "\n".join(long)


def test_slug_follows_github():
    assert slug("Reference implementations: `--reference torchvision|timm`") == \
        "reference-implementations---reference-torchvisiontimm"
    assert slug("JSON fields (`--format json`, schema `mncost.profile/1`)") == \
        "json-fields---format-json-schema-mncostprofile1"
    assert slug("Evaluation: `calibrate --evaluate`") == "evaluation-calibrate---evaluate"
