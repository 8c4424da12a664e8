"""The posting channel, behind one interface so another channel can replace ServiceTitan's.

The 2026 API catalog no longer lists ``POST /payments``; if ServiceTitan removes it, a different
:class:`Poster` (a file export, a partner API) can take its place without touching the worker. The
worker only knows these types and the three outcomes a poster can raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from posplus_tui.domain.money import Money

ACTIONS = ("post_payment", "post_refund", "void_payment")


@dataclass(frozen=True)
class Posting:
    """What to record in ServiceTitan for one outbox row. ``amount`` is always positive."""

    outbox_id: int
    action: str
    marker: str
    invoice_id: int
    invoice_number: str
    amount: Money
    paid_on: datetime
    auth_code: str = ""
    description: str = ""
    #: For refunds and voids: the ServiceTitan payment id of the original sale, once posted.
    original_payment_id: str | None = None
    original_marker: str | None = None

    @property
    def balance_delta(self) -> Money:
        """How the invoice balance moves when this posting lands (a sale lowers it)."""
        if self.action == "post_payment":
            return -abs(self.amount)
        return abs(self.amount)


@dataclass(frozen=True)
class PostResult:
    """A posting that exists in ServiceTitan (just created, or found by its marker)."""

    payment_id: str
    #: The invoice whose balance moves (an adjustment invoice for some refunds).
    invoice_id: int
    #: Signed change of that invoice's balance.
    balance_delta: Money
    found_existing: bool = False
    note: str = ""
    #: The balance before this posting when the poster knows it better than the worker's pre-read
    #: (a refund on an adjustment invoice it just created).
    balance_before: Money | None = None


@dataclass(frozen=True)
class InvoiceState:
    """An invoice's money as the channel reports it when read back."""

    invoice_id: int
    balance: Money
    total: Money
    number: str = ""
    active: bool = True


@dataclass(frozen=True)
class RemotePayment:
    """A payment as the channel reports it, for verification and mismatch detection."""

    id: str
    type_id: str
    total: Money
    active: bool
    memo: str
    export_id: str
    applied: tuple[tuple[int, Money], ...]


class PosterError(Exception):
    """Base for the outcomes a poster raises instead of returning."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryLater(PosterError):
    """Transient (429, 5xx before anything was written, network down): try again after a pause.

    ``retry_after`` is the server's hint in seconds when it gave one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutcomeUnknown(PosterError):
    """The request may or may not have been recorded: search for the marker before re-posting."""


class NeedsAttention(PosterError):
    """ServiceTitan refused this posting for a reason retrying will not fix.

    ``server_message`` is what the server said; ``action`` is what a person should do about it.
    """

    def __init__(self, server_message: str, action: str) -> None:
        super().__init__(f"{server_message} — {action}")
        self.server_message = server_message
        self.action = action


class SetupProblem(PosterError):
    """The channel itself cannot be used (credentials, permissions, payment type, endpoint gone).

    Nothing can be posted until a person fixes ``fix``; the worker pauses instead of failing rows.
    """

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message} {fix}")
        self.message = message
        self.fix = fix


@runtime_checkable
class Poster(Protocol):
    """A channel that records our transactions in the accounting system exactly once."""

    async def prepare(self) -> None:
        """Check the channel is usable (payment type resolved, credentials good)."""

    async def post(self, posting: Posting) -> PostResult:
        """Record ``posting``. Raises RetryLater, OutcomeUnknown, NeedsAttention or SetupProblem."""

    async def find(self, posting: Posting) -> PostResult | None:
        """Look for an earlier record of ``posting`` by its marker; ``None`` if there is none."""

    async def find_in_feed(
        self, postings: Sequence[Posting], since: datetime
    ) -> dict[int, PostResult]:
        """Read the channel's change feed from ``since`` to its end and return the postings
        (by outbox id) whose marker is in it: a second source, apart from the search."""

    async def read_invoices(self, invoice_ids: Sequence[int]) -> dict[int, InvoiceState | None]:
        """Current balances and totals (``None`` for an invoice that is gone), batched."""

    async def get_payments(self, payment_ids: Sequence[str]) -> dict[str, RemotePayment]:
        """The payments by id (batched); missing ids are left out."""

    async def payments_on_invoice(self, invoice_id: int) -> list[RemotePayment]:
        """Every active payment applied to ``invoice_id``."""
