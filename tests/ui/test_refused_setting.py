"""``posplus run`` with a mistyped setting opens Setup at that field instead of dying."""

from __future__ import annotations

from pathlib import Path

from posplus_tui import config, paths
from posplus_tui.secrets import MemoryKeyring, SecretStore
from posplus_tui.services.wiring import build_run
from posplus_tui.ui.app import PosPlusApp
from tests.ui.conftest import screen_text, settle, sign_in, wait_for_area


def _write_config(body: str) -> Path:
    file = paths.default_config_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(body, encoding="utf-8")
    return file


def test_the_bad_value_is_left_out_and_named() -> None:
    _write_config('[posplus]\ntenant_id = "4242"\nterminal_url = "foo"\nclient_id = "cid.x"\n')
    settings, problems = config.load_for_setup()
    assert settings.tenant_id == "4242" and settings.client_id == "cid.x"
    assert settings.terminal_url == "" and list(problems) == ["terminal_url"]
    assert "Examples" in problems["terminal_url"]


async def test_setup_opens_at_the_refused_field(tmp_path: Path) -> None:
    file = _write_config(
        "[posplus]\n"
        'environment = "sandbox"\n'
        'tenant_id = "4242"\n'
        'client_id = "cid.x"\n'
        'terminal_url = "poslink+tcp://[::1"\n'
        f'database_url = "sqlite:///{tmp_path / "ledger.sqlite3"}"\n'
    )
    settings, problems = config.load_for_setup(file)
    services = build_run(
        settings,
        config_path=file,
        secrets=SecretStore(backend=MemoryKeyring(), environ={}, tenant="4242"),
        pin_cost=16,
        problems=problems,
    )
    assert services.payments is None, "nothing is taken with a refused setting"
    assert services.operators is not None
    services.operators.add_sync("Ana", "admin", "4821")  # the first admin of an empty ledger
    app = PosPlusApp(services, status_every=0)
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            assert app.screen.AREA != "Setup", "nobody gets Setup without signing in"
            await sign_in(pilot, "Ana", "4821")
            await wait_for_area(pilot, "Setup")
            await settle(pilot)
            text = screen_text(app)
            title = str(app.screen.query_one("#setup-problem .problem-title").render())
            assert "The setting terminal_url was refused" in title
            assert "Type the right value" in text
            assert "poslink+tcp://[::1" in text and "Examples" in text
            assert app.screen.focused is app.screen.query_one("#terminal_url")
            await pilot.press(*"sim://")
            assert app.screen.query_one("#terminal_url").value == "sim://"
    finally:
        await services.aclose()
