"""The sandbox's state: Stripe-shaped objects, the operations of the subset, and the events they
emit. No HTTP here (see ``app.py``); every operation takes decoded parameters and returns the JSON
object Stripe would, or raises :class:`StripeProblem`.

Split by what it holds: :mod:`.account` (ids, clock, events, pagination), :mod:`.catalog`
(products, prices, links), :mod:`.sessions` (Checkout Sessions), :mod:`.payments` (test cards, intents, charges, refunds).
"""

from __future__ import annotations

from gateways.stripe.sandbox.account import API_VERSION, Account
from gateways.stripe.sandbox.payments import PaymentOutcome, Payments
from gateways.stripe.sandbox.sessions import Sessions

__all__ = ["API_VERSION", "Account", "PaymentOutcome", "Store"]


class Store(Sessions, Payments):
    """All objects of one sandbox account (see :class:`Account`)."""
