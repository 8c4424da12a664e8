"""``posplus sandbox serve`` in its own process: prints a base URL and working credentials."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from posplus_tui.cli import main
from posplus_tui.domain.money import Money
from posplus_tui.servicetitan import NotFoundError, ScopeMissing, ServiceTitanClient


def _read_until(proc: subprocess.Popen[str], marker: str) -> str:
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            break
    return "".join(lines)


async def test_sandbox_serve_prints_what_to_put_in_settings_and_answers(capsys):
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
        fields["type_id"] = re.search(r"POS\+ payment type id = (\d+)", out)[1]
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
            # a trainer makes the running sandbox misbehave from another terminal
            opts = ["--url", fields["base_url"], "--app-key", fields["app_key"]]
            assert main(["sandbox", "fault", "503", "--count", "2", *opts]) == 0
            assert "next 2 call(s) answer 503" in capsys.readouterr().out
            assert await st.list_payment_types()  # retried through the two 503s
            assert main(["sandbox", "fault", "post-off", *opts]) == 0
            with pytest.raises(NotFoundError):
                await st.create_payment(int(fields["type_id"]), [(1, Money(100))])
            assert main(["sandbox", "fault", "state", *opts]) == 0
            assert "paymentsPostEnabled: False" in capsys.readouterr().out
            # An app made without a scope, over real HTTP: the call that needs it says so.
            scope = ["--scope", "tn.settings.employees:r"]
            assert main(["sandbox", "fault", "revoke-scope", *scope, *opts]) == 0
            with pytest.raises(ScopeMissing) as missing:
                await st.list_employees()
            assert missing.value.scope == "tn.settings.employees:r"
            assert main(["sandbox", "fault", "revoke-scope", *opts]) == 2  # which one?
            assert "--scope" in capsys.readouterr().err
            assert main(["sandbox", "fault", "clear", "--url", fields["base_url"],
                         "--app-key", "wrong"]) == 2  # fmt: skip
            assert "app key" in capsys.readouterr().err
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
