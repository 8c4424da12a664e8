"""The SPIn codec and the meaning of its replies, without I/O: exact dollars, strict reading,
replies tied to their ReferenceId."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import Approved, BatchClosed, Cancelled, Declined, NotFound, TerminalError, Unknown
from drivers.spin import codec as c
from drivers.spin import outcome as o
from drivers.spin.amounts import MAX_CENTS, AmountError, cents, dollars

CREDS = c.Credentials("Z11AB0123456", "K3yK3yK3yK")


def reply(
    code: str = "0000", *, result: str | None = None, http: int = 200, **data: object
) -> c.Reply:
    body: dict[str, object] = {
        "GeneralResponse": {
            "ResultCode": result
            if result is not None
            else ("0" if code in ("0000", "0001") else "1"),
            "StatusCode": code,
            "Message": "Approved" if code == "0000" else "words",
            **{
                k: v for k, v in data.items() if k in ("HostResponseCode", "DelayBeforeNextRequest")
            },
        },
        **{
            k: v for k, v in data.items() if k not in ("HostResponseCode", "DelayBeforeNextRequest")
        },
    }
    # a Decimal goes on the wire as a JSON number, written from its text
    text = json.dumps(body, default=lambda d: f"@@{d}@@")
    return c.parse_reply(http, re.sub(r'"@@([^@]*)@@"', r"\1", text).encode())


# ------------------------------------------------------------------------------------ amounts


@pytest.mark.parametrize(
    ("wire", "expected"),
    [("12.34", 1234), (Decimal("12.340"), 1234), (Decimal("0.1"), 10), (12, 1200), ("0.00", 0)],
)
def test_dollars_read_exactly(wire: object, expected: int) -> None:
    assert cents(wire) == expected


@pytest.mark.parametrize(
    "wire", ["12.345", Decimal("0.001"), 12.34, True, "-1.00", "1e3", "NaN", "", "12,00", None, [1]]
)
def test_unreadable_amounts_are_refused(wire: object) -> None:
    with pytest.raises(AmountError):
        cents(wire)


@given(st.integers(0, MAX_CENTS))
@settings(max_examples=200, deadline=None)
def test_dollars_round_trip_through_json_text(amount: int) -> None:
    text = dollars(amount)
    assert cents(text) == amount
    assert cents(json.loads(text, parse_float=Decimal)) == amount  # as a JSON number


def test_request_bodies_carry_dollars_as_numbers_and_only_known_fields() -> None:
    req = c.sale(CREDS, "P1", 1234, invoice="INV #42/b", proxy_timeout=30)
    assert (req.method, req.path, req.ref) == ("POST", "/v2/Payment/Sale", "P1")
    assert b'"Amount":12.34,' in req.body  # a JSON number written from text, never a float
    body = json.loads(req.body, parse_float=Decimal)
    assert body == {
        "Amount": Decimal("12.34"),
        "PaymentType": "Credit",
        "ReferenceId": "P1",
        "InvoiceNumber": "INV42b",
        "PrintReceipt": "No",
        "GetReceipt": "No",
        "Tpn": "Z11AB0123456",
        "Authkey": "K3yK3yK3yK",
        "SPInProxyTimeout": 30,
    }
    void = json.loads(c.void(CREDS, "P1", 5).body)
    assert void["ReferenceId"] == "P1" and "InvoiceNumber" not in void
    assert set(json.loads(c.status(CREDS, "P1").body)) == {
        "PaymentType",
        "ReferenceId",
        "Tpn",
        "Authkey",
    }
    assert c.terminal_status(CREDS).query == (
        ("request.tpn", "Z11AB0123456"),
        ("request.authkey", "K3yK3yK3yK"),
    )


@pytest.mark.parametrize(
    ("ref", "amount"), [("", 100), ("X" * 51, 100), ("P 1", 100), ("P1", 0), ("P1", -5)]
)
def test_bad_requests_are_refused_before_anything_is_built(ref: str, amount: int) -> None:
    with pytest.raises(ValueError):
        c.sale(CREDS, ref, amount)


def test_the_auth_key_never_shows_in_a_repr() -> None:
    assert "K3yK3y" not in repr(CREDS)


# ------------------------------------------------------------------------------------ replies


def test_an_approval_is_read_whole() -> None:
    r = reply(
        ReferenceId="P1",
        Amounts={"Amount": Decimal("12.34"), "TotalAmount": "12.34"},
        AuthCode="A1",
        CardData={"CardType": "Visa", "Last4": "1111", "EntryType": "Chip"},
        TransactionNumber="7",
        HostResponseCode="00",
    )
    result = o.transaction(r, ref="P1", requested=1234)
    assert isinstance(result, Approved)
    assert (result.approved_cents, result.brand, result.last4, result.host_ref) == (
        1234,
        "VISA",
        "1111",
        "P1",
    )


def test_partial_approval_keeps_the_approved_amount() -> None:
    r = reply("0001", ReferenceId="P1", Amounts={"Amount": "6.17"})
    result = o.transaction(r, ref="P1", requested=1234)
    assert isinstance(result, Approved) and result.is_partial
    assert (result.approved_cents, result.requested_cents) == (617, 1234)


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"ReferenceId": "OTHER", "Amounts": {"Amount": "12.34"}}, "ReferenceId"),
        ({"Amounts": {"Amount": "12.34"}}, "ReferenceId"),
        ({"ReferenceId": "P1"}, "amount"),
        ({"ReferenceId": "P1", "Amounts": {"Amount": "12.35"}}, "12"),
        (
            {"ReferenceId": "P1", "Amounts": {"Amount": "12.34"}, "HostResponseCode": "05"},
            "host code",
        ),
    ],
)
def test_an_approval_not_tied_or_not_whole_is_unknown(kwargs: dict[str, object], why: str) -> None:
    result = o.transaction(reply(**kwargs), ref="P1", requested=1234)
    assert isinstance(result, Unknown) and why in result.reason


def test_an_approval_outside_http_200_is_not_believed() -> None:
    r = reply(http=500, ReferenceId="P1", Amounts={"Amount": "12.34"})
    assert isinstance(o.transaction(r, ref="P1", requested=1234), Unknown)


def test_an_unreadable_amount_makes_the_reply_unreadable() -> None:
    with pytest.raises(c.CodecError):
        reply(ReferenceId="P1", Amounts={"Amount": 12.345})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"GeneralResponse": 1}',
        b'{"GeneralResponse": {"ResultCode": "0"}}',
        b'{"GeneralResponse": {"ResultCode": "0", "StatusCode": "1015"}}',  # contradiction
        b'{"GeneralResponse": {"ResultCode": "1", "StatusCode": "0000"}}',
        b'{"GeneralResponse": {"ResultCode": "0", "StatusCode": "0000"}, "ReferenceId": "A", "referenceid": "B"}',
        b'{"GeneralResponse": {"ResultCode": "0", "StatusCode": "0000"}, "Amounts": {"Amount": NaN}}',
        b"\xff\xfe",
    ],
)
def test_odd_replies_are_codec_errors(body: bytes) -> None:
    with pytest.raises(c.CodecError):
        c.parse_reply(200, body)


def test_result_code_names_and_numeric_status_codes_are_read() -> None:
    r = c.parse_reply(
        200, b'{"GeneralResponse": {"ResultCode": "Ok", "StatusCode": 0}, "ReferenceId": "P"}'
    )
    assert (r.result_code, r.status_code) == ("0", "0000")


def test_business_errors_come_as_http_200_and_are_read_from_general_response() -> None:
    declined = reply("1015", ReferenceId="P1", HostResponseCode="05")
    assert o.transaction(declined, ref="P1", requested=100) == Declined("P1", "05", "words")
    cancelled = reply("1012", ReferenceId="P1")
    assert isinstance(o.transaction(cancelled, ref="P1", requested=100), Cancelled)
    # a decline that names no reference could be another's: never shown as declined
    assert isinstance(o.transaction(reply("1015"), ref="P1", requested=100), Unknown)


def test_proxy_time_out_is_unknown_busy_waits_duplicate_asks_the_status() -> None:
    assert isinstance(o.transaction(reply("2007", result="2"), ref="P1", requested=1), Unknown)
    busy = o.transaction(
        reply("2008", result="2", DelayBeforeNextRequest="3"), ref="P1", requested=1
    )
    assert busy == o.Busy(3.0, busy.words) if isinstance(busy, o.Busy) else False
    assert isinstance(
        o.transaction(reply("1011", ReferenceId="P1"), ref="P1", requested=1), o.Duplicate
    )
    offline = o.transaction(reply("2001", result="2"), ref="P1", requested=1)
    assert isinstance(offline, TerminalError) and offline.code == "NOT_SENT"
    odd = o.transaction(reply("1999"), ref="P1", requested=1)
    assert isinstance(odd, Unknown)


def test_status_answers() -> None:
    assert o.status(reply("1001"), ref="P1") == NotFound("P1")
    assert isinstance(o.status(reply("1001", ReferenceId="P2"), ref="P1"), Unknown)
    ok = o.status(reply(ReferenceId="P1", Amounts={"Amount": "5.00"}), ref="P1")
    assert isinstance(ok, Approved) and ok.approved_cents == 500
    assert isinstance(o.status(reply("2008", result="2"), ref="P1"), o.Busy)
    auth = o.status(reply("2002", result="2"), ref="P1")
    assert isinstance(auth, TerminalError)


def test_settle_reads_totals_when_present() -> None:
    closed = o.settled(reply(BatchNumber="4", TransactionCount=2, Amounts={"TotalAmount": "-3.00"}))
    assert closed == BatchClosed("4", 2, -300, True)
    bare = o.settled(reply())
    assert isinstance(bare, BatchClosed) and not bare.totals_known
    timed_out = o.settled(reply("2007", result="2"))
    assert isinstance(timed_out, TerminalError) and timed_out.code == "UNKNOWN"


def test_terminal_status() -> None:
    assert c.parse_terminal_status(b'{"TerminalStatus": "Online"}') == ("Online", "")
    assert c.parse_terminal_status(b'{"terminalStatus": "offline", "ErrorDescription": "x"}') == (
        "Offline",
        "x",
    )
    with pytest.raises(c.CodecError):
        c.parse_terminal_status(b'{"TerminalStatus": "Maybe"}')


def test_the_log_text_masks_keys_tokens_and_card_like_numbers() -> None:
    from drivers.spin.logtext import masked_text

    body = (
        b'{"Authkey": "K3yK3yK3yK", "Token": "TK123", "Note": "4111111111111111", "Amount": 12.30}'
    )
    text = masked_text(body, "K3yK3yK3yK")
    assert "K3yK3y" not in text and "TK123" not in text and "411111" not in text
    assert "1111" in text and "12.30" in text  # last 4 kept; the amount exactly as sent
