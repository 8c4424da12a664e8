"""The sandbox's state: Stripe-shaped objects, the operations of the subset, and the events they
emit. No HTTP here (see ``app.py``); every method takes decoded parameters and returns the JSON
object Stripe would, or raises :class:`StripeProblem`.

Card numbers reach :meth:`Store.attempt_payment` from the hosted page only; they are checked and
dropped there. Objects keep the brand and the last four digits, as Stripe's do.
"""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateways.stripe.sandbox.errors import StripeProblem, missing, unknown_param

__all__ = ["API_VERSION", "PaymentOutcome", "Store"]

#: The version of the subset this sandbox answers as (``info.version`` of the OpenAPI subset).
API_VERSION = "2023-08-16"
CHECKOUT_LIFETIME = 24 * 3600  # a Checkout Session's default life [T1]
EVENT_RETENTION = 30 * 24 * 3600  # events listable for 30 days [T5]

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

Json = dict[str, Any]


@dataclass(frozen=True)
class PaymentOutcome:
    """What the hosted page shows after a payment attempt (no card data in it)."""

    approved: bool
    message: str
    session_id: str
    payment_intent: str | None = None
    brand: str = ""
    last4: str = ""


@dataclass
class _Event:
    obj: Json
    visible_at: float


@dataclass
class _Collection:
    """Objects of one kind in creation order (lists answer newest first)."""

    kind: str
    items: dict[str, Json] = field(default_factory=dict)


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


def _int_param(params: Json, name: str, *, lo: int = 0, hi: int = 99_999_999) -> int | None:
    if name not in params:
        return None
    raw = params[name]
    if not isinstance(raw, str) or not raw.lstrip("-").isdigit():
        raise StripeProblem(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        )
    value = int(raw)
    if not lo <= value <= hi:
        raise StripeProblem(
            400,
            f"Invalid {name}: must be between {lo} and {hi}",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def _bool_param(params: Json, name: str) -> bool | None:
    if name not in params:
        return None
    raw = params[name]
    if raw not in ("true", "false"):
        raise StripeProblem(400, f"Invalid boolean: {raw}", param=name)
    return bool(raw == "true")


def _check_keys(params: Json, allowed: set[str], prefix: str = "") -> None:
    for key in params:
        if key not in allowed:
            raise unknown_param(f"{prefix}{key}")


def _metadata(params: Json, current: dict[str, str] | None = None) -> dict[str, str]:
    """Stripe's metadata rules: ≤50 keys, keys ≤40 chars, values ≤500; "" unsets a key."""
    out = dict(current or {})
    raw = params.get("metadata")
    if raw is None:
        return out
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeProblem(400, "Invalid metadata: must be a hash", param="metadata")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise StripeProblem(400, f"Invalid metadata[{key}]", param=f"metadata[{key}]")
        if len(key) > 40:
            raise StripeProblem(
                400, "Metadata keys can have up to 40 characters", param=f"metadata[{key}]"
            )
        if len(value) > 500:
            raise StripeProblem(
                400, "Metadata values can have up to 500 characters", param=f"metadata[{key}]"
            )
        if value == "":
            out.pop(key, None)
        else:
            out[key] = value
    if len(out) > 50:
        raise StripeProblem(400, "Metadata can have up to 50 keys", param="metadata")
    return out


class Store:
    """All objects of one sandbox account. Thread-safe: the hosted page and the API share it."""

    def __init__(self, *, seed: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self._rng = random.Random(seed)
        self._wall = clock
        self.offset = 0.0  # seconds added by the clock control
        self.public_url = "http://127.0.0.1"
        self.lock = threading.RLock()
        self.late_events_seconds = 0.0  # events emitted now become listable this much later
        self._c: dict[str, _Collection] = {
            k: _Collection(k)
            for k in (
                "product",
                "price",
                "payment_link",
                "checkout.session",
                "payment_intent",
                "charge",
                "refund",
            )
        }
        self._events: dict[str, _Event] = {}
        self._link_by_token: dict[str, str] = {}

    # ---------------------------------------------------------------- helpers

    def now(self) -> float:
        return self._wall() + self.offset

    def _ts(self) -> int:
        return int(self.now())

    def new_id(self, prefix: str, n: int = 24) -> str:
        alphabet = string.ascii_letters + string.digits
        return f"{prefix}_1{''.join(self._rng.choice(alphabet) for _ in range(n))}"

    def _get(self, kind: str, object_id: str, param: str = "id") -> Json:
        obj = self._c[kind].items.get(object_id)
        if obj is None:
            raise missing(kind.replace("checkout.session", "checkout.session"), object_id, param)
        return obj

    def _emit(
        self, type_: str, obj: Json, request: Json | None = None, previous: Json | None = None
    ) -> None:
        evt_id = self.new_id("evt")
        data: Json = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": evt_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self._ts(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": request or {"id": None, "idempotency_key": None},
            "type": type_,
        }
        self._events[evt_id] = _Event(event, self.now() + self.late_events_seconds)

    def _page(
        self,
        items: list[Json],
        params: Json,
        url: str,
        kind: str,
        visible: Callable[[Json], bool] = lambda _o: True,
    ) -> Json:
        """Stripe's list pagination over ``items`` (oldest first): newest first out, ``limit``
        1–100 (default 10), ``starting_after`` → older than that id, ``ending_before`` → the
        ``limit`` objects just newer than that id, ``has_more`` → more beyond in that direction."""
        limit = _int_param(params, "limit", lo=1, hi=100) or 10
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise StripeProblem(
                400, "You may only specify one of these parameters: ending_before, starting_after."
            )
        newest_first = [o for o in reversed(items) if visible(o)]
        ids = [o["id"] for o in newest_first]
        if after:
            if after not in ids:
                raise missing(kind, str(after), "starting_after")
            rest = newest_first[ids.index(after) + 1 :]
            data, has_more = rest[:limit], len(rest) > limit
        elif before:
            if before not in ids:
                raise missing(kind, str(before), "ending_before")
            newer = newest_first[: ids.index(before)]
            data, has_more = newer[-limit:], len(newer) > limit
        else:
            data, has_more = newest_first[:limit], len(newest_first) > limit
        return {"object": "list", "data": copy.deepcopy(data), "has_more": has_more, "url": url}

    # ---------------------------------------------------------------- products and prices

    def create_product(self, params: Json, request: Json | None = None) -> Json:
        _check_keys(params, {"name", "description", "metadata", "active", "id", "expand"})
        name = params.get("name")
        if not isinstance(name, str) or not name.strip():
            raise StripeProblem(
                400, "Missing required param: name.", code="parameter_missing", param="name"
            )
        return self._product(
            name, params.get("description"), _metadata(params), request, params.get("id")
        )

    def _product(
        self,
        name: str,
        description: Any,
        metadata: dict[str, str],
        request: Json | None,
        pid: Any = None,
    ) -> Json:
        now = self._ts()
        product_id = pid if isinstance(pid, str) and pid else self.new_id("prod", 14)
        if product_id in self._c["product"].items:
            raise StripeProblem(
                400,
                f"Product already exists: {product_id}",
                code="resource_already_exists",
                param="id",
            )
        obj: Json = {
            "id": product_id,
            "object": "product",
            "active": True,
            "created": now,
            "default_price": None,
            "description": description if isinstance(description, str) else None,
            "features": [],
            "images": [],
            "livemode": False,
            "metadata": metadata,
            "name": name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": None,
            "unit_label": None,
            "updated": now,
            "url": None,
        }
        self._c["product"].items[product_id] = obj
        self._emit("product.created", obj, request)
        return copy.deepcopy(obj)

    def get_product(self, product_id: str) -> Json:
        return copy.deepcopy(self._get("product", product_id))

    def create_price(self, params: Json, request: Json | None = None) -> Json:
        _check_keys(
            params,
            {"currency", "unit_amount", "unit_amount_decimal", "product", "product_data",
             "metadata", "nickname", "active", "expand", "tax_behavior", "lookup_key"},
        )  # fmt: skip
        currency = params.get("currency")
        if not isinstance(currency, str) or not currency:
            raise StripeProblem(
                400, "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        if currency.lower() != "usd":
            raise StripeProblem(
                400,
                f"Invalid currency: {currency}. This sandbox account settles in usd.",
                param="currency",
            )
        unit_amount = _int_param(params, "unit_amount")
        if unit_amount is None and "unit_amount_decimal" in params:
            raw = str(params["unit_amount_decimal"])
            if not raw.isdigit():
                raise StripeProblem(
                    400,
                    "This sandbox only accepts whole-cent unit_amount_decimal.",
                    param="unit_amount_decimal",
                )
            unit_amount = int(raw)
        if unit_amount is None:
            raise StripeProblem(
                400,
                "Missing required param: unit_amount.",
                code="parameter_missing",
                param="unit_amount",
            )
        metadata = _metadata(params)
        if "product" in params and "product_data" in params:
            raise StripeProblem(
                400, "You may only specify one of these parameters: product, product_data."
            )
        if "product" in params:
            product_id = str(params["product"])
            self._get("product", product_id, "product")
        elif isinstance(params.get("product_data"), dict):
            pdata = params["product_data"]
            _check_keys(
                pdata,
                {
                    "name",
                    "metadata",
                    "active",
                    "statement_descriptor",
                    "tax_code",
                    "unit_label",
                    "id",
                },
                "product_data[",
            )
            name = pdata.get("name")
            if not isinstance(name, str) or not name.strip():
                raise StripeProblem(
                    400,
                    "Missing required param: product_data[name].",
                    code="parameter_missing",
                    param="product_data[name]",
                )
            product_id = self._product(name, None, _metadata(pdata), request)["id"]
        else:
            raise StripeProblem(
                400, "Missing required param: product.", code="parameter_missing", param="product"
            )
        price_id = self.new_id("price")
        obj: Json = {
            "id": price_id,
            "object": "price",
            "active": _bool_param(params, "active") is not False,
            "billing_scheme": "per_unit",
            "created": self._ts(),
            "currency": currency.lower(),
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": params.get("lookup_key"),
            "metadata": metadata,
            "nickname": params.get("nickname"),
            "product": product_id,
            "recurring": None,
            "tax_behavior": params.get("tax_behavior", "unspecified"),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        self._c["price"].items[price_id] = obj
        self._emit("price.created", obj, request)
        return copy.deepcopy(obj)

    def get_price(self, price_id: str) -> Json:
        return copy.deepcopy(self._get("price", price_id))

    # ---------------------------------------------------------------- payment links

    def _line_items(self, raw: Any, param: str = "line_items") -> list[Json]:
        if not isinstance(raw, list) or not raw:
            raise StripeProblem(
                400, f"Missing required param: {param}.", code="parameter_missing", param=param
            )
        items = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict):
                raise StripeProblem(400, f"Invalid {param}[{i}]", param=f"{param}[{i}]")
            _check_keys(entry, {"price", "quantity", "adjustable_quantity"}, f"{param}[{i}][")
            price = self._get("price", str(entry.get("price", "")), f"{param}[{i}][price]")
            if not price["active"]:
                raise StripeProblem(
                    400, f"The price {price['id']} is not active.", param=f"{param}[{i}][price]"
                )
            qty = _int_param(entry, "quantity", lo=1, hi=999_999)
            if qty is None:
                raise StripeProblem(
                    400,
                    f"Missing required param: {param}[{i}][quantity].",
                    code="parameter_missing",
                    param=f"{param}[{i}][quantity]",
                )
            amount = int(price["unit_amount"]) * qty
            items.append(
                {
                    "id": self.new_id("li", 14),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": amount,
                    "amount_tax": 0,
                    "amount_total": amount,
                    "currency": price["currency"],
                    "description": self._c["product"].items[price["product"]]["name"],
                    "price": copy.deepcopy(price),
                    "quantity": qty,
                }
            )
        return items

    def create_payment_link(self, params: Json, request: Json | None = None) -> Json:
        # "restrictions" and "inactive_message" come from Stripe's current API (not the subset).
        _check_keys(
            params,
            {"line_items", "metadata", "after_completion", "payment_intent_data", "expand",
             "restrictions", "inactive_message", "currency", "submit_type", "allow_promotion_codes",
             "billing_address_collection", "customer_creation", "payment_method_types"},
        )  # fmt: skip
        items = self._line_items(params.get("line_items"))
        limit = None
        restrictions = params.get("restrictions")
        if restrictions is not None:
            if not isinstance(restrictions, dict) or not isinstance(
                restrictions.get("completed_sessions"), dict
            ):
                raise StripeProblem(400, "Invalid restrictions", param="restrictions")
            limit = _int_param(restrictions["completed_sessions"], "limit", lo=1, hi=10_000)
            if limit is None:
                raise StripeProblem(
                    400,
                    "Missing required param: restrictions[completed_sessions][limit].",
                    code="parameter_missing",
                    param="restrictions[completed_sessions][limit]",
                )
        pid_data = params.get("payment_intent_data")
        pi_metadata: dict[str, str] = {}
        pi_description = None
        if pid_data is not None:
            if not isinstance(pid_data, dict):
                raise StripeProblem(400, "Invalid payment_intent_data", param="payment_intent_data")
            _check_keys(
                pid_data,
                {"metadata", "description", "capture_method", "statement_descriptor"},
                "payment_intent_data[",
            )
            pi_metadata = _metadata(pid_data)
            pi_description = pid_data.get("description")
        after = params.get("after_completion") or {"type": "hosted_confirmation"}
        message = None
        if isinstance(after, dict) and isinstance(after.get("hosted_confirmation"), dict):
            message = after["hosted_confirmation"].get("custom_message")
        token = "test_" + "".join(
            self._rng.choice(string.ascii_letters + string.digits) for _ in range(22)
        )
        link_id = self.new_id("plink")
        obj: Json = {
            "id": link_id,
            "object": "payment_link",
            "active": True,
            "after_completion": {
                "hosted_confirmation": {"custom_message": message},
                "type": "hosted_confirmation",
            },
            "allow_promotion_codes": False,
            "application": None,
            "application_fee_amount": None,
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False},
            "billing_address_collection": "auto",
            "consent_collection": None,
            "currency": items[0]["currency"],
            "custom_fields": [],
            "custom_text": {"shipping_address": None, "submit": None},
            "customer_creation": "if_required",
            "inactive_message": params.get("inactive_message"),
            "invoice_creation": None,
            "livemode": False,
            "metadata": _metadata(params),
            "on_behalf_of": None,
            "payment_intent_data": {
                "capture_method": "automatic",
                "description": pi_description,
                "metadata": pi_metadata,
                "setup_future_usage": None,
                "statement_descriptor": None,
                "statement_descriptor_suffix": None,
                "transfer_group": None,
            },
            "payment_method_collection": "always",
            "payment_method_types": None,
            "phone_number_collection": {"enabled": False},
            "restrictions": None
            if limit is None
            else {"completed_sessions": {"count": 0, "limit": limit}},
            "shipping_address_collection": None,
            "shipping_options": [],
            "submit_type": "pay",
            "subscription_data": None,
            "tax_id_collection": {"enabled": False},
            "transfer_data": None,
            "url": f"{self.public_url}/b/{token}",
            "_line_items": items,  # kept off the wire: ``line_items`` is expandable
            "_token": token,
        }
        self._c["payment_link"].items[link_id] = obj
        self._link_by_token[token] = link_id
        self._emit("payment_link.created", self._wire_link(obj, expand=()), request)
        return self._wire_link(obj, params.get("expand") or ())

    def _wire_link(self, obj: Json, expand: Any) -> Json:
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        out["url"] = obj["url"]
        if "line_items" in (expand or ()):
            out["line_items"] = {
                "object": "list",
                "data": copy.deepcopy(obj["_line_items"]),
                "has_more": False,
                "url": f"/v1/payment_links/{obj['id']}/line_items",
            }
        return out

    def get_payment_link(self, link_id: str, params: Json | None = None) -> Json:
        obj = self._get("payment_link", link_id, "payment_link")
        return self._wire_link(obj, (params or {}).get("expand") or ())

    def list_payment_links(self, params: Json) -> Json:
        _check_keys(params, {"active", "limit", "starting_after", "ending_before", "expand"})
        active = _bool_param(params, "active")
        items = [self._wire_link(o, ()) for o in self._c["payment_link"].items.values()]
        if active is not None:
            items = [o for o in items if o["active"] is active]
        return self._page(items, params, "/v1/payment_links", "payment_link")

    def update_payment_link(self, link_id: str, params: Json, request: Json | None = None) -> Json:
        _check_keys(
            params,
            {
                "active",
                "metadata",
                "inactive_message",
                "after_completion",
                "expand",
                "restrictions",
            },
        )
        obj = self._get("payment_link", link_id, "payment_link")
        previous: Json = {}
        active = _bool_param(params, "active")
        if active is not None and active != obj["active"]:
            previous["active"] = obj["active"]
            obj["active"] = active
        if "metadata" in params:
            new = _metadata(params, obj["metadata"])
            if new != obj["metadata"]:
                previous["metadata"] = obj["metadata"]
                obj["metadata"] = new
        if "inactive_message" in params:
            msg = params["inactive_message"] or None
            if msg != obj["inactive_message"]:
                previous["inactive_message"] = obj["inactive_message"]
                obj["inactive_message"] = msg
        if previous:
            self._emit("payment_link.updated", self._wire_link(obj, ()), request, previous)
        return self._wire_link(obj, params.get("expand") or ())

    def link_for_token(self, token: str) -> Json | None:
        link_id = self._link_by_token.get(token)
        return None if link_id is None else self._c["payment_link"].items[link_id]

    # ---------------------------------------------------------------- checkout sessions

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

    def _wire_session(self, obj: Json, expand: Any = ()) -> Json:
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        if out["status"] != "open":
            out["url"] = None
        if "line_items" in (expand or ()):
            out["line_items"] = {
                "object": "list",
                "data": copy.deepcopy(obj["_line_items"]),
                "has_more": False,
                "url": f"/v1/checkout/sessions/{obj['id']}/line_items",
            }
        return out

    def create_checkout_session(self, params: Json, request: Json | None = None) -> Json:
        _check_keys(
            params,
            {"mode", "line_items", "success_url", "cancel_url", "metadata", "client_reference_id",
             "expires_at", "payment_intent_data", "expand", "customer_email", "payment_method_types"},
        )  # fmt: skip
        if params.get("mode") != "payment":
            raise StripeProblem(400, "This sandbox only supports mode=payment.", param="mode")
        items = self._line_items(params.get("line_items"))
        expires_at = _int_param(params, "expires_at", lo=0, hi=2**40)
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
            link=None, items=items, metadata=_metadata(params),
            pi_data={"metadata": _metadata(pid), "description": pid.get("description")},
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
        _check_keys(
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

    def _expire(self, obj: Json, request: Json | None = None) -> None:
        obj["status"] = "expired"
        self._emit("checkout.session.expired", self._wire_session(obj), request)

    def _expire_due(self) -> None:
        now = self._ts()
        for obj in self._c["checkout.session"].items.values():
            if obj["status"] == "open" and obj["expires_at"] <= now:
                self._expire(obj)

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
        _check_keys(params, {"payment_intent", "charge", "amount", "reason", "metadata", "expand"})
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
        amount = _int_param(params, "amount", lo=1)
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
            "description": None,
            "failure_balance_transaction": None,
            "failure_reason": None,
            "instructions_email": None,
            "metadata": _metadata(params),
            "next_action": None,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
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

    # ---------------------------------------------------------------- events

    def list_events(self, params: Json) -> Json:
        _check_keys(
            params,
            {
                "type",
                "types",
                "created",
                "limit",
                "starting_after",
                "ending_before",
                "delivery_success",
                "expand",
            },
        )
        self._expire_due()
        now = self.now()
        items = [e.obj for e in self._events.values() if e.obj["created"] >= now - EVENT_RETENTION]
        if "type" in params and "types" in params:
            raise StripeProblem(400, "You may only specify one of these parameters: type, types.")
        if "type" in params:
            pattern = str(params["type"])
            if pattern.endswith(".*"):
                items = [o for o in items if o["type"].startswith(pattern[:-1])]
            else:
                items = [o for o in items if o["type"] == pattern]
        if "types" in params:
            wanted = params["types"]
            if not isinstance(wanted, list) or len(wanted) > 20:
                raise StripeProblem(
                    400, "Invalid types: must be an array of at most 20 strings", param="types"
                )
            items = [o for o in items if o["type"] in wanted]
        created = params.get("created")
        if isinstance(created, dict):
            for op, raw in created.items():
                if op not in ("gt", "gte", "lt", "lte") or not str(raw).isdigit():
                    raise StripeProblem(400, f"Invalid created[{op}]", param=f"created[{op}]")
                bound = int(raw)
                test: Callable[[int], bool] = {
                    "gt": lambda c, b=bound: c > b,
                    "gte": lambda c, b=bound: c >= b,
                    "lt": lambda c, b=bound: c < b,
                    "lte": lambda c, b=bound: c <= b,
                }[op]
                items = [o for o in items if test(o["created"])]
        elif created is not None:
            if not str(created).isdigit():
                raise StripeProblem(400, "Invalid created", param="created")
            items = [o for o in items if o["created"] == int(created)]

        def visible(o: Json) -> bool:
            return self._events[o["id"]].visible_at <= now

        return self._page(items, params, "/v1/events", "event", visible)

    def get_event(self, evt_id: str) -> Json:
        event = self._events.get(evt_id)
        if event is None or event.visible_at > self.now():
            raise missing("event", evt_id)
        return copy.deepcopy(event.obj)

    # ---------------------------------------------------------------- for tests and trainers

    def events_of(self, type_: str) -> list[Json]:
        return [copy.deepcopy(e.obj) for e in self._events.values() if e.obj["type"] == type_]

    def all_objects(self, kind: str) -> list[Json]:
        return [copy.deepcopy(o) for o in self._c[kind].items.values()]
