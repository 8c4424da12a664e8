"""Setup offers the terminal family: a Dejavoo (SPIn) terminal is its address, TPN and auth key;
the key is tested before saving and goes to the keyring, never to the settings file."""

from __future__ import annotations

from drivers.spin.simulator import SpinSimulator, serve_spin
from posplus_tui import config, paths
from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore
from posplus_tui.services.wiring import open_and_identify_terminal
from tests.ui.conftest import screen_text, settle, wait_for_text

KEY = "Ui5pinK3y0"


async def test_choose_dejavoo_test_it_and_save_the_key_to_the_keyring(setup_only_app) -> None:
    sim = SpinSimulator(tpn="UITPN0000001", authkey=KEY)
    server = await serve_spin(sim)
    app = setup_only_app(terminal_tester=open_and_identify_terminal)
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            assert app.screen.AREA == "Setup"
            assert not app.screen.query_one("#spin_tpn").parent.display
            app.screen.query_one("#terminal_family").value = "spin"
            await settle(pilot)
            assert not app.screen.query_one("#terminal_url").display
            assert app.screen.query_one("#spin_tpn").parent.display
            app.screen.query_one("#spin_address").value = f"127.0.0.1:{server.address[1]}"
            app.screen.query_one("#spin_tpn").value = "UITPN0000001"
            await pilot.press("ctrl+e")  # no key yet: the screen asks for it
            await wait_for_text(pilot, "Type the terminal's auth key first")
            app.screen.query_one("#terminal_authkey").value = KEY
            await pilot.press("ctrl+e")
            await wait_for_text(pilot, "The terminal answered: Dejavoo (SPIn) UITPN0000001")
            app.screen.query_one("#tenant_id").value = "4242"
            app.screen.query_one("#client_id").value = "cid.demo"
            await pilot.press("ctrl+s")
            await wait_for_text(pilot, "Saved.")
            text = screen_text(app)
            assert KEY not in text and "•••• stored in the keyring" in text
        saved = config.load()
        assert saved.terminal_url == f"spin+http://127.0.0.1:{server.address[1]}?tpn=UITPN0000001"
        assert KEY not in paths.default_config_file().read_text()
        assert SecretStore(tenant="4242").get("terminal_authkey") == KEY
    finally:
        await server.close()


async def test_a_dejavoo_address_without_its_port_is_refused_in_words(setup_only_app) -> None:
    app = setup_only_app(Settings(terminal_url="spin+http://10.0.0.6:9000?tpn=Z11AB0123456"))
    async with app.run_test(size=(100, 40)) as pilot:
        assert app.screen.query_one("#terminal_family").value == "spin"
        assert app.screen.query_one("#spin_address").value == "10.0.0.6:9000"
        app.screen.query_one("#spin_address").value = "10.0.0.6"
        await pilot.press("ctrl+s")
        await wait_for_text(pilot, "needs its port")
        assert "Not saved" in screen_text(app)
