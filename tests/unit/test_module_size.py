"""Services stay in small modules a newcomer can read: none over 500 lines.

The big ones were split along their seams (the reconcile store into claims, results, queries and
actions; the container into clock, diagnostics, frame log, container and wiring; the payment
engine apart from its flows): this keeps a new feature from growing one back.
"""

from __future__ import annotations

from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "posplus_tui" / "services"
LIMIT = 500


def test_no_services_module_is_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(SERVICES)): len(path.read_text(encoding="utf-8").splitlines())
        for path in SERVICES.rglob("*.py")
    }
    assert sizes, "the services package was not found"
    too_big = {name: lines for name, lines in sizes.items() if lines > LIMIT}
    assert not too_big, f"split these along their seams (over {LIMIT} lines): {too_big}"
