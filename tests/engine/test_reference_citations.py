"""Every citation of ZNN's behaviour ("reference §9.2", "§4.4 item 8", "quirk 15", "§4.3 quirk a")
in the code and docs has an entry in docs/znn-reference.md.

Sections and quirks must exist as headings of the note (`### §9.2 ...`, `### quirk 15 ...`); a lettered
quirk cited with its section (`§4.3 quirk a`) must be a heading inside that section; a cited step or item
(`§3.1 step 4`) must be a numbered line (`4. ...`) of that section. A range `§1.5-§1.9` cites every section
in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.paths import REPO

ROOT = REPO
NOTE = ROOT / "docs" / "znn-reference.md"
SCANNED = ("engine", "src", "tests", "docs", "README.md", "DEVELOPERS.md")
TEXT_SUFFIXES = {".py", ".md", ".rst", ".txt", ".toml", ".yaml", ".yml", ".cfg", ".spec", ".znn", ".sh"}

_NUM = r"\d+(?:\.\d+)*"
_SECTION_CITE = re.compile(
    rf"§\s?(?P<first>{_NUM})(?:\s*[-–]\s*§?(?P<last>{_NUM}))?"
    r"(?:,?\s+(?P<kind>steps?|items?)\s+(?P<n1>\d+)(?:\s*[-–]\s*(?P<n2>\d+))?)?"
    r"(?:,?\s+[Qq]uirk\s+(?P<letter>[a-z])\b)?")
_QUIRK_CITE = re.compile(r"\b[Qq]uirks?\s+(?P<id>\d+|[a-z])\b")
_HEADING = re.compile(r"^#{1,6}\s+(?P<text>.*)$")
_HEADING_SECTION = re.compile(rf"^§(?P<num>{_NUM})(?![\d.]*\d)")
_HEADING_QUIRK = re.compile(r"^quirk\s+(?P<id>\d+|[a-z])\b")


@dataclass
class Note:
    sections: dict[str, str] = field(default_factory=dict)  # number -> body text
    quirks: set[str] = field(default_factory=set)  # "15", "a", ...
    scoped_quirks: set[tuple[str, str]] = field(default_factory=set)  # ("4.3", "a")


def parse_note(text: str) -> Note:
    note = Note()
    current: str | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            title = heading["text"].strip()
            section = _HEADING_SECTION.match(title)
            quirk = _HEADING_QUIRK.match(title)
            if section:
                current = section["num"]
                note.sections[current] = ""
                continue
            if quirk:
                note.quirks.add(quirk["id"])
                if current is not None and not quirk["id"].isdigit():
                    note.scoped_quirks.add((current, quirk["id"]))
        if current is not None:
            note.sections[current] += line + "\n"
    return note


def _expand(first: str, last: str | None) -> list[str]:
    """`1.5`..`1.9` -> 1.5, 1.6, ..., 1.9 when only the final component differs."""
    if not last:
        return [first]
    a, b = first.split("."), last.split(".")
    if len(a) == len(b) and a[:-1] == b[:-1] and int(a[-1]) <= int(b[-1]):
        return [".".join([*a[:-1], str(k)]) for k in range(int(a[-1]), int(b[-1]) + 1)]
    return [first, last]


def citations_in(text: str) -> list[tuple[int, str]]:
    """(line number, citation) for every citation in `text`, e.g. "§9.2", "§3.1 step 4", "quirk 15"."""
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in _SECTION_CITE.finditer(line):
            sections = _expand(m["first"], m["last"])
            found += [(lineno, f"§{s}") for s in sections]
            if m["kind"]:
                kind = m["kind"].rstrip("s")
                n2 = int(m["n2"] or m["n1"])
                found += [(lineno, f"§{sections[-1]} {kind} {n}") for n in range(int(m["n1"]), n2 + 1)]
            if m["letter"]:
                found.append((lineno, f"§{sections[-1]} quirk {m['letter']}"))
        found += [(lineno, f"quirk {m['id']}") for m in _QUIRK_CITE.finditer(line)]
    return found


def is_covered(citation: str, note: Note) -> bool:
    parts = citation.split()
    if parts[0] == "quirk":
        return parts[1] in note.quirks
    section = parts[0].removeprefix("§")
    if section not in note.sections:
        return False
    if len(parts) == 1:
        return True
    if parts[1] == "quirk":
        return (section, parts[2]) in note.scoped_quirks
    return re.search(rf"^\s*{parts[2]}\.\s", note.sections[section], re.M) is not None


def scanned_files() -> list[Path]:
    files = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [p for p in candidates
                  if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
                  and p.resolve() != Path(__file__).resolve()]
    return files


def test_every_citation_has_an_entry_in_the_reference_note():
    note = parse_note(NOTE.read_text(encoding="utf-8"))
    cited: set[str] = set()
    missing = []
    for path in scanned_files():
        for lineno, citation in citations_in(path.read_text(encoding="utf-8", errors="replace")):
            cited.add(citation)
            if not is_covered(citation, note):
                missing.append(f"{path.relative_to(ROOT)}:{lineno}: {citation}")
    assert len(cited) >= 40, f"only {len(cited)} distinct citations found: is the scan broken?"
    assert not missing, ("citations with no entry in docs/znn-reference.md:\n  " + "\n  ".join(missing))


def test_the_check_rejects_what_the_note_lacks():
    note = parse_note(NOTE.read_text(encoding="utf-8"))
    text = ("see reference §1.5-§1.9 and §5.6–5.7 (§3.1 step 4, §4.4 items 1-2, §4.3 quirk a, quirk 15)\n"
            "but also §42.7, quirk 99, §4.3 quirk z, §3.1 step 99 and §2.1 quirk a\n")
    found = citations_in(text)
    assert {c for n, c in found if n == 1} == {
        "§1.5", "§1.6", "§1.7", "§1.8", "§1.9", "§5.6", "§5.7", "§3.1", "§3.1 step 4", "§4.4",
        "§4.4 item 1", "§4.4 item 2", "§4.3", "§4.3 quirk a", "quirk a", "quirk 15"}
    missing = {c for _n, c in found if not is_covered(c, note)}
    assert missing == {"§42.7", "quirk 99", "§4.3 quirk z", "quirk z", "§3.1 step 99", "§2.1 quirk a"}
