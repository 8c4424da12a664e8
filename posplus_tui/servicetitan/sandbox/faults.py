"""Fault injection for the sandbox, usable from tests and from the demo's training menu.

Every rule applies to the next N API calls that match it (method and/or path fragment); token
requests are never affected unless ``include_token`` is set.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from posplus_tui.servicetitan.sandbox.scopes import ALL_SCOPES

if TYPE_CHECKING:
    from posplus_tui.servicetitan.sandbox.store import Store

__all__ = ["FaultRule", "Faults"]

Kind = Literal["status", "slow", "drop", "commit"]
#: What a committed call answers with instead of its reply (``commit`` rules).
Reply = Literal["empty", "malformed", "status"]


@dataclass
class FaultRule:
    kind: Kind
    remaining: int
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    method: str | None = None
    path_contains: str | None = None
    include_token: bool = False
    #: For ``commit``: the work is done, then the reply is an empty body, a malformed body, or
    #: ``status`` with a gateway-shaped body.
    reply: Reply = "status"

    def matches(self, method: str, path: str, is_token: bool) -> bool:
        if is_token and not self.include_token:
            return False
        if self.method and self.method != method:
            return False
        return not (self.path_contains and self.path_contains not in path)


class Faults:
    """Switches the sandbox's misbehaviour on and off."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        #: When off, ``POST /payments`` answers like the 2026 catalog (route not there).
        self.payments_post_enabled = True
        self.payments_post_off_status = 404
        #: Bumped to make every token issued so far invalid (as if they all expired).
        self.token_generation = 0
        #: Scopes the app was not granted: calls needing one answer 403.
        self.revoked_scopes: set[str] = set()

    # -- what tests call ------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        retry_after: float | str | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """The next ``n`` matching calls answer ``status`` (429 gets a Retry-After)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._add(
            FaultRule(
                "status",
                n,
                status=status,
                retry_after=None if retry_after is None else _ra(retry_after),
                method=method,
                path_contains=path_contains,
            )
        )

    def throttle_next(self, n: int = 1, *, retry_after: float | str = 1, **match: str) -> None:
        """The next ``n`` calls get 429 Too Many Requests with ``Retry-After``."""
        self.fail_next(n, 429, retry_after=retry_after, **match)

    def slow_next(self, n: int = 1, seconds: float = 5.0, **match: str) -> None:
        """The next ``n`` calls answer only after ``seconds`` (longer than a client timeout)."""
        self._add(FaultRule("slow", n, delay=seconds, **match))  # type: ignore[arg-type]

    def drop_next_payment_reply(self, n: int = 1) -> None:
        """Commit-then-drop: the next ``n`` ``POST /payments`` save the payment, then the
        connection is cut before the reply."""
        self._add(FaultRule("drop", n, method="POST", path_contains="/payments"))

    def drop_next_reply(self, n: int = 1, **match: str) -> None:
        """Like :meth:`drop_next_payment_reply` for any matching call."""
        self._add(FaultRule("drop", n, **match))  # type: ignore[arg-type]

    def commit_then_reply(
        self,
        n: int = 1,
        reply: Reply = "status",
        *,
        status: int = 200,
        method: str | None = "POST",
        path_contains: str | None = "/payments",
    ) -> None:
        """The next ``n`` matching calls do their work (a payment is saved), then answer
        ``status`` with an empty body (``reply="empty"``), a body cut in the middle
        (``"malformed"``), or a gateway-shaped body (``"status"``, e.g. 408 or 500)."""
        self._add(
            FaultRule(
                "commit",
                n,
                status=status,
                reply=reply,
                method=method,
                path_contains=path_contains,
            )
        )

    def payments_visible_after(self, seconds: float) -> None:
        """Payments created from now on appear in ``GET /payments`` and the payment export
        only ``seconds`` after they were saved (a read replica or cache that lags), while the
        invoice balance moves at once. 0 switches it off."""
        self._store.visibility_delay = max(0.0, float(seconds))

    def disable_payment_posting(self, status: int = 404) -> None:
        """``POST /payments`` disappears (404, or 405), as in the 2026 catalog."""
        self.payments_post_enabled = False
        self.payments_post_off_status = status

    def enable_payment_posting(self) -> None:
        self.payments_post_enabled = True

    def delete_invoice(self, invoice_id: int) -> None:
        """The invoice is deleted in "ServiceTitan": gone from lists, inactive in exports."""
        self._store.delete_invoice(invoice_id)

    def revoke_scope(self, scope: str) -> None:
        """The app loses ``scope`` (e.g. ``tn.settings.employees:r``), as an app created without
        that box ticked: calls that need it answer 403 until :meth:`clear`."""
        if scope not in ALL_SCOPES:
            raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(sorted(ALL_SCOPES))}")
        self.revoked_scopes.add(scope)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (the next call gets 401)."""
        self.token_generation += 1

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        self.payments_post_enabled = True
        self.revoked_scopes.clear()
        self._store.visibility_delay = 0.0

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(r.remaining for r in self._rules)

    # -- what the app calls ---------------------------------------------------------------------

    def _add(self, rule: FaultRule) -> None:
        if rule.remaining <= 0:
            return
        with self._lock:
            self._rules.append(rule)

    def give_back(self, rule: FaultRule) -> None:
        """Return one use of ``rule``: a drop only counts when there was something to drop."""
        with self._lock:
            if rule.remaining == 0 and rule not in self._rules:
                self._rules.insert(0, rule)
            rule.remaining += 1

    def take(self, method: str, path: str, *, is_token: bool = False) -> FaultRule | None:
        """Consume and return the first rule matching this call, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and rule.matches(method, path, is_token):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None


def _ra(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)
