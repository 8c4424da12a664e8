"""``posplus sandbox serve`` in its own process: prints a base URL and working credentials."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from posplus_tui.servicetitan import ServiceTitanClient


def _read_until(proc: subprocess.Popen[str], marker: str) -> str:
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            break
    return "".join(lines)


async def test_sandbox_serve_prints_what_to_put_in_settings_and_answers():
    proc = subprocess.Popen(
        [sys.executable, "-m", "posplus_tui", "sandbox", "serve", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out = _read_until(proc, "Ctrl+C")
        fields = dict(re.findall(r"^\s+(\w+)\s+= (\S+)$", out, re.M))
        assert fields["base_url"].startswith("http://127.0.0.1:")
        async with ServiceTitanClient(
            "sandbox",
            fields["tenant_id"],
            fields["client_id"],
            fields["client_secret"],
            fields["app_key"],
            base_url=fields["base_url"],
        ) as st:
            types = await st.list_payment_types()
        assert "POS+" in [t.name for t in types]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert proc.returncode == 0


def test_sandbox_serve_rejects_a_bad_port():
    done = subprocess.run(
        [sys.executable, "-m", "posplus_tui", "sandbox", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--port 70000" in done.stderr and len(done.stderr.strip().splitlines()) == 1
