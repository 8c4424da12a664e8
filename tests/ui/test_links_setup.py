"""``posplus run`` wires payment links from Setup: without a Stripe secret key the l key says so in
words; an admin types the key (stored as a secret, never in the settings file or on screen) and
the SMTP/Twilio settings (a bad value is a sentence), Setup says which ways to send still need
what; then l opens the invoice's payment links."""

from __future__ import annotations

from dataclasses import replace

from gateways.stripe.sandbox import StripeSandboxApp, serve_in_thread
from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore
from posplus_tui.services.clock import FixedClock
from posplus_tui.services.wiring import build_run
from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, Sandbox
from posplus_tui.ui.app import PosPlusApp
from tests.ui.conftest import (
    TEST_PIN_COST,
    open_invoice,
    screen_text,
    settle,
    sign_in,
    wait_for,
    wait_for_area,
    wait_for_text,
)


async def says(pilot, selector: str, words: str) -> None:
    """Wait until the message under a field (maybe scrolled out of view) says ``words``."""

    def shown() -> str:
        return " ".join(str(pilot.app.screen.query_one(selector).render()).split())

    await wait_for(pilot, lambda: words in shown(), what=f"{selector} to say {words!r}")


async def test_links_are_set_up_in_setup_and_refused_in_words_until_then(tmp_path) -> None:
    sandbox = Sandbox(seed=1, size="demo")
    creds = sandbox.credentials
    settings = Settings(
        environment="sandbox",
        sandbox_url=IN_PROCESS_BASE_URL,
        tenant_id=str(creds.tenant_id),
        client_id=creds.client_id,
        reconciliation_username="DLee",
        terminal_url="sim://?card_wait_ms=0",
        database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    )
    store = SecretStore(tenant=settings.tenant_id)
    for name in ("client_secret", "app_key"):
        store.set(name, getattr(creds, name))
    config = tmp_path / "c.toml"
    unfinished = replace(settings, terminal_url="")
    services = build_run(
        unfinished, config_path=config, secrets=store, clock=FixedClock(), pin_cost=TEST_PIN_COST
    )
    services.client_options = {"transport": sandbox.transport()}  # ServiceTitan, in-process
    assert await services.go_live(settings, store) == ""
    assert services.live_links is not None
    services.setup.settings = settings  # what the finished Setup shows
    ada = services.operators.add_sync("ada", "admin", "4321")
    services.operators.add_sync("ana", "clerk", "1234", by=ada)
    number = next(
        i.number for i in sandbox.data.invoices if i.id == sandbox.cases["unpaid_invoice_id"]
    )
    stripe = StripeSandboxApp()
    app = PosPlusApp(services, status_every=0)
    with serve_in_thread(stripe) as stripe_url:
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            await sign_in(pilot, "ana", "1234")
            await wait_for_area(pilot, "Lookup")
            await open_invoice(pilot, number)
            await pilot.press("l")
            await wait_for_text(pilot, "the Stripe secret key is missing")
            assert app.screen.AREA == "Invoice"
            assert "Setup, section 6 (Payment links)" in screen_text(app)

            await pilot.press("ctrl+o")
            await wait_for_area(pilot, "Sign in")
            await sign_in(pilot, "ada", "4321")
            await pilot.press("f8")
            await wait_for_area(pilot, "Setup")
            await says(pilot, "#links-result", "the Stripe secret key is missing")
            screen = app.screen
            screen.query_one("#stripe_secret_key").value = stripe.secret_key
            screen.query_one("#stripe_api_url").value = stripe_url
            screen.query_one("#smtp_port").value = "99999"
            await pilot.press("ctrl+s")
            await says(pilot, "#save-result", "“smtp_port” = '99999' is not valid")
            await says(pilot, "#save-result", "a port number such as 25, 465 or 587")
            screen.query_one("#smtp_port").value = "587"
            await pilot.press("ctrl+s")
            await says(pilot, "#save-result", "Saved.")
            await says(pilot, "#links-result", "Payment links are ready (QR code)")
            await says(pilot, "#links-result", "E-mailing links needs the SMTP host and From")
            await says(pilot, "#links-result", "Texting links needs the Twilio account SID")
            assert stripe.secret_key not in screen_text(app)
            assert stripe.secret_key not in config.read_text()
            assert "stripe_api_url" in config.read_text()
            assert store.get("stripe_secret_key") == stripe.secret_key

            # A relay that wants a login: user name (a setting), password (a secret), security.
            for name, bad, words in (
                ("smtp_security", "ssl", "none, starttls or tls"),
                ("twilio_api_url", "api.twilio.com", "https://api.twilio.com"),
                ("smtp_username", "bill ing", "no spaces"),
            ):
                screen.query_one(f"#{name}").value = bad
                await pilot.press("ctrl+s")
                await says(pilot, "#save-result", f"“{name}” = '{bad}' is not valid")
                await says(pilot, "#save-result", words)
                screen.query_one(f"#{name}").value = ""
            for name, value in (
                ("smtp_host", "127.0.0.1"),
                ("smtp_from", "billing@example.com"),
                ("smtp_security", "starttls"),
                ("smtp_username", "billing"),
                ("twilio_api_url", "http://127.0.0.1:9"),
            ):
                screen.query_one(f"#{name}").value = value
            await pilot.press("ctrl+s")
            await says(pilot, "#save-result", "Saved.")
            await says(pilot, "#links-result", "needs the SMTP password (a user name is set)")
            screen.query_one("#smtp_password").value = "relay-pass-123"
            await pilot.press("ctrl+s")
            await says(pilot, "#save-result", "Saved.")
            await says(pilot, "#links-result", "Texting links needs the Twilio account SID")
            assert "E-mailing" not in str(screen.query_one("#links-result").render())
            assert store.get("smtp_password") == "relay-pass-123"
            saved = config.read_text()
            assert "relay-pass-123" not in saved and "relay-pass-123" not in screen_text(app)
            assert 'smtp_username = "billing"' in saved and "smtp_security" in saved

            await pilot.press("ctrl+o")
            await wait_for_area(pilot, "Sign in")
            await sign_in(pilot, "ana", "1234")
            await wait_for_area(pilot, "Lookup")
            await open_invoice(pilot, number)
            await pilot.press("l")
            await wait_for_area(pilot, "Payment links")
            await wait_for_text(pilot, "Left to collect")
            # The e-mail sender logs in with what Setup saved, over the chosen security.
            live = services.live_links.service
            assert live is not None and live._email is not None
            smtp = live._email.settings
            assert (smtp.username, smtp.password, smtp.tls) == (
                "billing",
                "relay-pass-123",
                "starttls",
            )
        await services.aclose()
