"""A station in its own process: its own engine, its own terminal, the shared ledger.

Run by ``test_two_stations.py``::

    python tests/reliability/child_station.py DB_URL TERMINAL_URL STATION CLERK PIN

It prints ``READY`` once signed in, then for each line ``charge INVOICE_ID BALANCE`` on stdin
charges the invoice's balance and prints one line: ``RESULT <state> <message>`` or
``REFUSED <message>`` when the engine refused it before the terminal.
"""

from __future__ import annotations

import asyncio
import sys

import drivers
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.ledger import open_ledger
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService


async def main() -> None:
    db_url, terminal_url, station, clerk, pin = sys.argv[1:6]
    ledger = open_ledger(db_url)
    operators = OperatorService(ledger, station=station, pin_cost=16)
    operator = operators.sign_in_sync(clerk, pin)
    terminal = drivers.open_terminal(terminal_url)
    pay = PaymentService(ledger, terminal, operators, station=station)
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.strip():
            break
        _cmd, invoice_id, balance = line.split()
        invoice = InvoiceFacts(invoice_id, f"INV-{invoice_id}", "77", Money.parse(balance))
        try:
            result = await pay.charge(invoice, operator=operator)
        except ServiceError as exc:
            print(f"REFUSED {exc}", flush=True)
        else:
            print(f"RESULT {result.state.value} {result.message}", flush=True)
    await terminal.close()
    ledger.dispose()


if __name__ == "__main__":
    asyncio.run(main())
