"""Odd and hostile replies never read as success: empty bodies, cut JSON, wrong objects, missing
fields, 5xx. Hypothesis mutates a correct reply; an oracle written here says what must happen."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateways import GatewayError, GatewayRefused, GatewayUnknown, LinkState
from gateways.stripe import StripeGateway
from gateways.stripe.sandbox import serve_in_thread

from .hostile import HostileStripe

KEY = "sk_test_hostile_hostile_hostile"
REF = "PP-H-1"
PRICE = {"id": "price_1", "object": "price", "unit_amount": 2_500, "currency": "usd"}


def good_link() -> dict[str, Any]:
    return {
        "id": "plink_1good",
        "object": "payment_link",
        "active": True,
        "url": "https://buy.stripe.example/test_abc",
        "metadata": {"posplus_ref": REF},
        "line_items": {"object": "list", "data": [{"amount_total": 2_500}], "has_more": False},
    }


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[HostileStripe, str]]:
    app = HostileStripe()
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
async def gw(hostile) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(KEY, base_url=hostile[1], timeout=2.0)
    yield gateway
    await gateway.aclose()


def _mutations() -> st.SearchStrategy[tuple[int, bytes, bool]]:
    """``(status, body, is_good)``: the good link, or one thing wrong with it."""
    good = json.dumps(good_link()).encode()
    keys = sorted(good_link())

    def drop(key: str) -> tuple[int, bytes, bool]:
        bad = good_link()
        del bad[key]
        return 200, json.dumps(bad).encode(), key == "line_items"  # create does not need it

    def change(pair: tuple[str, Any]) -> tuple[int, bytes, bool]:
        bad = good_link()
        bad[pair[0]] = pair[1]
        return 200, json.dumps(bad).encode(), False

    wrong_values = st.sampled_from([
        ("object", "price"), ("object", None), ("id", 7), ("id", ""), ("url", None),
        ("url", "javascript:alert(1)"), ("active", False), ("active", "true"),
        ("metadata", {"posplus_ref": "someone-else"}), ("metadata", {}), ("metadata", "x"),
    ])  # fmt: skip
    return st.one_of(
        st.just((200, good, True)),
        st.sampled_from(keys).filter(lambda k: k != "line_items").map(drop),
        wrong_values.map(change),
        st.integers(0, len(good) - 1).map(lambda n: (200, good[:n], False)),  # cut short
        st.sampled_from([b"", b"null", b"[]", b"{}", b"<html>oops</html>", b'"ok"']).map(
            lambda b: (200, b, False)
        ),
        st.tuples(
            st.sampled_from([500, 502, 503, 504, 429, 409]),
            st.sampled_from(
                [
                    b"",
                    b"{}",
                    json.dumps({"error": {"type": "api_error", "message": "boom"}}).encode(),
                ]
            ),
        ).map(lambda t: (t[0], t[1], False)),
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reply=_mutations())
async def test_create_is_success_only_for_a_complete_matching_link(gw, hostile, reply):
    app, _url = hostile
    status, body, is_good = reply
    app.script.clear()
    app.reply(200, PRICE)
    app.script.append((status, body))
    try:
        created = await gw.create_link(
            amount_cents=2_500, reference=REF, description="d", metadata={},
            idempotency_key="h-1",
        )  # fmt: skip
    except GatewayUnknown:
        assert not is_good
        return
    except GatewayError as exc:  # a refusal needs a clear 4xx: none is scripted here
        pytest.fail(f"{type(exc).__name__} for status {status}: {exc}")
    assert is_good, f"success from {status} {body[:80]!r}"
    assert (created.link_id, created.url, created.amount_cents) == (
        "plink_1good", "https://buy.stripe.example/test_abc", 2_500,
    )  # fmt: skip
    assert created.state is LinkState.OPEN


async def test_an_empty_or_cut_reply_to_a_read_is_unknown_never_open(gw, hostile):
    app, _url = hostile
    for body in (b"", json.dumps(good_link()).encode()[:40], b"{}"):
        app.script.clear()
        app.script.append((200, body))
        with pytest.raises(GatewayUnknown):
            await gw.read_link("plink_1good")
    # a list without has_more, or events whose data is not a list
    for listing in (
        {"object": "list", "data": []},
        {"object": "list", "data": {}, "has_more": False},
    ):
        app.script.clear()
        app.reply(200, listing)
        with pytest.raises(GatewayUnknown):
            await gw.changes_since("evt_1")


async def test_a_refund_reply_for_another_amount_or_payment_is_unknown(gw, hostile):
    app, _url = hostile
    base = {"id": "re_1", "object": "refund", "amount": 1_000, "payment_intent": "pi_1",
            "status": "succeeded", "currency": "usd", "created": 1}  # fmt: skip
    for wrong in (
        {"amount": 999},
        {"payment_intent": "pi_2"},
        {"amount": "1000"},
        {"object": "charge"},
    ):
        app.script.clear()
        app.reply(200, {**base, **wrong})
        with pytest.raises(GatewayUnknown):
            await gw.refund("pi_1", amount_cents=1_000, idempotency_key="r")
    app.script.clear()
    app.reply(400, {"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                              "message": "Charge ch_1 has already been refunded."}})  # fmt: skip
    with pytest.raises(GatewayRefused) as refused:
        await gw.refund("pi_1", amount_cents=1_000, idempotency_key="r")
    assert refused.value.code == "charge_already_refunded"
    app.script.clear()
    app.reply(200, base)
    ok = await gw.refund("pi_1", amount_cents=1_000, idempotency_key="r")
    assert (ok.refund_id, ok.amount_cents) == ("re_1", 1_000)
