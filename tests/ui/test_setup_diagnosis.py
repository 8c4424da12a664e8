"""Test connection names the value that is wrong (issue 16), through the Setup screen's button
against the sandbox, which answers each fault the way ServiceTitan does (or, where its words are
not documented, the way ``posplus_tui/servicetitan/README.md`` says we inferred). One app per
test, the faults one after another (each put right before the next)."""

from __future__ import annotations

from posplus_tui import config
from tests.ui.conftest import screen_text, settle, sign_in, wait_for, wait_for_text


async def _setup_as_admin(pilot) -> None:
    await settle(pilot)
    await sign_in(pilot, "admin", "4444")
    await pilot.press("f8")
    await settle(pilot)
    await wait_for_text(pilot, "Connected: token received")


async def _test(pilot, expect: str) -> str:
    box = pilot.app.screen.query_one("#connection-result")
    box.update("")
    await pilot.click("#test-connection")
    await settle(pilot)
    await wait_for(pilot, lambda: expect in str(box.render()), what=expect)
    return str(box.render())


def _focused(app) -> str:
    return app.screen.focused.id if app.screen.focused is not None else ""


async def test_each_refused_value_is_named_and_gets_the_cursor(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await _setup_as_admin(pilot)
        screen, sandbox = app.screen, app.services.sandbox
        creds = sandbox.credentials

        # A wrong client secret: the token is refused; the pair is named, nothing else.
        screen.query_one("#client_secret").value = "cs1.not-the-right-secret"
        words = await _test(pilot, "did not accept")
        assert "Client ID / Client Secret" in words and "App Key" not in words
        assert _focused(app) == "client_secret"
        screen.query_one("#client_secret").value = ""

        # A tenant the credentials do not cover (secrets are kept per tenant: typed again).
        screen.query_one("#tenant_id").value = "1047000099"
        screen.query_one("#client_secret").value = creds.client_secret
        screen.query_one("#app_key").value = creds.app_key
        words = await _test(pilot, "Tenant ID")
        assert "refused the Tenant ID" in words and "Client Secret" not in words
        assert _focused(app) == "tenant_id"
        screen.query_one("#tenant_id").value = str(creds.tenant_id)

        # Another app's key: one token only, and the key is named (never the secret).
        before = sandbox.stats.token_requests
        screen.query_one("#app_key").value = "ak1.not-this-apps-key"
        words = await _test(pilot, "App Key")
        assert "did not accept the App Key" in words
        assert "client id and secret were accepted" in words
        assert sandbox.stats.token_requests == before + 1
        assert _focused(app) == "app_key"
        screen.query_one("#app_key").value = creds.app_key

        # A scope the app was not given: the scope, the step, and where scopes are granted.
        sandbox.faults.revoke_scope("tn.settings.technicians:r")
        words = await _test(pilot, "permission")
        assert "may not read the technicians" in words
        assert "tn.settings.technicians:r" in words and "developer.servicetitan.io" in words
        assert "Client Secret" not in words and "Tenant" not in words
        sandbox.faults.clear()
        await _test(pilot, "Connected: token received")


async def test_a_wrong_payment_type_and_usernames_in_other_capitals(demo_app) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        setup = app.services.setup
        # The one the seed keeps inactive: payments under it would be refused.
        setup.settings = config.updated(setup.settings, payment_type_name="POS+ (old terminal)")
        admin = next(o for o in app.services.operators.list_sync() if o.name == "admin")
        app.services.operators.add_sync(
            "Ana", "clerk", "5678", st_username="counter.clerk1", by=admin
        )
        await _setup_as_admin(pilot)
        app.screen.query_one("#payment_type").clear()
        app.screen.query_one("#reconciliation_username").value = "dlee"
        words = await _test(pilot, "To fix")
        assert "the payment type" in words and "the reconciliation user's username" in words
        assert "operators' usernames" in words
        warning = str(app.screen.query_one("#payment-type-warning").render())
        assert "“POS+ (old terminal)” is inactive in ServiceTitan" in warning
        assert _focused(app) == "payment_type"
        recon = str(app.screen.query_one("#recon-user-result").render())
        assert "Probably you meant “DLee”" in recon
        ops = str(app.screen.query_one("#operators-result").render())
        assert "Operator Ana" in ops and "“Counter.Clerk1”" in ops
        assert "counter.clerk1" in screen_text(app)
