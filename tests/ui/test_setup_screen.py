"""Setup on a fresh install: the form, saving to the file and the keyring, secrets never shown."""

from __future__ import annotations

from posplus_tui import config, paths
from posplus_tui.secrets import SecretStore
from tests.ui.conftest import screen_text


async def test_first_run_opens_setup_and_saves_secrets_to_the_keyring(setup_only_app) -> None:
    app = setup_only_app()
    async with app.run_test(size=(100, 40)) as pilot:
        assert app.screen.AREA == "Setup"
        await pilot.click("#tenant_id")
        await pilot.press(*"4242")
        app.screen.query_one("#client_id").value = "cid.demo"
        app.screen.query_one("#client_secret").value = "s3cr3t-value-xyz"
        app.screen.query_one("#terminal_url").value = "sim://"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "s3cr3t-value-xyz" not in text
        assert "Saved. Still missing: reconciliation_username" in text
        assert "•••• stored in the keyring" in text
    saved = config.load()
    assert saved.tenant_id == "4242" and saved.terminal_url == "sim://"
    assert "s3cr3t" not in paths.default_config_file().read_text()
    assert SecretStore(tenant="4242").get("client_secret") == "s3cr3t-value-xyz"


async def test_bad_value_is_named_with_the_fix(setup_only_app) -> None:
    app = setup_only_app()
    async with app.run_test(size=(100, 40)) as pilot:
        app.screen.query_one("#client_id").value = "has spaces in it"
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "client_id" in text and "cid.abc123" in text and "Next step" in text
