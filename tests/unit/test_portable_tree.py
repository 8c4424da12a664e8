"""The tree runs anywhere: no file names a folder of one development machine.

Reference files are found beside the checkout (``tests/reference.py``); a path such as the
development box's home or work folder would make a clean clone elsewhere fail.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Home and work folders of Linux, macOS and Windows machines (built so this file does not match).
ABSOLUTE = re.compile(
    "(?<![\\w.])("
    + "|".join(["/" + "work/", "/" + "home/", "/" + "Users/", "/" + "root/"])
    + r"|[A-Za-z]:\\{1,2}Users\\)"
)
SKIP_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    ".import_linter_cache",
    "node_modules",
    "dist",
    "build",
}


def _tree() -> list[Path]:
    """The files a commit could hold: git's own list (ignored files such as a failed run's
    snapshot report are never committed), or every file when there is no git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    if listed:
        return [
            ROOT / name
            for name in listed.split("\0")
            if name and (ROOT / name).is_file() and not name.endswith((".pyc", ".sqlite3"))
        ]
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and not parts & SKIP_DIRS and path.suffix not in {".pyc", ".sqlite3"}:
            files.append(path)
    return files


def test_no_absolute_machine_path_in_the_tree() -> None:
    hits = []
    files = _tree()
    assert len(files) > 100, "the walk found too few files to mean anything"
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if ABSOLUTE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not hits, "absolute paths of one machine:\n" + "\n".join(hits)


def test_the_pattern_catches_what_it_must() -> None:
    planted = "SPEC_DIR = Path('" + "/work" + "/shared/reference')"
    assert ABSOLUTE.search(planted)
    assert ABSOLUTE.search("C:" + "\\Users\\clerk")
    assert ABSOLUTE.search("C:" + "\\\\Users\\\\clerk")
    assert not ABSOLUTE.search("../shared/reference/poslink.md")
    assert not ABSOLUTE.search("see docs/work/notes")
