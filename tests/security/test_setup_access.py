"""Missing secrets open Setup only for a signed-in admin or technician (``posplus run``)."""

from __future__ import annotations

from pathlib import Path

from posplus_tui.config import Settings
from posplus_tui.services.clock import FixedClock
from posplus_tui.services.wiring import build_run
from posplus_tui.ui.app import PosPlusApp
from tests.ui.conftest import TEST_PIN_COST, settle, sign_in, wait_for_area


def _app(tmp_path: Path) -> PosPlusApp:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    services = build_run(
        settings, config_path=tmp_path / "c.toml", clock=FixedClock(), pin_cost=TEST_PIN_COST
    )
    ops = services.operators
    ada = ops.add_sync("ada", "admin", "4321")
    ops.add_sync("carl", "clerk", "1234", by=ada)
    ops.add_sync("tina", "technician", "5555", by=ada)
    assert services.missing_setup()  # no tenant, no secrets: Setup is unfinished
    return PosPlusApp(services, status_every=0)


async def test_nobody_gets_setup_before_signing_in(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert app.screen.AREA == "Sign in"
        await pilot.press("f8")
        await settle(pilot)
        assert app.screen.AREA == "Sign in" and app.operator is None
        await sign_in(pilot, "carl", "1234")
        await wait_for_area(pilot, "Lookup")
        await pilot.press("f8")
        await settle(pilot)
        assert app.screen.AREA == "Lookup"  # a clerk is told no; Setup does not open


async def test_an_admin_or_technician_who_signs_in_gets_setup(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "tina", "5555")
        await wait_for_area(pilot, "Setup")
        app.screen.query_one("#tenant_id").value = "4242"
        await pilot.press("ctrl+s")
        await settle(pilot)
    with app.services.ledger.engine.connect() as conn:
        actors = conn.exec_driver_sql(
            "SELECT actor FROM audit_events WHERE action = 'setting_changed'"
        ).all()
    assert actors and {a for (a,) in actors} == {"tina"}
