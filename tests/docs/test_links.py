"""The repository stands on its own: every relative link in README.md and docs/ reaches a file
(and heading) of the repository, and no tracked text file names a path outside the checkout."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: A relative path that climbs folders: ``../x``, ``../../x``.
_CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+)[\w.-]")


def links(markdown: str) -> list[str]:
    """Link and image targets of ``markdown``, outside code blocks and code spans."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    return _LINK.findall(prose)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found: set[str] = set()
    for line in _FENCE.sub("", markdown).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(_CODE_SPAN.sub(lambda m: m.group(0).strip("`"), match.group(1)))
            name, n = base, 1
            while name in found:
                name, n = f"{base}-{n}", n + 1
            found.add(name)
    return found


def test_pages_exist() -> None:
    assert ROOT / "README.md" in PAGES
    assert len(PAGES) > 5, "docs/ pages are missing"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_heading(page: Path) -> None:
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path_part, _, anchor = target.partition("#")
        if path_part.startswith("/"):
            problems.append(f"{target}: absolute; link relative to the page")
            continue
        resolved = (page.parent / path_part).resolve() if path_part else page
        if ROOT not in resolved.parents and resolved != ROOT:
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md":
            if anchor not in anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{target}: no heading #{anchor}")
    assert problems == []


def test_link_helpers_find_broken_targets() -> None:
    text = "[a](docs/x.md) ![b](img/p.png) `[c](no.md)`\n```\n[d](no.md)\n```\n[e](https://x.y)"
    assert links(text) == ["docs/x.md", "img/p.png", "https://x.y"]
    assert slug("Outcomes (a closed set)") == "outcomes-a-closed-set"
    assert slug("lag_ms: when `mock` lags") == "lag_ms-when-mock-lags"
    assert anchors("# summary.json\n## A\n## A\n") == {"summaryjson", "a", "a-1"}


def _tracked_text_files() -> list[Path]:
    result = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60, check=False
    )
    if result.returncode != 0:
        pytest.skip("not a git checkout: no list of tracked files")
    files = []
    for name in result.stdout.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file() and b"\0" not in path.read_bytes()[:8192]:
            files.append(path)
    return files


def escapes(path: Path, text: str) -> list[str]:
    """The relative paths in ``text`` that climb above the repository from ``path``'s folder."""
    depth = len(path.parent.relative_to(ROOT).parts)
    return [m.group(0) for m in _CLIMB.finditer(text) if m.group(1).count("../") > depth]


def test_the_escape_finder_sees_a_climb_out_of_the_repository() -> None:
    page = ROOT / "docs" / "page.md"
    assert escapes(page, "see [x](../README.md)") == []
    assert escapes(page, "see ../../notes/x.md") == ["../../n"]


def neighbours(root: Path) -> list[str]:
    """The absolute paths of what sits beside the checkout (the design notes' folder, say),
    which no tracked file may name. A checkout in the system's temporary
    folder has no neighbours of ours: what sits there is anyone's, and published configs
    rightly name temporary paths."""
    parent = root.parent
    if parent == Path(tempfile.gettempdir()).resolve():
        return []
    return sorted(str(entry) for entry in parent.iterdir() if entry != root)


def test_neighbours_are_the_checkouts_siblings(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "shared").mkdir()
    assert neighbours(tmp_path / "repo") == [str(tmp_path / "shared")]
    assert neighbours(Path(tempfile.gettempdir()).resolve() / "a-checkout") == []


def test_no_tracked_file_points_outside_the_repository() -> None:
    files = _tracked_text_files()
    assert ROOT / "README.md" in files
    beside = neighbours(ROOT)
    offenders = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)} names {e}" for e in escapes(path, text)]
        offenders += [f"{path.relative_to(ROOT)} names {n}" for n in beside if n in text]
    assert offenders == [], "link docs/ instead"
