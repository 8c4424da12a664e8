"""``posplus demo`` in a real terminal (tmux): sign in, find an invoice, pay by keystrokes, and
read the approval from the captured screen — what a person at the counter would see."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed: the real-terminal demo test needs it (apt-get install tmux)",
)


class Tmux:
    """One private tmux server (its own socket), so nothing else running tmux is touched."""

    def __init__(self) -> None:
        self.socket = f"posplus-e2e-{uuid.uuid4().hex[:8]}"
        self.session = "demo"

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return proc.stdout

    def start(self, command: str, width: int = 100, height: int = 30) -> None:
        self.run(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command
        )

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """Poll the captured pane (an external process has no event to await)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in " ".join(screen.split()):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.run("kill-server")


def test_demo_in_a_real_terminal(tmp_path: Path) -> None:
    from posplus_tui.servicetitan.sandbox import Sandbox

    seed = Sandbox(seed=1, size="demo")
    wanted = seed.cases["unpaid_invoice_id"]
    invoice = next(i for i in seed.data.invoices if i.id == wanted)

    env = {
        "POSPLUS_CONFIG_DIR": str(tmp_path / "config"),
        "POSPLUS_DATA_DIR": str(tmp_path / "data"),
        "POSPLUS_LOG_DIR": str(tmp_path / "log"),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = (
        f"cd {ROOT} && env -i {exports} {sys.executable} -m posplus_tui demo "
        f"--data-dir {tmp_path / 'demo'} --card-wait-ms 300"
    )
    tmux = Tmux()
    tmux.start(command)
    try:
        tmux.wait_for("DEMO — practice money only", timeout=60)
        tmux.wait_for("Demo operators")
        # Like a person, wait for the PIN prompt: keys sent in one burst before the focus moves
        # would all land in the first field.
        tmux.type("clerk")
        tmux.keys("Enter")
        tmux.wait_for("Now your PIN")
        tmux.type("1111")
        tmux.wait_for("••••")
        tmux.keys("Enter")
        tmux.wait_for("invoice no., job no.")
        tmux.type(invoice.number)
        tmux.wait_for("1 invoice matches")
        tmux.keys("Enter")
        tmux.wait_for("Balance due")
        tmux.keys("c")
        tmux.wait_for("The full balance")
        tmux.keys("F2")
        screen = tmux.wait_for("PAYMENT APPROVED", timeout=30)
        assert "auth code" in screen and "VISA" in screen
        tmux.keys("Enter")
        tmux.wait_for("PAID IN FULL")
        tmux.keys("C-q")
    finally:
        tmux.stop()


def _demo_command(tmp_path: Path, card_wait_ms: int) -> str:
    env = {
        "POSPLUS_CONFIG_DIR": str(tmp_path / "config"),
        "POSPLUS_DATA_DIR": str(tmp_path / "data"),
        "POSPLUS_LOG_DIR": str(tmp_path / "log"),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    return (
        f"cd {ROOT} && env -i {exports} {sys.executable} -m posplus_tui demo "
        f"--data-dir {tmp_path / 'demo'} --card-wait-ms {card_wait_ms}"
    )


def _supervisor_approves(tmux: Tmux) -> None:
    tmux.wait_for("Supervisor approval needed")
    tmux.type("supervisor")
    tmux.keys("Enter")
    tmux.type("2222")
    tmux.keys("Enter")


def test_a_counter_day_at_80x24_ends_with_the_ledger_right(tmp_path: Path) -> None:
    """Lookup, a charge left during the card wait and come back to, a deposit with typos, a
    half approval and the rest, a void and a refund — by keystrokes in a real terminal at
    80x24 — then the ledger, read again from its file, holds exactly what the terminal did."""
    from posplus_tui.domain.money import Money
    from posplus_tui.servicetitan.sandbox import Sandbox

    seed = Sandbox(seed=1, size="demo")
    wanted = seed.cases["unpaid_invoice_id"]
    invoice = next(i for i in seed.data.invoices if i.id == wanted)
    after_first = Money(invoice.balance_cents - 1100).format()
    tmux = Tmux()
    tmux.start(_demo_command(tmp_path, 2500), width=80, height=24)
    try:
        tmux.wait_for("Demo operators", timeout=60)
        tmux.type("clerk")
        tmux.keys("Enter")
        tmux.wait_for("Now your PIN")
        tmux.type("1111")
        tmux.wait_for("••••")
        tmux.keys("Enter")
        tmux.wait_for("invoice no., job no.")
        tmux.type(invoice.number)
        tmux.wait_for("1 invoice matches")
        tmux.keys("Enter")
        tmux.wait_for("Balance due")

        # A deposit, and the clerk goes to Reconcile while the customer finds the card.
        tmux.keys("d")
        tmux.wait_for("Type the deposit")
        tmux.type("11.00")
        tmux.wait_for("Deposit of $11.00")  # as a person reads it before sending
        tmux.keys("F2")
        tmux.wait_for("waiting for card")
        tmux.keys("F6")
        tmux.wait_for("Payments per hour")
        tmux.wait_for("Deposit $11.00 · invoice")  # the status bar follows it …
        tmux.wait_for("APPROVED │ F4 to see it", timeout=30)  # … to its end
        tmux.keys("F4")
        tmux.wait_for("PAYMENT APPROVED")
        tmux.keys("Enter")
        tmux.wait_for(f"Balance due {after_first}")  # the invoice, with its new balance

        # A deposit with a typo: refused with the reason, nothing sent; corrected, approved.
        tmux.keys("d")
        tmux.wait_for("Type the deposit")
        tmux.type("12o")
        tmux.wait_for("the letter O, not a zero")
        tmux.keys("F2")
        tmux.wait_for("The amount is not right yet")
        tmux.keys("BSpace")
        tmux.type(".00")
        tmux.wait_for("Deposit of $12.00")
        tmux.keys("F2")
        tmux.wait_for("PAYMENT APPROVED", timeout=30)
        tmux.keys("Enter")
        tmux.wait_for("deposit $12.00")  # the new row, on top, highlighted

        # Void that deposit (the newest row): a reason, a supervisor, a confirmation.
        tmux.keys("v")
        tmux.wait_for("A void cancels the whole payment ($12.00)")
        tmux.type("wrong invoice")
        tmux.keys("F2")
        _supervisor_approves(tmux)
        tmux.wait_for("Void $12.00?")
        tmux.keys("Enter")
        tmux.wait_for("VOID APPROVED", timeout=30)
        tmux.keys("Enter")
        tmux.wait_for("voided")
        tmux.wait_for(f"Balance due {after_first}", timeout=30)  # the void gave it back

        # Half approval (.05), then the rest, offered by the invoice.
        tmux.keys("d")
        tmux.wait_for("Type the deposit")
        tmux.type("200.05")
        tmux.wait_for("Deposit of $200.05")
        tmux.keys("F2")
        tmux.wait_for("PARTIALLY APPROVED", timeout=30)
        tmux.keys("Enter")
        tmux.wait_for("charge the remaining $100.03")
        tmux.keys("c")
        tmux.wait_for("Deposit of $100.03")
        tmux.keys("F2")
        tmux.wait_for("PAYMENT APPROVED", timeout=30)
        tmux.keys("Enter")
        tmux.wait_for("deposit $100.03")

        # Refund the rest's charge (the newest row) in full.
        tmux.keys("r")
        tmux.wait_for("Left to refund on this payment: $100.03")
        tmux.keys("Enter")  # the amount as offered; the form asks for the reason next
        tmux.wait_for("it goes in the audit log")
        tmux.type("customer changed mind")
        tmux.keys("F2")
        _supervisor_approves(tmux)
        tmux.wait_for("Refund $100.03?")
        tmux.keys("Enter")
        tmux.wait_for("REFUND APPROVED", timeout=30)
        tmux.keys("Enter")
        tmux.wait_for("Our transactions")
        tmux.keys("C-q")
        deadline = time.monotonic() + 30
        while "demo" in tmux.run("list-sessions") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        tmux.stop()
    _check_the_ledger(tmp_path / "demo")


def _check_the_ledger(folder: Path) -> None:
    import asyncio

    from posplus_tui.domain.money import Money
    from posplus_tui.services.wiring import build_demo

    async def read() -> list:
        services = build_demo(folder, card_wait_ms=0, sync_on_start=False, pin_cost=16)
        try:
            return await services.payments.list_transactions(limit=50)
        finally:
            await services.aclose()

    rows = asyncio.run(read())
    got = sorted(
        (str(t.kind.value), t.amount.cents, t.approved.cents, str(t.state.value)) for t in rows
    )
    charges = {(k, a): (ap, s) for k, a, ap, s in got if k in ("sale", "deposit")}
    assert charges[("deposit", 1100)][0] == 1100
    assert charges[("deposit", 1200)] == (1200, "voided")
    assert charges[("deposit", 20005)][0] == 10002  # half approved
    assert charges[("deposit", 10003)] == (10003, "refunded")
    assert not [r for r in got if r[3] in ("unknown", "at_terminal", "intent")], got
    kept = sum(t.approved.cents for t in rows if t.kind.value in ("sale", "deposit"))
    given_back = sum(t.approved.cents for t in rows if t.kind.value in ("refund", "void"))
    assert Money(kept - given_back) == Money(1100 + 10002), got
