"""A station that runs one sale and freezes at a named state boundary, waiting to be SIGKILLed.

Run by ``test_kill.py`` as a separate process::

    python tests/reliability/child_sale.py DB_URL TERMINAL_URL AMOUNT KILL_POINT

It prints ``REACHED <point>`` at every boundary and ``FROZEN <point>`` when it reaches KILL_POINT,
then blocks (the whole process, event loop included) until the parent kills it.
"""

from __future__ import annotations

import asyncio
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

    def checkpoint(name: str) -> None:
        print(f"REACHED {name}", flush=True)
        if name == kill_point:
            print(f"FROZEN {name}", flush=True)
            time.sleep(3600)  # blocks everything: the parent SIGKILLs us here

    async def run() -> None:
        ledger = open_ledger(db_url)
        operators = OperatorService(ledger, station="Kill Station", pin_cost=16)
        clerk = operators.sign_in_sync("Kim Clerk", "1234")
        terminal = drivers.open_terminal(terminal_url)
        pay = PaymentService(
            ledger, terminal, operators, station="Kill Station", checkpoint=checkpoint
        )
        invoice = InvoiceFacts("4242", "INV-4242", "77", Money.parse(amount), "J-4242")
        result = await pay.charge(invoice, operator=clerk)
        print(f"DONE {result.state.value}", flush=True)

    asyncio.run(run())


if __name__ == "__main__":
    main()
