"""The sandbox's own pieces without a browser: form decoding, the page's refusals, the clock,
admin controls, and Stripe-shaped errors over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.stripe.sandbox.forms import FormError, decode_form

from .conftest import Served


def test_deep_object_forms_decode_to_nested_dicts_and_lists():
    got = decode_form(
        "line_items[0][price]=price_1&line_items[0][quantity]=2&line_items[1][price]=p2"
        "&expand[]=line_items&expand[]=x&metadata[a]=1&metadata[b]=&types[]=a.b"
    )
    assert got == {
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "p2"}],
        "expand": ["line_items", "x"],
        "metadata": {"a": "1", "b": ""},
        "types": ["a.b"],
    }
    for bad in ("a[b]=1&a=2", "a=1&a[b]=2", "x]=1"):
        with pytest.raises(FormError):
            decode_form(bad)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text("abcxyz_", min_size=1, max_size=6), st.text(max_size=8), max_size=5))
def test_flat_metadata_round_trips(meta):
    encoded = httpx.QueryParams({f"metadata[{k}]": v for k, v in meta.items()})
    assert decode_form(str(encoded)).get("metadata", {}) == meta


def _link(served: Served, cents: int = 2_000) -> dict:
    store = served.app.store
    with store.lock:
        price = store.create_price(
            {"currency": "usd", "unit_amount": str(cents), "product_data": {"name": "Inv"}}
        )
        return store.create_payment_link({
            "line_items": [{"price": price["id"], "quantity": "1"}],
            "restrictions": {"completed_sessions": {"limit": "1"}},
        })  # fmt: skip


def test_the_page_refuses_bad_cards_with_a_sentence_and_takes_nothing(served: Served):
    link = _link(served)
    with httpx.Client(base_url=served.url) as http:
        form = http.get(link["url"])
        assert form.status_code == 200 and "$20.00" in form.text
        action = re.search(r"action='([^']+)'", form.text)[1]
        cases = {
            ("4242 4242 4242 4241", "12/34", "123"): "Your card number is invalid.",
            ("4242 4242 4242 4242", "13/34", "123"): "Your card's expiration date is invalid.",
            ("4242 4242 4242 4242", "01/20", "123"): "Your card's expiration date is in the past.",
            ("4242 4242 4242 4242", "12/34", "12"): "Your card's security code is invalid.",
            ("4000 0000 0000 9995", "12/34", "123"): "Your card has insufficient funds.",
            ("4111 1111 1111 1111", "12/34", "123"): "used a non test card",
        }
        for (card, exp, cvc), words in cases.items():
            reply = http.post(action, data={"card_number": card, "exp": exp, "cvc": cvc})
            assert reply.status_code == 402 and words in reply.text.replace("&#x27;", "'")
            assert card.replace(" ", "") not in reply.text
        assert served.app.store.events_of("checkout.session.completed") == []
        ok = http.post(
            action, data={"card_number": "5555555555554444", "exp": "12/34", "cvc": "123"}
        )
        assert ok.status_code == 200 and "Mastercard •••• 4444" in ok.text
        again = http.post(
            action, data={"card_number": "4242424242424242", "exp": "12/34", "cvc": "123"}
        )
        assert again.status_code == 410 and "already complete" in again.text
        assert http.get(link["url"]).status_code == 410
        assert http.get("/b/test_nothing").status_code == 404


def test_an_abandoned_checkout_page_expires_after_a_day_on_the_sandbox_clock(served: Served):
    link = _link(served)
    with httpx.Client(base_url=served.url) as http:
        action = re.search(r"action='([^']+)'", http.get(link["url"]).text)[1]
        auth = {"Authorization": f"Bearer {served.key}"}
        assert (
            http.post("/_sandbox/clock", data={"advance": str(24 * 3600)}, headers=auth).status_code
            == 200
        )
        assert http.get(action).status_code == 410
        (expired,) = served.app.store.events_of("checkout.session.expired")
        assert expired["data"]["object"]["payment_link"] == link["id"]
        assert http.get(link["url"]).status_code == 200  # the link itself still opens a new page
        assert http.post("/_sandbox/clock", data={"advance": "1"}).status_code == 401


def test_errors_have_stripes_shape(served: Served):
    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {served.key}"}
    ) as http:
        missing = http.get("/v1/payment_links/plink_1none")
        assert missing.status_code == 404
        error = missing.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")
        assert "No such payment_link: 'plink_1none'" in missing.json()["error"]["message"]
        assert missing.headers["request-id"].startswith("req_")
        nowhere = http.get("/v1/charges")
        assert nowhere.status_code == 404 and "Unrecognized request URL" in nowhere.text
        both = http.get("/v1/events", params={"starting_after": "a", "ending_before": "b"})
        assert both.status_code == 400
        too_many = http.get("/v1/events", params={"limit": "101"})
        assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "limit"
        no_key = httpx.get(served.url + "/v1/events")
        assert no_key.status_code == 401 and "did not provide an API key" in no_key.text
        basic = httpx.get(served.url + "/v1/events", auth=(served.key, ""))
        assert basic.status_code == 200 and basic.json()["object"] == "list"
        bad_fault = http.post("/_sandbox/faults", data={"kind": "melt"})
        assert bad_fault.status_code == 400 and "unknown fault" in bad_fault.text
