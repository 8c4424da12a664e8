"""The worker killed mid-drain (SIGKILL, a real separate process running ``posplus reconcile
--once``) and restarted: every approved transaction ends posted exactly once or visibly needs
attention; none is posted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from posplus_tui.ledger import Ledger
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.services.reconcile.marker import find_marker
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import unpaid_invoices
from tests.reconcile.ledgerdata import add_approved

ROOT = Path(__file__).resolve().parents[2]


def cli_env(
    sandbox: Sandbox | None, base_url: str, database_url: str, creds: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment for a ``posplus`` child process aimed at this sandbox and ledger."""
    if creds is None:
        assert sandbox is not None
        c = sandbox.credentials
        creds = {
            "tenant_id": str(c.tenant_id),
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "app_key": c.app_key,
        }
    env = dict(os.environ)
    # compiled bytecode cached outside the tree, so each started process imports quickly
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "posplus-test-pycache")
    env.update(
        POSPLUS_ENVIRONMENT="sandbox",
        POSPLUS_SANDBOX_URL=base_url,
        POSPLUS_TENANT_ID=creds["tenant_id"],
        POSPLUS_CLIENT_ID=creds["client_id"],
        POSPLUS_CLIENT_SECRET=creds["client_secret"],
        POSPLUS_APP_KEY=creds["app_key"],
        POSPLUS_DATABASE_URL=database_url,
        POSPLUS_RECONCILIATION_USERNAME="recon",
    )
    return env


def run_cli(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *[sys.executable, "-m", "posplus_tui", "reconcile", "--once", "--no-progress"],
            # the sandbox's dropped replies are saved at once: no need to wait 10 s to search
            *["--doubt-wait", "0.2", *extra],
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def done_count(ledger: Ledger) -> int:
    o = OutboxRow.__table__
    with ledger.engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(o.c.state.in_(("posted", "verified")))
        ).scalar_one()


def markers_in_sandbox(sandbox: Sandbox) -> Counter[str]:
    return Counter(
        m for p in sandbox.store.payment_list if (m := find_marker(p.memo, p.export_id)) is not None
    )


@pytest.mark.slow
def test_killed_mid_drain_and_restarted_posts_each_once(
    ledger: Ledger, sandbox: Sandbox, base_url: str
) -> None:
    rows = []
    for inv, num, _ in unpaid_invoices(sandbox, 80, min_cents=1_000):
        for _ in range(2):
            rows.append(add_approved(ledger, invoice_id=inv, invoice_number=num, cents=300))
    # a few lost replies so that some rows are "in doubt" when the kill comes
    sandbox.faults.drop_next_payment_reply(4)
    env = cli_env(sandbox, base_url, ledger.url)

    first = run_cli(env)
    deadline = time.monotonic() + 60
    while done_count(ledger) < 40:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert done_count(ledger) < len(rows), "the kill came too late to test anything"

    second = run_cli(env)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, out + err
    assert "needs attention 0" in out

    counts = markers_in_sandbox(sandbox)
    o = OutboxRow.__table__
    with ledger.engine.connect() as conn:
        states = dict(conn.execute(select(o.c.marker, o.c.state)).all())
    for row in rows:
        assert states[row.marker] in ("verified", "needs_attention"), states[row.marker]
        if states[row.marker] == "verified":
            assert counts[row.marker] == 1, row.marker
        else:
            assert counts[row.marker] <= 1
    assert max(counts.values()) == 1


@pytest.mark.slow
def test_follow_posts_as_payments_arrive_and_stops_on_ctrl_c(
    ledger: Ledger, sandbox: Sandbox, base_url: str
) -> None:
    env = cli_env(sandbox, base_url, ledger.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "posplus_tui", "reconcile", "--follow"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "Posting payments to ServiceTitan as they arrive" in proc.stdout.readline()
        [(inv, num, _)] = unpaid_invoices(sandbox, 1)
        row = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=1_234)
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "verified" in line and num in line:
                break
        assert any("verified" in ln and "$12.34" in ln for ln in lines), lines
        assert markers_in_sandbox(sandbox)[row.marker] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted" in err
