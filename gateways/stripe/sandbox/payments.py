"""Paying on the hosted page with Stripe's test cards, PaymentIntents and charges, and refunds.

Card numbers reach :meth:`Payments.attempt_payment` from the hosted page only; they are checked
and dropped there. Objects keep the brand and the last four digits, as Stripe's do.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from gateways.stripe.sandbox.account import Account
from gateways.stripe.sandbox.errors import StripeProblem
from gateways.stripe.sandbox.params import Json, check_keys, int_param, metadata_of

__all__ = ["PaymentOutcome", "Payments"]

# Stripe's published test cards (the ones this sandbox knows).
_APPROVE = {
    "4242424242424242": ("visa", "credit"),
    "5555555555554444": ("mastercard", "credit"),
    "378282246310005": ("amex", "credit"),
}
_DECLINE = {
    "4000000000000002": ("visa", "generic_decline", "Your card was declined."),
    "4000000000009995": ("visa", "insufficient_funds", "Your card has insufficient funds."),
}


@dataclass(frozen=True)
class PaymentOutcome:
    """What the hosted page shows after a payment attempt (no card data in it)."""

    approved: bool
    message: str
    session_id: str
    payment_intent: str | None = None
    brand: str = ""
    last4: str = ""


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


class Payments(Account):
    """The money side: payment attempts, intents, charges, refunds."""

    # ---------------------------------------------------------------- paying (hosted page)

    def link_refusal(self, link: Json) -> str | None:
        """Why the link's page takes no payment now, or None when it does."""
        if not link["active"]:
            return link["inactive_message"] or "This link is no longer active."
        r = link["restrictions"]
        if r and r["completed_sessions"]["count"] >= r["completed_sessions"]["limit"]:
            return "This link has already been paid. Thank you."
        return None

    def attempt_payment(
        self, cs_id: str, card_number: str, exp: str, cvc: str, name: str
    ) -> PaymentOutcome:
        """Charge the session with a test card. The card number is used here and dropped."""
        digits = "".join(ch for ch in card_number if ch.isdigit())
        with self.lock:
            self._expire_due()
            obj = self._c["checkout.session"].items.get(cs_id)
            if obj is None:
                return PaymentOutcome(False, "This checkout page was not found.", cs_id)
            if obj["status"] == "complete":
                return PaymentOutcome(False, "This payment is already complete.", cs_id)
            if obj["status"] == "expired":
                return PaymentOutcome(False, "This checkout page has expired.", cs_id)
            link = self._c["payment_link"].items.get(obj["payment_link"] or "")
            if link is not None:
                refusal = self.link_refusal(link)
                if refusal:
                    return PaymentOutcome(False, refusal, cs_id)
            if len(digits) < 13 or len(digits) > 19 or not _luhn_ok(digits):
                return PaymentOutcome(False, "Your card number is invalid.", cs_id)
            month, _, year = exp.replace(" ", "").partition("/")
            if not (month.isdigit() and year.isdigit() and 1 <= int(month) <= 12):
                return PaymentOutcome(False, "Your card's expiration date is invalid.", cs_id)
            yy = int(year) + (2000 if len(year) == 2 else 0)
            now_t = time.gmtime(self.now())
            if (yy, int(month)) < (now_t.tm_year, now_t.tm_mon):
                return PaymentOutcome(False, "Your card's expiration date is in the past.", cs_id)
            if not (cvc.isdigit() and len(cvc) in (3, 4)):
                return PaymentOutcome(False, "Your card's security code is invalid.", cs_id)
            last4 = digits[-4:]
            if digits in _APPROVE:
                brand, funding = _APPROVE[digits]
                return self._approve(obj, link, brand, funding, last4, int(month), yy, name)
            if digits in _DECLINE:
                brand, code, message = _DECLINE[digits]
            else:
                brand, code = "visa" if digits[0] == "4" else "unknown", "test_mode_live_card"
                message = "Your card was declined. Your request was in test mode, but used a non test card."
            return self._decline(obj, brand, last4, int(month), yy, name, code, message)

    def _intent(self, session: Json) -> Json:
        if session["payment_intent"]:
            pi: Json = self._c["payment_intent"].items[session["payment_intent"]]
            return pi
        pi_id = self.new_id("pi")
        pi_data = session["_pi_data"] or {}
        pi = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_{self.new_id('x', 16)[3:]}",
            "confirmation_method": "automatic",
            "created": self._ts(),
            "currency": session["currency"],
            "customer": None,
            "description": pi_data.get("description"),
            "invoice": None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(pi_data.get("metadata") or {}),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        self._c["payment_intent"].items[pi_id] = pi
        session["payment_intent"] = pi_id
        self._emit("payment_intent.created", pi)
        return pi

    def _charge(self, pi: Json, brand: str, funding: str, last4: str, month: int, year: int,
                name: str, *, paid: bool, code: str | None = None, message: str | None = None) -> Json:  # fmt: skip
        ch_id = self.new_id("ch")
        pm_id = self.new_id("pm")
        charge: Json = {
            "id": ch_id,
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if paid else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": self.new_id("txn") if paid else None,
            "billing_details": {
                "address": None,
                "email": None,
                "name": name or None,
                "phone": None,
            },
            "calculated_statement_descriptor": "POSPLUS SANDBOX",
            "captured": paid,
            "created": self._ts(),
            "currency": pi["currency"],
            "customer": None,
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if paid else "card_declined",
            "failure_message": None if paid else message,
            "fraud_details": {},
            "invoice": None,
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "on_behalf_of": None,
            "outcome": {
                "network_status": "approved_by_network" if paid else "declined_by_network",
                "reason": None if paid else code,
                "risk_level": "normal",
                "seller_message": "Payment complete."
                if paid
                else "The bank did not return any further details with this decline.",
                "type": "authorized" if paid else "issuer_declined",
            },
            "paid": paid,
            "payment_intent": pi["id"],
            "payment_method": pm_id,
            "payment_method_details": {
                "card": {
                    "brand": brand,
                    "country": "US",
                    "exp_month": month,
                    "exp_year": year,
                    "funding": funding,
                    "last4": last4,
                },
                "type": "card",
            },
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "refunds": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/charges/{ch_id}/refunds",
            },
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if paid else "failed",
            "transfer_data": None,
            "transfer_group": None,
        }
        self._c["charge"].items[ch_id] = charge
        pi["latest_charge"] = ch_id
        pi["payment_method"] = pm_id
        return charge

    def _approve(self, session: Json, link: Json | None, brand: str, funding: str, last4: str,
                 month: int, year: int, name: str) -> PaymentOutcome:  # fmt: skip
        pi = self._intent(session)
        charge = self._charge(pi, brand, funding, last4, month, year, name, paid=True)
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["last_payment_error"] = None
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", pi)
        session["status"] = "complete"
        session["payment_status"] = "paid"
        session["customer_details"] = {
            "address": None, "email": None, "name": name or None, "phone": None,
            "tax_exempt": "none", "tax_ids": [],
        }  # fmt: skip
        if link is not None and link["restrictions"]:
            link["restrictions"]["completed_sessions"]["count"] += 1
        self._emit("checkout.session.completed", self._wire_session(session))
        return PaymentOutcome(True, "Payment successful.", session["id"], pi["id"], brand, last4)

    def _decline(self, session: Json, brand: str, last4: str, month: int, year: int, name: str,
                 code: str, message: str) -> PaymentOutcome:  # fmt: skip
        pi = self._intent(session)
        charge = self._charge(
            pi, brand, "credit", last4, month, year, name, paid=False, code=code, message=message
        )
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = {
            "charge": charge["id"],
            "code": "card_declined",
            "decline_code": code,
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": message,
            "type": "card_error",
        }
        self._emit("charge.failed", charge)
        self._emit("payment_intent.payment_failed", pi)
        return PaymentOutcome(False, message, session["id"], pi["id"], brand, last4)

    # ---------------------------------------------------------------- payment intents and refunds

    def get_payment_intent(self, pi_id: str, params: Json | None = None) -> Json:
        pi = copy.deepcopy(self._get("payment_intent", pi_id, "intent"))
        if "latest_charge" in ((params or {}).get("expand") or ()) and pi["latest_charge"]:
            pi["latest_charge"] = copy.deepcopy(self._c["charge"].items[pi["latest_charge"]])
        return pi

    def create_refund(self, params: Json, request: Json | None = None) -> Json:
        check_keys(params, {"payment_intent", "charge", "amount", "reason", "metadata", "expand"})
        if "payment_intent" in params and "charge" in params:
            raise StripeProblem(
                400, "You may only specify one of these parameters: charge, payment_intent."
            )
        if "payment_intent" in params:
            pi = self._get("payment_intent", str(params["payment_intent"]), "payment_intent")
            if pi["status"] != "succeeded" or not pi["latest_charge"]:
                raise StripeProblem(
                    400,
                    f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                    code="charge_not_refundable" if pi["latest_charge"] else "resource_missing",
                    param="payment_intent",
                )
            charge = self._c["charge"].items[pi["latest_charge"]]
        elif "charge" in params:
            charge = self._get("charge", str(params["charge"]), "charge")
        else:
            raise StripeProblem(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
            )
        remaining = int(charge["amount_captured"]) - int(charge["amount_refunded"])
        amount = int_param(params, "amount", lo=1)
        if amount is None:
            amount = remaining
        if remaining <= 0:
            raise StripeProblem(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount > remaining:
            raise StripeProblem(
                400,
                f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on charge (${remaining / 100:.2f})",
                param="amount",
            )
        reason = params.get("reason")
        if reason is not None and reason not in (
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ):
            raise StripeProblem(
                400,
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                param="reason",
            )
        re_id = self.new_id("re")
        refund: Json = {
            "id": re_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": self.new_id("txn"),
            "charge": charge["id"],
            "created": self._ts(),
            "currency": charge["currency"],
            "metadata": metadata_of(params),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "pending" if self._take_pending() else "succeeded",
            "transfer_reversal": None,
        }
        self._c["refund"].items[re_id] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
        self._emit("refund.created", refund, request)
        self._emit("charge.refunded", charge, request)
        return copy.deepcopy(refund)

    def get_refund(self, re_id: str) -> Json:
        return copy.deepcopy(self._get("refund", re_id, "refund"))

    def refunds(self) -> list[Json]:
        """Every refund, oldest first (the trainer's view; the API subset only retrieves one)."""
        return [copy.deepcopy(r) for r in self._c["refund"].items.values()]

    # ---------------------------------------------------------------- pending refunds

    #: How many of the next refunds start ``pending`` (a trainer control: on a real account a
    #: refund can stay pending for days, e.g. Stripe's test card 4000 0000 0000 7726).
    pending_refunds: int = 0

    def _take_pending(self) -> bool:
        if self.pending_refunds > 0:
            self.pending_refunds -= 1
            return True
        return False

    def settle_refund(self, re_id: str, outcome: str) -> Json:
        """A pending refund ends: ``succeeded``, or ``failed`` (the money goes back to the
        merchant's balance: the charge's ``amount_refunded`` drops). Emits ``refund.updated``
        with ``previous_attributes`` [inferred: Stripe documents the event, not its exact
        payload; failure_reason ``expired_or_canceled_card`` is one of its documented values]."""
        if outcome not in ("succeeded", "failed"):
            raise ValueError("outcome must be succeeded or failed")
        refund = self._get("refund", re_id, "refund")
        if refund["status"] != "pending":
            raise StripeProblem(400, f"Refund {re_id} is {refund['status']}, not pending.")
        refund["status"] = outcome
        charge = self._c["charge"].items[refund["charge"]]
        if outcome == "failed":
            refund["failure_reason"] = "expired_or_canceled_card"
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        charge["refunds"]["data"] = [
            copy.deepcopy(refund) if r["id"] == re_id else r for r in charge["refunds"]["data"]
        ]
        self._emit("refund.updated", refund, None, {"status": "pending"})
        return copy.deepcopy(refund)
