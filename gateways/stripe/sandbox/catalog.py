"""Products, prices, payment links and checkout sessions: the catalogue side of the account."""

from __future__ import annotations

import copy
import string
from typing import Any

from gateways.stripe.sandbox.account import CHECKOUT_LIFETIME, Account
from gateways.stripe.sandbox.errors import StripeProblem
from gateways.stripe.sandbox.params import Json, bool_param, check_keys, int_param, metadata_of

__all__ = ["Catalog"]


class Catalog(Account):
    """Creating and reading what a customer pays for."""

    # ---------------------------------------------------------------- products and prices

    def create_product(self, params: Json, request: Json | None = None) -> Json:
        check_keys(params, {"name", "description", "metadata", "active", "id", "expand"})
        name = params.get("name")
        if not isinstance(name, str) or not name.strip():
            raise StripeProblem(
                400, "Missing required param: name.", code="parameter_missing", param="name"
            )
        return self._product(
            name, params.get("description"), metadata_of(params), request, params.get("id")
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
        check_keys(
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
        unit_amount = int_param(params, "unit_amount")
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
        metadata = metadata_of(params)
        if "product" in params and "product_data" in params:
            raise StripeProblem(
                400, "You may only specify one of these parameters: product, product_data."
            )
        if "product" in params:
            product_id = str(params["product"])
            self._get("product", product_id, "product")
        elif isinstance(params.get("product_data"), dict):
            pdata = params["product_data"]
            check_keys(
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
            product_id = self._product(name, None, metadata_of(pdata), request)["id"]
        else:
            raise StripeProblem(
                400, "Missing required param: product.", code="parameter_missing", param="product"
            )
        price_id = self.new_id("price")
        obj: Json = {
            "id": price_id,
            "object": "price",
            "active": bool_param(params, "active") is not False,
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
            check_keys(entry, {"price", "quantity", "adjustable_quantity"}, f"{param}[{i}][")
            price = self._get("price", str(entry.get("price", "")), f"{param}[{i}][price]")
            if not price["active"]:
                raise StripeProblem(
                    400, f"The price {price['id']} is not active.", param=f"{param}[{i}][price]"
                )
            qty = int_param(entry, "quantity", lo=1, hi=999_999)
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
        check_keys(
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
            limit = int_param(restrictions["completed_sessions"], "limit", lo=1, hi=10_000)
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
            check_keys(
                pid_data,
                {"metadata", "description", "capture_method", "statement_descriptor"},
                "payment_intent_data[",
            )
            pi_metadata = metadata_of(pid_data)
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
            "metadata": metadata_of(params),
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
        check_keys(params, {"active", "limit", "starting_after", "ending_before", "expand"})
        active = bool_param(params, "active")
        items = [self._wire_link(o, ()) for o in self._c["payment_link"].items.values()]
        if active is not None:
            items = [o for o in items if o["active"] is active]
        return self._page(items, params, "/v1/payment_links", "payment_link")

    def update_payment_link(self, link_id: str, params: Json, request: Json | None = None) -> Json:
        check_keys(
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
        active = bool_param(params, "active")
        if active is not None and active != obj["active"]:
            previous["active"] = obj["active"]
            obj["active"] = active
        if "metadata" in params:
            new = metadata_of(params, obj["metadata"])
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

    def link(self, link_id: str) -> Json | None:
        """The stored link (with its private fields), for the hosted page and trainer controls."""
        return self._c["payment_link"].items.get(link_id)

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
