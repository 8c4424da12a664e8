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
