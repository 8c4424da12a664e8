"""Where the project's reference files live: ``shared/`` beside the checkout, never an absolute path.

A checkout sits next to ``shared/`` (``../shared/…``); a git worktree may sit one folder deeper, so
the folder above that is tried too. ``POSPLUS_SHARED_DIR`` names it explicitly. Tests that need a
file call :func:`reference_path`, which skips them with a visible reason when it is absent (a clean
clone with nothing beside it still runs every other test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = "POSPLUS_SHARED_DIR"


def _find_shared() -> Path | None:
    """The ``shared/`` folder beside the checkout (or beside its parent), if there is one."""
    named = os.environ.get(ENV)
    if named:
        return Path(named) if Path(named).is_dir() else None
    for folder in (REPO.parent, REPO.parent.parent):
        candidate = folder / "shared"
        if (candidate / "reference").is_dir():
            return candidate
    return None


#: Read once at import: the suite's autouse fixture clears ``POSPLUS_*`` variables for each test.
SHARED_DIR = _find_shared()


def reference_path(relative: str) -> Path:
    """``shared/<relative>``, or skip the calling test saying which file is missing and where."""
    found = SHARED_DIR / relative if SHARED_DIR is not None else None
    if found is None or not found.exists():
        pytest.skip(
            f"reference file ../shared/{relative} is not beside this checkout "
            f"({REPO.name}); set {ENV} to the shared folder to run this test"
        )
    return found
