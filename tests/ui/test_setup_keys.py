"""Setup from the keyboard (issue 16): Tab walks every field top to bottom, section by section;
a technician is told at once, on screen, that operators are an admin's (issue 14)."""

from __future__ import annotations

from tests.ui.conftest import screen_text, settle, sign_in, wait_for_text

#: Setup's fields in the order a technician fills them in (the sandbox address shows because
#: the demo runs on the sandbox).
TAB_ORDER = [
    # 1. ServiceTitan connection
    "environment", "sandbox_url", "tenant_id", "client_id", "client_secret", "app_key",
    "test-connection",
    # 2. Payment type
    "payment_type",
    # 3. Reconciliation user
    "reconciliation_username", "reconciliation_password",
    # 4. Card terminal
    "terminal_url", "terminal_family", "test-terminal", "station_name", "save",
    # 5. Operators
    "operators", "op-add", "op-edit", "op-toggle",
    # 6. Payment links
    "stripe_secret_key", "twilio_account_sid", "twilio_auth_token", "smtp_password", "twilio_from",
    "twilio_api_url", "smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_from",
    "stripe_api_url",
]  # fmt: skip


async def _open_setup(pilot, who: str, pin: str) -> None:
    await settle(pilot)
    await sign_in(pilot, who, pin)
    await pilot.press("f8")
    await settle(pilot)
    await wait_for_text(pilot, "Connected: token received")


def _focused(app) -> str:
    return app.screen.focused.id if app.screen.focused is not None else ""


async def test_tab_walks_every_field_top_to_bottom_and_back(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_setup(pilot, "admin", "4444")
        assert _focused(app) == "environment"  # the top of the form, not the scroll area
        seen = [_focused(app)]
        for _ in range(len(TAB_ORDER)):
            await pilot.press("tab")
            await pilot.pause()
            seen.append(_focused(app))
            # The field with the cursor is on screen (the form scrolls to it).
            focused = app.screen.focused
            assert focused.region.height > 0 and app.screen.region.contains_region(
                focused.region
            ), f"{focused.id} is off screen"
        assert seen == [*TAB_ORDER, TAB_ORDER[0]]  # and round to the top again
        # Every field on the screen is on the way: none is skipped, none comes twice.
        focusable = [w.id for w in app.screen.focus_chain]
        assert focusable == TAB_ORDER
        back = []
        for _ in range(3):
            await pilot.press("shift+tab")
            await pilot.pause()
            back.append(_focused(app))
        assert back == TAB_ORDER[-1:-4:-1]


async def test_a_technician_is_told_at_once_that_operators_are_an_admins(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_setup(pilot, "technician", "3333")
        assert all(b.disabled for b in app.screen.query(".op-action"))
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen.AREA == "Setup"  # no form was opened to be refused later
        box = app.screen.query_one("#operators-result")
        assert "Only an admin can add, change or disable operators" in str(box.render())
        # The refusal is on the visible screen, not below it.
        await wait_for_text(pilot, "Only an admin can add")
        assert app.screen.region.contains_region(box.region)
        # Enter on an operator's row says the same, also in view.
        app.screen.query_one("#operators").focus()
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.AREA == "Setup"
        assert "Only an admin" in screen_text(app)
