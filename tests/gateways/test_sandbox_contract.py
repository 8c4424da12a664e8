"""Every request the provider (and the SDK) sends, and every reply the sandbox gives, checked
against Stripe's OpenAPI subset (skips visibly when ``../shared`` is absent)."""

from __future__ import annotations

import json

import pytest
import stripe

from gateways import GatewayNotFound
from gateways.stripe import StripeGateway
from gateways.stripe.sandbox import OPERATIONS, StripeSandboxApp, serve_in_thread

from . import stripe_openapi as oa


async def _scenario(url: str, key: str) -> None:
    """Touch every operation of the subset, errors included."""
    gw = StripeGateway(key, base_url=url)
    try:
        link = await gw.create_link(
            amount_cents=5_000, reference="C-1", description="Invoice 1",
            metadata={"invoice_id": "1"}, idempotency_key="c-1",
        )  # fmt: skip
        await gw.read_link(link.link_id)
        await gw.changes_since(None)
        await gw.find_by_reference("C-1")
        await gw.expire(link.link_id)
        other = await gw.create_link(
            amount_cents=7_000, reference="C-2", description="Invoice 2",
            metadata={}, idempotency_key="c-2",
        )  # fmt: skip
        app.admin("POST", f"payment_links/{other.link_id}/pay", {"outcome": "decline"})
        app.admin("POST", f"payment_links/{other.link_id}/pay", {"outcome": "approve"})
        (payment,) = (await gw.read_link(other.link_id)).payments
        refund = await gw.refund(payment.payment_id, amount_cents=1_000, idempotency_key="c-r")
        page = await gw.changes_since(None, limit=3)
        await gw.changes_since(page.cursor)
        await gw.deactivate(other.link_id)
        with pytest.raises(GatewayNotFound):
            await gw.read_link("plink_1missing")
    finally:
        await gw.aclose()
    sc = stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)
    product = sc.v1.products.create({"name": "Direct", "metadata": {"a": "b"}})
    sc.v1.products.retrieve(product.id)
    price = sc.v1.prices.create({"currency": "usd", "unit_amount": 300, "product": product.id})
    sc.v1.prices.retrieve(price.id)
    cs = sc.v1.checkout.sessions.create({
        "mode": "payment", "success_url": "https://example.invalid/ok",
        "line_items": [{"price": price.id, "quantity": 2}], "client_reference_id": "x",
    })  # fmt: skip
    sc.v1.checkout.sessions.retrieve(cs.id)
    sc.v1.checkout.sessions.expire(cs.id)
    everything = sc.v1.events.list({"limit": 100})
    assert {e.data.object["object"] for e in everything.data} >= {
        "product", "price", "payment_link", "checkout.session", "payment_intent", "charge", "refund",
    }  # fmt: skip
    events = sc.v1.events.list({"limit": 1, "type": "checkout.session.*"})
    sc.v1.events.retrieve(events.data[0].id)
    sc.v1.refunds.retrieve(refund.refund_id)
    sc.v1.payment_intents.retrieve(payment.payment_id)
    with pytest.raises(stripe.InvalidRequestError):
        sc.v1.prices.create({"currency": "usd", "product": product.id})
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_test_nope_nope_nope", base_addresses={"api": url}).v1.events.list()


app: StripeSandboxApp


async def test_requests_and_replies_match_the_openapi_subset():
    ops = oa.operations()  # skips here, visibly, without ../shared
    assert set(OPERATIONS) == set(ops), "the sandbox serves exactly the subset's operations"
    global app
    app = StripeSandboxApp(seed=3)
    app.exchanges = []
    with serve_in_thread(app) as url:
        await _scenario(url, app.secret_key)
    assert {name for _m, name, _p, _s, _b in app.exchanges} == set(OPERATIONS)
    statuses = {s for *_r, s, _b in app.exchanges}
    assert {200, 400, 404} <= statuses
    problems: list[str] = []
    for method, name, params, status, body in app.exchanges:
        schema = oa.request_schema(name)
        errs = oa.errors_of(oa.validator(schema), oa.coerce(params, schema))
        if errs and status == 200:
            problems.append(f"request {method} {name} {params}: {errs}")
        reply = json.loads(body)
        errs = oa.errors_of(oa.response_validator(name, status), reply)
        if errs:
            problems.append(f"reply {status} {name}: {errs}")
        if name == "GetEvents" and status == 200:  # each event's object, by its own schema
            for event in reply["data"]:
                inner = event["data"]["object"]
                schema = {"$ref": f"#/components/schemas/{inner['object']}"}
                errs = oa.errors_of(oa.validator(schema), inner)
                if errs:
                    problems.append(f"event {event['type']}: {errs}")
    assert not problems, "\n".join(problems[:10])


def test_a_wrong_reply_would_be_caught():
    """The checker itself can fail: a link without ``url`` or with a string amount is refused."""
    v = oa.response_validator("GetPaymentLinksPaymentLink", 200)
    app = StripeSandboxApp(seed=1)
    price = app.store.create_price(
        {"currency": "usd", "unit_amount": "100", "product_data": {"name": "n"}}
    )
    link = app.store.create_payment_link({"line_items": [{"price": price["id"], "quantity": "1"}]})
    assert oa.errors_of(v, link) == []
    broken = dict(link)
    del broken["url"]
    assert oa.errors_of(v, broken)
    assert oa.errors_of(
        oa.response_validator("GetPricesPrice", 200), {**price, "unit_amount": "100"}
    )
    req = oa.request_schema("PostPaymentLinks")
    assert oa.errors_of(oa.validator(req), {"colour": "red"})
