"""Sign in: wrong PINs count down, then a lockout message a clerk can act on."""

from __future__ import annotations

from tests.ui.conftest import screen_text, settle, sign_in, wait_for, wait_for_text


async def test_wrong_pins_lock_the_operator_out(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await wait_for_text(pilot, "DEMO")
        await sign_in(pilot, "clerk", "9999")
        await wait_for_text(pilot, "do not match")
        for _ in range(4):
            await pilot.press(*"9999", "enter")
            await settle(pilot)
        text = screen_text(app)
        assert "locked" in text and "Wait 5 minutes" in text
        # Even the right PIN is refused while locked.
        await pilot.press(*"1111", "enter")
        await settle(pilot)
        await wait_for_text(pilot, "locked")
        assert app.operator is None


async def test_empty_fields_say_what_to_type(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the name field: Enter moves on to the PIN
        await wait_for_text(pilot, "Now your PIN, then Enter.")
        await pilot.press("enter")  # the PIN field: nothing typed anywhere yet
        await wait_for_text(pilot, "Type your operator name.")
        assert app.screen.focused is app.screen.query_one("#signin-username")


async def test_name_and_pin_typed_in_one_burst_sign_in(demo_app) -> None:
    """A fast typist (or a badge reader) sends "name⏎PIN⏎" before the screen has redrawn: the
    PIN must still land in the PIN field, as it does in a real terminal."""
    from textual import events

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst = [*"clerk", "enter", *"1111", "enter"]
        for key in burst:  # queued all at once: nothing is processed between them
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await settle(pilot)
        await wait_for(pilot, lambda: app.operator is not None, what="the sign-in")
        assert app.operator.name == "clerk"
        assert app.screen.AREA == "Lookup"


async def test_a_wrong_pin_keeps_the_name_clears_the_pin_and_waits_in_the_pin(demo_app) -> None:
    """Issue 14: a wrong PIN must not make the clerk type their name again."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "9999")
        await wait_for_text(pilot, "do not match")
        name = app.screen.query_one("#signin-username")
        pin = app.screen.query_one("#signin-pin")
        assert name.value == "clerk"
        assert pin.value == ""
        assert app.screen.focused is pin
        # The next keys are the PIN: the right one signs in without retyping the name.
        await pilot.press(*"1111", "enter")
        await settle(pilot)
        await wait_for(pilot, lambda: app.operator is not None, what="the sign-in")
        assert app.operator.name == "clerk"
