"""Products, prices and payment links: the catalogue side of the account."""

from __future__ import annotations

import copy
import string
from typing import Any

from gateways.stripe.sandbox.account import Account
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
