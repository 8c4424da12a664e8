"""Pure pieces: error bodies, Retry-After, backoff, exact JSON money, model parsing, limiter."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posplus_tui.domain.money import Money, MoneyError
from posplus_tui.servicetitan import jsonwire
from posplus_tui.servicetitan.environments import resolve
from posplus_tui.servicetitan.errors import (
    AuthError,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    ServerUnavailable,
    ValidationError,
    error_from_response,
    parse_error_body,
)
from posplus_tui.servicetitan.models import Invoice, Payment
from posplus_tui.servicetitan.ratelimit import RateLimiter
from posplus_tui.servicetitan.retry import backoff_delay, parse_retry_after


def test_api_error_response_gives_field_messages_and_a_fix():
    body = (
        b'{"type":"https://tools.ietf.org/html/rfc7231#section-6.5.1","title":"One or more '
        b'validation errors occurred.","status":400,"traceId":"00-ab-cd-00",'
        b'"errors":{"splits[0].amount":["The amount cannot be zero."]},"data":{}}'
    )
    err = error_from_response(400, body, operation="post the payment")
    assert isinstance(err, ValidationError)
    assert err.field_errors == {"splits[0].amount": ["The amount cannot be zero."]}
    assert "splits[0].amount: The amount cannot be zero." in err.fix
    assert "post the payment" in err.title and err.trace_id == "00-ab-cd-00"


@pytest.mark.parametrize(
    ("status", "body", "kind", "detail"),
    [
        (401, b'{"error":"invalid_token","error_description":"The token expired"}', AuthError, "The token expired"),
        (403, b'{"message":"The ST-App-Key is not valid."}', PermissionDenied, "The ST-App-Key is not valid."),
        (404, b"", NotFoundError, None),
        (429, b"Rate limit is exceeded.", RateLimited, "Rate limit is exceeded."),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", ServerUnavailable, "502 Bad Gateway"),
        (500, b'{"Message":"An error has occurred."}', ServerUnavailable, "An error has occurred."),
        (409, b"not json at all {", ValidationError, "not json at all {"),
    ],
)  # fmt: skip
def test_gateway_and_odd_bodies_become_typed_errors(status, body, kind, detail):
    err = error_from_response(status, body)
    assert isinstance(err, kind)
    assert err.detail == detail
    assert err.title and err.fix and err.status == status
    assert str(err) == f"{err.title} {err.fix}"


def test_parse_error_body_handles_empty_and_arrays():
    assert parse_error_body(b"")["message"] is None
    assert parse_error_body(b"[1,2]")["message"] == "[1,2]"


def test_retry_after_seconds_dates_and_garbage():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-4", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_backoff_grows_and_is_capped():
    rng = random.Random(1)
    delays = [backoff_delay(n, base=0.5, cap=4.0, rng=rng) for n in range(1, 8)]
    assert delays[0] < 0.7 and max(delays) <= 4.0
    assert delays[3] > delays[0]


def test_json_money_goes_out_as_exact_numbers_and_comes_back_as_decimal():
    body = {"amount": Money(123456).to_decimal(), "m": Money(-5), "n": 1, "s": "x"}
    raw = jsonwire.dumps(body)
    assert raw == b'{"amount":1234.56,"m":-0.05,"n":1,"s":"x"}'
    back = jsonwire.loads(raw)
    assert back["amount"] == Decimal("1234.56") and isinstance(back["amount"], Decimal)
    with pytest.raises(TypeError):
        jsonwire.dumps({"f": object()})


def test_invoice_money_parsing_is_exact_and_refuses_fractions_of_a_cent():
    row = {
        "id": 7, "referenceNumber": "1001", "subTotal": "0.10", "salesTax": "0.20",
        "total": "0.30", "balance": "-1234567.89", "items": [], "invoiceDate": "2026-01-02T03:04:05Z",
    }  # fmt: skip
    inv = Invoice.from_api(row)
    assert inv.total == Money(30) and inv.sub_total + inv.sales_tax == inv.total
    assert inv.balance == Money(-123456789)
    assert inv.invoice_date == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert Invoice.from_api({**row, "total": "12"}).total == Money(1200)
    assert Invoice.from_api({**row, "total": "12.5"}).total == Money(1250)
    with pytest.raises(MoneyError):
        Invoice.from_api({**row, "total": "1.005"})


def test_invoice_items_are_read_when_first_used_and_kept():
    """Listing and syncing invoices never reads their lines, so they are parsed on first use."""
    row = {
        "id": 7, "referenceNumber": "1001", "subTotal": "3.00", "salesTax": "0.00",
        "total": "3.00", "balance": "3.00",
        "items": [
            {"id": 1, "description": "Filter", "quantity": "2.00", "price": "1.00", "total": "2.00"},
            {"id": 2, "skuName": "Labor", "quantity": "1", "price": "1.00", "total": "1.00",
             "type": "Labor", "skuId": 9},
        ],
    }  # fmt: skip
    inv = Invoice.from_api(row)
    assert [(i.id, i.quantity, i.total, i.type) for i in inv.items] == [
        (1, Decimal("2.00"), Money(200), "Service"),
        (2, Decimal("1"), Money(100), "Labor"),
    ]
    assert inv.items is inv.items  # parsed once
    assert Invoice.from_api({**row, "items": []}).items == ()
    assert Invoice.from_api({k: v for k, v in row.items() if k != "items"}).items == ()
    # Equal invoices compare equal whether or not their lines have been read yet.
    assert Invoice.from_api(row) == inv
    odd = Invoice.from_api({**row, "items": [{**row["items"][0], "total": "1.005"}]})
    with pytest.raises(MoneyError):  # a bad line is refused when read, as before
        _ = odd.items


def test_payment_from_list_row_and_from_create_reply():
    listed = Payment.from_api(
        {
            "id": 1,
            "typeId": "61781",
            "type": "POS+",
            "total": "10.00",
            "memo": "POSPLUS-9",
            "appliedTo": [{"appliedTo": 5, "appliedAmount": "10.00"}],
        }
    )
    assert listed.type_id == 61781 and listed.splits[0].invoice_id == 5
    assert listed.mentions("POSPLUS-9") and not listed.mentions("POSPLUS-1 ")
    created = Payment.from_api(
        {"id": 2, "typeId": 61781, "splits": [{"invoiceId": 5, "amount": Decimal("-2.5")}]}
    )
    assert created.total == Money(-250)


def test_environments_have_the_real_hosts():
    prod = resolve("production")
    assert prod.token_url == "https://auth.servicetitan.io/connect/token"
    assert prod.api_base == "https://api.servicetitan.io"
    integ = resolve("integration")
    assert integ.api_base == "https://api-integration.servicetitan.io"
    sand = resolve("sandbox", "http://127.0.0.1:9/")
    assert sand.token_url == "http://127.0.0.1:9/connect/token"
    with pytest.raises(ValueError, match="production"):
        resolve("prod")


async def test_rate_limiter_spaces_calls_out():
    limiter = RateLimiter(50, burst=5)
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(30)))
    elapsed = time.monotonic() - start
    assert elapsed >= (30 - 5) / 50 * 0.9
    off = RateLimiter(None)
    start = time.monotonic()
    for _ in range(1000):
        await off.acquire()
    assert time.monotonic() - start < 0.5


def test_repeated_amounts_share_one_exact_money():
    from posplus_tui.servicetitan.models import _money

    a, b = _money("12.30"), _money("12.30")
    assert a == Money(1230) and a is b
    assert _money("-0.05") == Money(-5) and _money("-0.05") is _money("-0.05")
    assert _money("7") == Money(700) and _money("7.5") == Money(750)
    assert _money(None) == Money(0) and _money(Decimal("1.01")) == Money(101)
    with pytest.raises(MoneyError):
        _money("1.005")
