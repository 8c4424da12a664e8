"""An unexpected error never exits 0, and what is printed shows no local variables."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import posplus_tui.ui.app as app_module
    from posplus_tui.cli.app_cmds import run_app
    from posplus_tui.logs import setup_logging
    from posplus_tui.services.wiring import build_demo
    from posplus_tui.ui.app import PosPlusApp

    class Boom(PosPlusApp):
        CSS_PATH = str(Path(app_module.__file__).parent / "app.tcss")
        def on_mount(self) -> None:
            super().on_mount()
            self.set_timer(0.2, self.boom)

        def boom(self) -> None:
            pin_typed = "8642-local-secret"
            card = "4111111111111111"
            raise RuntimeError("an item like [/bold] broke " + pin_typed[:0] + card[:0])

    log = setup_logging(directory=Path(sys.argv[1]) / "logs")
    services = build_demo(sys.argv[1], card_wait_ms=0, pin_cost=16, sync_on_start=False)
    sys.exit(run_app(Boom(services), headless=True))
    """
)


def test_a_crash_exits_non_zero_without_local_variables(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TERM": "xterm",
             "XDG_DATA_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path),
             "XDG_CONFIG_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path),
             "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"},
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "POS+ stopped after something unexpected (RuntimeError)" in output
    log = (tmp_path / "logs" / "posplus.log").read_text()
    assert "RuntimeError: an item like [/bold] broke" in log  # the details, in the log only
    for leak in ("8642-local-secret", "4111111111111111", "locals", "pin_typed"):
        assert leak not in output, leak
    for value in ("8642-local-secret", "4111111111111111"):  # values of locals, never logged
        assert value not in log, value
