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
