"""Checkout Sessions: one per visit to a link's page (as on Stripe), or made directly; they
expire after a day unpaid."""

from __future__ import annotations

import copy
from typing import Any

from gateways.stripe.sandbox.account import CHECKOUT_LIFETIME
from gateways.stripe.sandbox.catalog import Catalog
from gateways.stripe.sandbox.errors import StripeProblem
from gateways.stripe.sandbox.params import Json, check_keys, int_param, metadata_of

__all__ = ["Sessions"]


class Sessions(Catalog):
    """Checkout Sessions on top of the catalogue (their line items are its prices)."""

    def _session(self, *, link: Json | None, items: list[Json], metadata: dict[str, str],
                 pi_data: Json, success_url: str | None, client_reference_id: Any,
                 expires_at: int | None, request: Json | None) -> Json:  # fmt: skip
        now = self._ts()
        cs_id = self.new_id("cs_test", 58)
        total = sum(int(i["amount_total"]) for i in items)
        obj: Json = {
            "id": cs_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "status": None},
            "billing_address_collection": None,
            "cancel_url": None,
            "client_reference_id": client_reference_id
            if isinstance(client_reference_id, str)
            else None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": items[0]["currency"],
            "custom_fields": [],
            "custom_text": {"shipping_address": None, "submit": None},
            "customer": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "customer_email": None,
            "expires_at": expires_at or now + CHECKOUT_LIFETIME,
            "invoice": None,
            "invoice_creation": None,
            "livemode": False,
            "locale": None,
            "metadata": metadata,
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None if link is None else link["id"],
            "payment_method_collection": "always",
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_details": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "url": f"{self.public_url}/c/pay/{cs_id}",
            "_line_items": items,
            "_pi_data": pi_data,
        }
        self._c["checkout.session"].items[cs_id] = obj
        return obj

    def create_checkout_session(self, params: Json, request: Json | None = None) -> Json:
        check_keys(
            params,
            {"mode", "line_items", "success_url", "cancel_url", "metadata", "client_reference_id",
             "expires_at", "payment_intent_data", "expand", "customer_email", "payment_method_types"},
        )  # fmt: skip
        if params.get("mode") != "payment":
            raise StripeProblem(400, "This sandbox only supports mode=payment.", param="mode")
        items = self._line_items(params.get("line_items"))
        expires_at = int_param(params, "expires_at", lo=0, hi=2**40)
        now = self._ts()
        if expires_at is not None and not now + 1800 <= expires_at <= now + CHECKOUT_LIFETIME:
            raise StripeProblem(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                param="expires_at",
            )
        raw_pid = params.get("payment_intent_data")
        pid: Json = raw_pid if isinstance(raw_pid, dict) else {}
        obj = self._session(
            link=None, items=items, metadata=metadata_of(params),
            pi_data={"metadata": metadata_of(pid), "description": pid.get("description")},
            success_url=params.get("success_url"), client_reference_id=params.get("client_reference_id"),
            expires_at=expires_at, request=request,
        )  # fmt: skip
        return self._wire_session(obj, params.get("expand") or ())

    def session_for_link(self, link: Json) -> Json:
        """A visit to a link's URL starts a Checkout Session (as on Stripe)."""
        return self._session(
            link=link, items=link["_line_items"], metadata=dict(link["metadata"]),
            pi_data=copy.deepcopy(link["payment_intent_data"]), success_url=None,
            client_reference_id=None, expires_at=None, request=None,
        )  # fmt: skip

    def session(self, cs_id: str) -> Json | None:
        self._expire_due()
        return self._c["checkout.session"].items.get(cs_id)

    def get_checkout_session(self, cs_id: str, params: Json | None = None) -> Json:
        self._expire_due()
        obj = self._get("checkout.session", cs_id, "session")
        return self._wire_session(obj, (params or {}).get("expand") or ())

    def list_checkout_sessions(self, params: Json) -> Json:
        check_keys(
            params,
            {"payment_link", "payment_intent", "limit", "starting_after", "ending_before", "expand",
             "customer", "status"},
        )  # fmt: skip
        self._expire_due()
        items = list(self._c["checkout.session"].items.values())
        if "payment_link" in params:
            items = [o for o in items if o["payment_link"] == params["payment_link"]]
        if "payment_intent" in params:
            items = [o for o in items if o["payment_intent"] == params["payment_intent"]]
        if "status" in params:
            items = [o for o in items if o["status"] == params["status"]]
        wired = [self._wire_session(o) for o in items]
        return self._page(wired, params, "/v1/checkout/sessions", "checkout.session")

    def expire_checkout_session(self, cs_id: str, request: Json | None = None) -> Json:
        obj = self._get("checkout.session", cs_id, "session")
        if obj["status"] != "open":
            raise StripeProblem(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "{obj["status"]}".',
            )
        self._expire(obj, request)
        return self._wire_session(obj)
