"""Setup against the sandbox: a wrong secret, look-alike payment types, a username's case."""

from __future__ import annotations

from tests.ui.conftest import screen_text, settle, sign_in, wait_for_text


async def test_setup_with_a_wrong_secret_says_what_to_fix(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "admin", "4444")
        await pilot.press("f8")
        await settle(pilot)
        assert app.screen.AREA == "Setup"
        # The stored credentials are tested on arrival: the connection works.
        await wait_for_text(pilot, "Connected: token received")
        # Several payment types look like the chosen one: the warning names them.
        await wait_for_text(pilot, "look like “POS+”")
        await wait_for_text(pilot, "“POS+ Gift Card”")
        # The reconciliation user is checked case-exactly; the near miss is shown as the mistake.
        app.screen.query_one("#reconciliation_username").value = "dlee"
        await settle(pilot)
        await wait_for_text(pilot, "Probably you meant “DLee”")
        app.screen.query_one("#reconciliation_username").value = "DLee"
        await settle(pilot)
        await wait_for_text(pilot, "“DLee” is a ServiceTitan user")
        # A wrong client secret: the sandbox refuses the token, the screen says what to check.
        app.screen.query_one("#client_secret").value = "cs1.not-the-right-secret"
        await pilot.press("ctrl+t")
        await settle(pilot)
        await wait_for_text(pilot, "did not accept")
        text = screen_text(app)
        assert "Next step: Check the Client ID and Client Secret" in text
        assert "not-the-right-secret" not in text  # typed into a password field: never shown


async def test_operator_with_a_near_miss_username(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "admin", "4444")
        await pilot.press("f8")
        await wait_for_text(pilot, "Connected: token received")
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press(*"Ana")
        app.screen.query_one("#op-pin").value = "5678"
        app.screen.query_one("#op-st-username").value = "counter.clerk1"
        await settle(pilot)
        await wait_for_text(pilot, "Probably you meant “Counter.Clerk1”")
        await pilot.click("#op-suggest")
        await settle(pilot)
        assert app.screen.query_one("#op-st-username").value == "Counter.Clerk1"
        await pilot.click("#op-save")
        await settle(pilot)
        await wait_for_text(pilot, "Ana clerk Counter.Clerk1 active")
        message = app.screen.query_one("#operators-result").render()
        assert "Ana (clerk) added." in str(message)
