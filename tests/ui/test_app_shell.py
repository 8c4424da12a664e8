"""The shell around the screens: the command palette, help, and `posplus run` opening Setup."""

from __future__ import annotations

from posplus_tui.config import Settings
from posplus_tui.services.clock import FixedClock
from posplus_tui.services.wiring import build_run
from posplus_tui.ui.app import PosPlusApp
from posplus_tui.ui.commands import ScreenActions
from tests.ui.conftest import (
    TEST_PIN_COST,
    invoice_number,
    open_invoice,
    screen_text,
    settle,
    sign_in,
    wait_for,
    wait_for_area,
    wait_for_text,
)


async def test_the_palette_offers_every_action_of_the_current_screen(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        provider = ScreenActions(app.screen)
        names = [hit.text async for hit in provider.discover()]
        for action in ("Charge", "Deposit", "Card on file", "Keyed card", "ACH", "Back"):
            assert f"Invoice: {action}" in names
        # Refund and void need one of our payments: until then they are not offered.
        assert "Invoice: Refund" not in names and "Invoice: Void" not in names
        assert not any("Focus" in name for name in names)
        assert "App: Help" in names and "App: Reconcile" in names
        # Running one from the palette does what its key does.
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Deposit")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await wait_for_area(pilot, "Charge")


async def test_help_lists_keys_and_screens(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 60)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        text = screen_text(app)
        assert "EVERYWHERE" in text and "f6 Reconcile" in text and "CHARGE" in text
        await pilot.press("escape")
        await settle(pilot)
        await wait_for_area(pilot, "Sign in")


async def test_run_with_an_incomplete_configuration_opens_setup(tmp_path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    services = build_run(settings, clock=FixedClock(), pin_cost=TEST_PIN_COST)
    assert services.payments is None and services.missing_setup()
    app = PosPlusApp(services, status_every=0)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await wait_for_area(pilot, "Setup")
        text = screen_text(app)
        assert "Welcome" in text and "ServiceTitan not set up" in text


async def test_sign_out_leaves_an_empty_form_for_the_next_person(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await pilot.press("f6")
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.screen.AREA == "Sign in" and app.operator is None
        assert app.screen.query_one("#signin-username").value == ""
        await wait_for_text(pilot, "nobody signed in")
        await sign_in(pilot, "supervisor", "2222")
        assert app.screen.AREA == "Lookup" and app.operator_label == "supervisor"


async def test_before_sign_in_only_what_can_be_done_there_is_offered(demo_app) -> None:
    """The sign-in footer and palette offer Sign in, Help and Quit: the areas (F5…F8) and Sign
    out mean nothing yet, and they come back once someone has signed in."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await wait_for_text(pilot, "Sign in")
        footer = " ".join(strip.text for strip in app.screen._compositor.render_strips()[-1:])
        assert "Sign in" in footer and "Help" in footer and "Quit" in footer
        assert "Lookup" not in footer and "Sign out" not in footer and "Setup" not in footer
        names = [hit.text async for hit in ScreenActions(app.screen).discover()]
        assert not any("Lookup" in name or "Reconcile" in name for name in names)
        await pilot.press("f6")  # does nothing before sign-in
        await pilot.pause()
        assert app.screen.AREA == "Sign in"
        await sign_in(pilot, "clerk", "1111")
        await wait_for_text(pilot, "Reconcile")
        names = [hit.text async for hit in ScreenActions(app.screen).discover()]
        assert "App: Reconcile" in names and "App: Sign out" in names


def _footer(app: PosPlusApp) -> tuple[list[str], bool]:
    """The keys the footer draws, and whether they all fit beside the palette key."""
    from textual.widgets import Footer

    footer = app.screen.query_one(Footer)
    keys = [k for k in footer.query("FooterKey") if "-command-palette" not in k.classes]
    palette = [k for k in footer.query("FooterKey") if "-command-palette" in k.classes]
    room = palette[0].region.x if palette else footer.region.right
    fits = all(k.region.right + k.styles.margin.right <= room for k in keys)
    return [k.description for k in keys], fits


async def test_every_footer_fits_80_columns_with_the_keys_of_its_screen(demo_app) -> None:
    """At 80×24 every footer draws all the keys of its screen, none cut off: a task screen
    keeps the footer for the task; the areas, sign-out and quit are drawn at home."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:

        async def check(area: str, *expected: str, absent: tuple[str, ...] = ()) -> None:
            await wait_for_area(pilot, area)
            await settle(pilot)
            keys, fits = _footer(app)
            assert fits, f"{area}: {keys} do not fit"
            assert set(expected) <= set(keys), (area, keys)
            assert not set(absent) & set(keys), (area, keys)

        await settle(pilot)
        await check("Sign in", "Sign in", "Quit", "Help", absent=("Lookup", "Sign out"))
        await sign_in(pilot, "admin", "4444")
        home = ("Reconcile", "Terminal", "Setup", "Sign out", "Quit", "Help")
        await check("Lookup", *home, absent=("Lookup",))
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        # Nothing of ours on it yet: nothing to refund or void.
        await check("Invoice", "Charge", "Deposit", "Back", "Help", absent=("Refund", "Sign out"))
        await pilot.press("d")
        await check("Charge", "Send to terminal", "Help", absent=("Reconcile",))
        app.screen.query_one("#amount").value = "10.00"
        await pilot.press("f2")
        await wait_for_text(pilot, "PAYMENT APPROVED")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "transactions", None), what="ours")
        # A deposit taken: a balance left to charge, and one of ours to refund or void.
        await check("Invoice", "Charge", "Deposit", "Card on file", "Refund", "Void", "Back")
        await pilot.press("f")
        await check("Card on file", "Charge this card", "Revoke card", "Back", "Help")
        await pilot.press("escape")
        await check("Invoice")
        await pilot.press("r")
        await check("Refund / void", "Refund / void", "Cancel / back", "Help")
        await pilot.press("escape")
        await check("Invoice")
        await pilot.press("f8")
        await check("Setup", "Test connection", "Save", "Back", "Help")
        await pilot.press("f6")
        await check("Reconcile", "Retry", "Posted by hand", "Open invoice", "Back", "Help")
        await pilot.press("f7")
        await check("Terminal", "Test terminal", "Batch close", "Back", absent=("Sign out",))
        await pilot.press("ctrl+o")
        await sign_in(pilot, "technician", "3333")
        # A technician's home: the areas a technician works in, and no way "back".
        await check(
            "Terminal", "Test terminal", "Setup", "Sign out", "Quit",
            absent=("Back", "Lookup", "Reconcile", "Terminal"),
        )  # fmt: skip


async def test_first_run_setup_changes_are_events_in_the_audit_chain(tmp_path) -> None:
    """``posplus run`` on a fresh install: what Setup saves is recorded, old and new values for
    plain settings and only "stored in the keyring" for a secret."""
    from sqlmodel import select

    from posplus_tui.ledger.tables.audit import AuditEvent

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    services = build_run(
        settings, config_path=tmp_path / "c.toml", clock=FixedClock(), pin_cost=TEST_PIN_COST
    )
    app = PosPlusApp(services, status_every=0)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        app.screen.query_one("#tenant_id").value = "4242"
        app.screen.query_one("#client_secret").value = "s3cr3t-value-xyz"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await wait_for_text(pilot, "Saved.")
    with services.ledger.session() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "setting_changed")
        ).all()
    changed = {e.subject: e.details for e in events}
    assert {"tenant_id", "client_secret"} <= set(changed)
    assert '"new":"4242"' in changed["tenant_id"].replace(" ", "")
    assert "keyring" in changed["client_secret"]
    assert all(e.actor == "first-run setup" for e in events)
    assert not any("s3cr3t" in d for d in changed.values())


async def test_a_finished_setup_takes_payments_without_a_restart(tmp_path) -> None:
    """``posplus run`` on a fresh install: once Setup is saved complete, payments start at once
    (the ServiceTitan here is the sandbox, in-process)."""
    from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, Sandbox

    sandbox = Sandbox(seed=1, size="demo")
    creds = sandbox.credentials
    settings = Settings(
        environment="sandbox",
        sandbox_url=IN_PROCESS_BASE_URL,
        database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    )
    services = build_run(
        settings, config_path=tmp_path / "c.toml", clock=FixedClock(), pin_cost=TEST_PIN_COST
    )
    services.client_options = {"transport": sandbox.transport()}
    ada = services.operators.add_sync("ada", "admin", "4321")  # the first admin, on an empty ledger
    services.operators.add_sync("ana", "clerk", "1234", by=ada)
    assert services.payments is None
    app = PosPlusApp(services, status_every=0)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        # Operators exist: Setup opens only for an admin or technician who signed in.
        await wait_for_area(pilot, "Sign in")
        await sign_in(pilot, "ada", "4321")
        await wait_for_area(pilot, "Setup")
        fields = {
            "#tenant_id": str(creds.tenant_id),
            "#client_id": creds.client_id,
            "#client_secret": creds.client_secret,
            "#app_key": creds.app_key,
            "#reconciliation_username": "DLee",
            "#terminal_url": "sim://?card_wait_ms=0",
        }
        for selector, value in fields.items():
            app.screen.query_one(selector).value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        await wait_for_text(pilot, "Payments are ready")
        await pilot.press("ctrl+o")  # ada signs out; the clerk signs in
        await wait_for_area(pilot, "Sign in")
        assert services.payments is not None and services.terminal.state == "ready"
        await settle(pilot)
        await sign_in(pilot, "ana", "1234")
        await wait_for_area(pilot, "Lookup")
        wanted = sandbox.cases["unpaid_invoice_id"]
        number = next(i.number for i in sandbox.data.invoices if i.id == wanted)
        await open_invoice(pilot, number)
        await wait_for_text(pilot, f"API id {wanted}")


async def test_q_types_in_a_field_and_never_quits(demo_app) -> None:
    """A clerk types names with a q ("Quinn"): plain q never quits, wherever the focus is
    (quit is ctrl+q). The old check sat after the app had closed, so it could not fail."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await pilot.press(*"Quinn")  # a name with a q: typed, not a quit
        await settle(pilot)
        assert app.is_running and app.screen.query_one("#search").value == "Quinn"
        await pilot.press("ctrl+f", *"Garcia")
        await wait_for_text(pilot, "invoices match")
        await pilot.press("down")  # on the results: no text field has the focus
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert app.is_running
        await pilot.press("ctrl+q")  # nothing at the terminal: quits at once
        await pilot.pause()
        assert not app.is_running
