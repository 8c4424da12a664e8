"""Every setting is checked where it enters, Setup included (issue 16): a terminal address like
``foo`` is refused by Save and by Test terminal with a sentence and an example, and the field
with the cursor is plain to see."""

from __future__ import annotations

from posplus_tui.cli import main
from tests.ui.conftest import settle, sign_in, wait_for, wait_for_text


async def _setup(pilot) -> None:
    await settle(pilot)
    await sign_in(pilot, "admin", "4444")
    await pilot.press("f8")
    await settle(pilot)
    await wait_for_text(pilot, "Connected: token received")


async def test_setup_refuses_a_bad_terminal_address_and_shows_its_cursor(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _setup(pilot)
        for url in ("foo", "poslink+tcp://[::1"):
            app.screen.query_one("#terminal_url").value = url
            result = app.screen.query_one("#terminal-result")
            result.update("")
            await pilot.press("ctrl+e")
            await settle(pilot)
            await wait_for(pilot, lambda r=result: "✗" in str(r.render()), what="the result")
            assert "Traceback" not in str(result.render())
            saved = app.screen.query_one("#save-result")
            saved.update("")
            await pilot.press("ctrl+s")
            await settle(pilot)
            await wait_for(pilot, lambda s=saved: "✗" in str(s.render()), what="the refusal")
            words = str(app.screen.query_one("#setup-problem").render()) + str(saved.render())
            assert "terminal_url" in words and url in words
            assert app.services.setup.settings.terminal_url != url  # nothing taken
        # The field with the cursor is plain to see.
        tenant, client = app.screen.query_one("#tenant_id"), app.screen.query_one("#client_id")
        tenant.focus()
        await settle(pilot)
        assert tenant.has_focus
        assert tenant.styles.text_style.bold and not client.styles.text_style.bold
        assert tenant.styles.background != client.styles.background


def test_terminal_test_on_a_bad_address_is_a_sentence(capsys) -> None:
    for url in ("foo", "poslink+tcp://[::1"):
        assert main(["terminal", "test", url]) == 2
        err = capsys.readouterr().err
        assert url in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
