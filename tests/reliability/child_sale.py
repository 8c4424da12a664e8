"""A station that runs one sale (or a sale, then a refund of part of it) and freezes at a named
state boundary of the last request, waiting to be SIGKILLed.

Run by ``test_kill.py`` as a separate process::

    python tests/reliability/child_sale.py DB_URL TERMINAL_URL AMOUNT KILL_POINT [sale|refund]

It prints ``REACHED <point>`` at every boundary and ``FROZEN <point>`` when it reaches KILL_POINT,
then blocks (the whole process, event loop included) until the parent kills it.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time

import drivers
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.ledger import open_ledger
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService


def main() -> None:
    db_url, terminal_url, amount, kill_point = sys.argv[1:5]
    mode = sys.argv[5] if len(sys.argv) > 5 else "sale"
    armed = mode == "sale"  # for a refund, only the refund's boundaries count

    def checkpoint(name: str) -> None:
        print(f"REACHED {name}", flush=True)
        if armed and name == kill_point:
            print(f"FROZEN {name}", flush=True)
            time.sleep(3600)  # blocks everything: the parent SIGKILLs us here

    async def run() -> None:
        ledger = open_ledger(db_url)
        operators = OperatorService(ledger, station="Kill Station", pin_cost=16)
        clerk = operators.sign_in_sync("Kim Clerk", "1234")
        supervisor = operators.sign_in_sync("Sue Super", "5678")
        terminal = drivers.open_terminal(terminal_url)
        pay = PaymentService(
            ledger, terminal, operators, station="Kill Station", checkpoint=checkpoint
        )
        # One invoice per run: the ledger holds a charge against its invoice until it is posted.
        n = f"42{secrets.randbelow(10**9)}"
        invoice = InvoiceFacts(n, f"INV-{n}", "77", Money.parse(amount), f"J-{n}")
        result = await pay.charge(invoice, operator=clerk)
        if mode == "refund":
            nonlocal armed
            armed = True
            result = await pay.refund(result.ecr_ref, Money.parse("50.00"), operator=supervisor)
        print(f"DONE {result.state.value}", flush=True)

    asyncio.run(run())


if __name__ == "__main__":
    main()
