"""The marker that ties a ServiceTitan payment to exactly one of our transactions.

ServiceTitan has no idempotency key, so every posting carries ``POSPLUS-<ecr_ref>`` in its memo and
export id. After an ambiguous failure the worker searches for this text before posting again; the
sync task uses it to tell our payments from hand-entered ones.
"""

from __future__ import annotations

import re

PREFIX = "POSPLUS-"
_MARKER_RE = re.compile(r"POSPLUS-[A-Za-z0-9][A-Za-z0-9_.:\-]{0,60}")


def marker_for(ecr_ref: str) -> str:
    """The marker for a transaction's ECR reference (what the ledger writes into the outbox)."""
    ref = ecr_ref.strip()
    if not ref:
        raise ValueError("a marker needs a non-empty ECR reference")
    return ref if ref.startswith(PREFIX) else f"{PREFIX}{ref}"


def memo_for(marker: str, description: str = "") -> str:
    """The memo we send: the marker first (so a search finds it), then a human description."""
    return f"{marker} {description}".strip()


def find_marker(*texts: str | None) -> str | None:
    """The first marker found in any of ``texts`` (memo, export id, auth code), else ``None``."""
    for text in texts:
        if not text:
            continue
        match = _MARKER_RE.search(text)
        if match:
            return match.group(0)
    return None


def carries_marker(marker: str, *texts: str | None) -> bool:
    """True when one of ``texts`` holds exactly ``marker`` (not merely a longer marker)."""
    for text in texts:
        if not text:
            continue
        for match in _MARKER_RE.finditer(text):
            if match.group(0) == marker:
                return True
    return False
