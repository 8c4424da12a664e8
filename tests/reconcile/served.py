"""The sandbox in its own process (``posplus sandbox serve``), for tests where several processes
hammer it and an in-thread server would share their CPU with the test itself."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from posplus_tui.services.reconcile.marker import find_marker
from posplus_tui.servicetitan import ServiceTitanClient

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "posplus_tui", "sandbox", "serve", "--port", "0"]


@contextlib.contextmanager
def sandbox_process(rate: float = 0, seed: int = 1) -> Iterator[dict[str, str]]:
    """Serve the sandbox in a child process; yields base_url and the credentials it accepts."""
    proc = subprocess.Popen(
        [*SERVE, "--rate", str(rate), "--seed", str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    info: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.match(
                r"\s*(base_url|tenant_id|client_id|client_secret|app_key)\s*=\s*(\S+)", line
            )
            if m:
                info[m.group(1)] = m.group(2)
            if line.startswith("Press Ctrl+C"):
                break
        assert len(info) == 5, f"the sandbox did not start: {info}"
        yield info
    finally:
        proc.terminate()
        proc.wait(10)


def client_for(info: dict[str, str]) -> ServiceTitanClient:
    return ServiceTitanClient(
        "sandbox",
        info["tenant_id"],
        info["client_id"],
        info["client_secret"],
        info["app_key"],
        base_url=info["base_url"],
        rate_per_second=None,
    )


async def markers_in_feed(client: ServiceTitanClient) -> Counter[str]:
    """Every active payment's marker, read from the sandbox's payment export feed."""
    latest = {}
    token = None
    while True:
        page = await client.export_payments(token)
        for p in page.items:
            latest[p.id] = p
        token = page.continue_from
        if not page.has_more:
            break
    return Counter(
        m
        for p in latest.values()
        if p.active is not False and (m := find_marker(p.memo, p.export_id)) is not None
    )
