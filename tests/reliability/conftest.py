"""Reliability fixtures: a terminal simulator in its own process (it outlives the killed station)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

#: kill point → "survived" / "FAILED …", filled by test_kill.py and printed at the end of the run.
TALLY: dict[str, str] = {}


@pytest.fixture(scope="session")
def simulator_url() -> Iterator[str]:
    """``python -m drivers.simulator --tcp 127.0.0.1:0`` in another process; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.simulator", "--tcp", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("poslink+tcp://"):
        proc.kill()
        raise RuntimeError(
            f"the simulator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    try:
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if not TALLY:
        return
    survived = sum(1 for v in TALLY.values() if v == "survived")
    terminalreporter.section("kill points")
    for point, outcome in TALLY.items():
        terminalreporter.write_line(f"{point:55} {outcome}")
    terminalreporter.write_line(f"kill points survived: {survived}/{len(TALLY)}")
