"""The terminal interface the app codes against, and the typed results every driver returns.

Card numbers never reach this code: the terminal reads the card and answers with a token, the brand
and the last four digits at most.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass, field


class TerminalState(enum.Enum):
    """What the terminal is doing, for a live panel at the counter."""

    CONNECTING = "connecting"
    SENDING = "sending"
    WAITING_FOR_CARD = "waiting for card"
    WAITING_FOR_PIN = "waiting for PIN"
    KEYED_ENTRY = "waiting for keyed entry"
    AUTHORISING = "authorising with the host"
    PRINTING = "finishing"
    DONE = "done"


ProgressCallback = Callable[[TerminalState], None]


class EntryMethod(enum.Enum):
    CHIP = "chip"
    CONTACTLESS = "contactless"
    SWIPE = "swipe"
    KEYED = "keyed"
    TOKEN = "card on file"
    ACH = "ach"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TerminalInfo:
    model: str
    serial_number: str
    firmware: str


@dataclass(frozen=True)
class Approved:
    """The host approved. ``approved_cents`` may be less than asked: a partial approval."""

    ecr_ref: str
    approved_cents: int
    requested_cents: int
    auth_code: str
    host_ref: str
    terminal_ref: str
    brand: str = ""
    last4: str = ""
    entry_method: EntryMethod = EntryMethod.UNKNOWN
    token: str | None = None
    card_expiry: str | None = None  # MMYY, only when a token was issued
    batch_number: str = ""

    @property
    def is_partial(self) -> bool:
        return self.approved_cents < self.requested_cents


@dataclass(frozen=True)
class Declined:
    ecr_ref: str
    host_code: str
    host_message: str


@dataclass(frozen=True)
class Cancelled:
    """Cancelled at the terminal (by the cardholder, or by the clerk through ``cancel``)."""

    ecr_ref: str
    reason: str = "cancelled"


@dataclass(frozen=True)
class Unknown:
    """The outcome is not known (lost reply, time-out, line dropped). Settle it with ``status``;
    never send the request again."""

    ecr_ref: str
    reason: str


@dataclass(frozen=True)
class TerminalError:
    """The terminal refused or failed before any money moved; ``message`` is for a technician."""

    ecr_ref: str | None
    code: str
    message: str


@dataclass(frozen=True)
class NotFound:
    """A status query found no transaction with that reference: it never reached the host."""

    ecr_ref: str


@dataclass(frozen=True)
class BatchClosed:
    """The terminal closed its batch. ``totals_known`` is False when it said so (000000) but its
    count or total could not be read: the batch is closed all the same; check the terminal's
    report for the figures (``count`` and ``total_cents`` are then 0)."""

    batch_number: str
    count: int
    total_cents: int
    totals_known: bool = True


TransactionResult = Approved | Declined | Cancelled | Unknown | TerminalError
StatusResult = Approved | Declined | Cancelled | NotFound | Unknown | TerminalError


@dataclass(frozen=True)
class AchAccount:
    """Keyed ACH details: passed to the terminal once, never stored; ``repr`` masks them."""

    routing_number: str
    account_number: str
    account_type: str = "checking"  # or "savings"
    holder_name: str = field(default="")

    def __repr__(self) -> str:
        return f"AchAccount(routing=••••{self.routing_number[-4:]}, account=••••{self.account_number[-4:]})"

    __str__ = __repr__


@dataclass(frozen=True)
class Capabilities:
    """What a protocol can do, for the UI to offer or leave out (never an exception to catch).

    ``linked_refund``: a refund names the original and the terminal limits it to what is left;
    without it the card is presented again and only the app's ledger limits the amount.
    """

    card_on_file: bool = True
    keyed_card: bool = True
    keyed_ach: bool = True
    linked_refund: bool = True


class Terminal(abc.ABC):
    """One card terminal. Every method is async and safe to call from the event loop.

    ``ecr_ref`` is the app's unique reference for the request; the driver sends it to the terminal
    so that ``status(ecr_ref)`` can later say what happened. A driver never resends a money request
    on its own: when a reply is lost it returns :class:`Unknown`.
    """

    url: str
    #: what this protocol offers; a method it lacks answers ``TerminalError("NOT_SUPPORTED")``
    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    async def initialize(self) -> TerminalInfo: ...

    @abc.abstractmethod
    async def sale(
        self,
        amount_cents: int,
        ecr_ref: str,
        *,
        request_token: bool = False,
        keyed: bool = False,
        progress: ProgressCallback | None = None,
        invoice: str = "",
    ) -> TransactionResult: ...

    @abc.abstractmethod
    async def sale_with_token(
        self,
        amount_cents: int,
        ecr_ref: str,
        token: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult: ...

    @abc.abstractmethod
    async def ach_sale(
        self,
        amount_cents: int,
        ecr_ref: str,
        account: AchAccount,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult: ...

    @abc.abstractmethod
    async def refund(
        self,
        amount_cents: int,
        ecr_ref: str,
        original_ref: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        """Refund ``amount_cents`` (full or partial) of the transaction whose host/terminal
        reference is ``original_ref``."""

    @abc.abstractmethod
    async def void(
        self, ecr_ref: str, original_ref: str, *, progress: ProgressCallback | None = None
    ) -> TransactionResult: ...

    @abc.abstractmethod
    async def batch_close(self) -> BatchClosed | TerminalError: ...

    @abc.abstractmethod
    async def status(self, ecr_ref: str) -> StatusResult:
        """What happened to the request with ``ecr_ref``: the way to settle an :class:`Unknown`."""

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Ask the terminal to abandon what it is doing (the pending request then ends Cancelled)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Terminal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
