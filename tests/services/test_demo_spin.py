"""``posplus demo --terminal spin``: the demo takes a payment end to end on the Dejavoo SPIn
simulator (served over loopback HTTP): invoice from the sandbox, sale at the terminal, posted to
ServiceTitan; a lost reply is settled by status, never sent twice."""

from __future__ import annotations

from pathlib import Path

from drivers.spin.terminal import SpinTerminal
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.wiring import build_demo


async def test_the_demo_takes_a_payment_on_spin_and_posts_it(tmp_path: Path) -> None:
    services = build_demo(
        tmp_path, card_wait_ms=0, pin_cost=16, sync_on_start=False, terminal="spin"
    )
    try:
        terminal = services.payments._terminal  # type: ignore[union-attr]
        assert isinstance(terminal, SpinTerminal)
        assert services.settings.terminal_url.startswith("spin+http://127.0.0.1:")
        assert "demo" not in services.settings.terminal_url  # the key is not in the URL
        assert await services.terminal.test()  # the technician's test: TerminalStatus Online
        sandbox = services.sandbox
        wanted = sandbox.cases["unpaid_invoice_id"]
        inv = next(i for i in sandbox.data.invoices if i.id == wanted)
        detail = await services.lookup.open(inv.id)
        facts = InvoiceFacts(
            str(detail.id), detail.number, str(detail.customer_id or ""), detail.balance
        )
        clerk = next(o for o in services.operators.list_sync() if o.name == "clerk")
        result = await services.payments.charge(facts, operator=clerk, amount=Money(2500))
        assert result.state is TxnState.APPROVED, result.message
        assert result.transaction.last4 and result.transaction.approved == Money(2500)
        progress = await services.reconcile.drain_once(wait_for_retries=False)
        assert progress.posted >= 1
        # a reply lost at the terminal: unknown, settled by status with the same reference
        lost = await services.payments.charge(facts, operator=clerk, amount=Money(1009))
        assert lost.state is TxnState.APPROVED and lost.transaction.approved == Money(1009)
    finally:
        await services.aclose()


async def test_run_without_the_auth_key_says_so_and_uses_it_once_stored(
    tmp_path: Path,
) -> None:
    """``posplus run`` with a Dejavoo URL but no auth key stored: no traceback, no payments,
    Setup names the key; once it is stored, the terminal opens with it."""
    from drivers.spin.simulator import SpinSimulator, serve_spin
    from posplus_tui.config import Settings
    from posplus_tui.secrets import MemoryKeyring, SecretStore
    from posplus_tui.services.wiring import build_run
    from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, Sandbox

    sim = SpinSimulator(tpn="RUNTPN000001", authkey="RunK3yK3y0")
    server = await serve_spin(sim)
    sandbox = Sandbox(seed=1, size="demo")
    creds = sandbox.credentials
    settings = Settings(
        environment="sandbox",
        tenant_id=str(creds.tenant_id),
        client_id=creds.client_id,
        reconciliation_username="DLee",
        terminal_url=server.url,
        database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        sandbox_url=IN_PROCESS_BASE_URL,
    )
    secrets = SecretStore(backend=MemoryKeyring(), environ={}, tenant=settings.tenant_id)
    secrets.set("client_secret", creds.client_secret)
    secrets.set("app_key", creds.app_key)
    services = build_run(settings, secrets=secrets, pin_cost=16)
    try:
        assert services.payments is None
        assert "auth key" in services.not_ready
        assert services.missing_setup() == ["terminal auth key (keyring)"]
    finally:
        await services.aclose()
    secrets.set("terminal_authkey", sim.authkey)
    services = build_run(settings, secrets=secrets, pin_cost=16)
    try:
        assert services.payments is not None and services.payments.offers("card")
        assert await services.terminal.test()
    finally:
        await services.aclose()
        await server.close()
