"""SPIn REST v2: requests built and replies read as plain values — no sockets, no clock.

Requests carry only the fields the reference names for each call (the proxy refuses fields it does
not know with 2201 [T]). Replies are read strictly: JSON numbers become Decimal (never float),
duplicate keys are refused, keys are matched without regard to case [I: ASP.NET writes PascalCase].
What this module cannot read raises :class:`CodecError`; the terminal turns that into *unknown*.

Sources: ``../shared/reference/dejavoo-spin.md`` §3–§7. Inferred choices are marked [I] here and
listed in ``drivers/README.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from drivers.spin.amounts import AmountError, cents, dollars

SALE = "/v2/Payment/Sale"
RETURN = "/v2/Payment/Return"
VOID = "/v2/Payment/Void"
STATUS = "/v2/Payment/Status"
SETTLE = "/v2/Payment/Settle"
ABORT = "/v2/Payment/AbortTransaction"
TERMINAL_STATUS = "/v2/Common/TerminalStatus"

PAYMENT_TYPES = ("Credit", "Debit", "Card", "EBT_Food", "EBT_Cash", "Gift")
MAX_BODY = 256 * 1024  # a reply larger than this is not a SPIn reply
REF_MAX = 50

# ResultCode: "0" ok, "1" terminal error, "2" SPIn-proxy error; the enum names are seen too [R S7]
_RESULT_NAMES = {"ok": "0", "terminalerror": "1", "apierror": "2"}

APPROVED = "0000"
PARTIAL = "0001"
TERMINAL_BUSY = "1000"  # [R] "Terminal busy" — treated like 2008 [I]
NOT_FOUND = "1001"
DUPLICATE = "1011"
CANCELED = "1012"
DECLINED = "1015"
PROXY_TIMEOUT = "2007"
PROXY_BUSY = "2008"
PROXY_NOT_FOUND = "2009"

#: the request never reached a terminal that could act on it: offline, unknown key/TPN/route,
#: unreadable request [R codes; I that none of them can have moved money]
NOT_DELIVERED = frozenset(
    {"2001", "2002", "2003", "2004", "2005", "2006", "2011", "2201", "2301", "1009"}
)
#: the terminal refused before any card was read [R codes; I that no money moved]
REFUSED = frozenset(
    {
        "1001",
        "1002",
        "1003",
        "1004",
        "1005",
        "1007",
        "1008",
        "1010",
        "1013",
        "1016",
        "1017",
        "1019",
        "1020",
        "1022",
        "1023",
    }
)
#: auth problems (layer "auth key" for a technician)
AUTH_FAILED = frozenset({"1009", "2002"})
#: host codes that approve [R ISO 8583 00; GP treats 0 and 85 as 00; 10 partial; I for SPIn]
APPROVING_HOST_CODES = frozenset({"0", "00", "000", "10", "85"})


class CodecError(ValueError):
    """A reply that cannot be read completely: the outcome is unknown."""


# --------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Credentials:
    """The terminal's TPN and the merchant's auth key. ``repr`` never shows the key."""

    tpn: str
    authkey: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.tpn or len(self.tpn) > 20 or not self.tpn.isalnum():
            raise ValueError(f"TPN {self.tpn!r} should be the terminal's 10–12 letters and digits")
        if not self.authkey or len(self.authkey) > 64 or not self.authkey.isprintable():
            raise ValueError("the SPIn auth key is empty or not plain text")


@dataclass(frozen=True)
class HttpRequest:
    """One call: ``method`` and ``path``, a query (GET) or a JSON body (POST)."""

    op: str
    method: str
    path: str
    body: bytes = b""
    query: tuple[tuple[str, str], ...] = ()
    ref: str = ""


@dataclass(frozen=True)
class _Raw:
    """A JSON number written as text (dollars), so no float ever holds it."""

    text: str


def _encode(fields: dict[str, str | bool | int | _Raw]) -> bytes:
    parts = []
    for key, value in fields.items():
        rendered = value.text if isinstance(value, _Raw) else json.dumps(value)
        parts.append(f"{json.dumps(key)}:{rendered}")
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def check_ref(ref: str, what: str = "ReferenceId") -> str:
    """1–50 letters, digits, ``-`` or ``_`` [R length; I characters: plain ones travel everywhere]."""
    if not isinstance(ref, str) or not 1 <= len(ref) <= REF_MAX:
        raise ValueError(f"{what} must be 1–{REF_MAX} characters")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in ref):
        raise ValueError(f"{what} {ref!r} may hold only letters, digits, '-' and '_'")
    return ref


def invoice_field(invoice: str) -> str:
    """The invoice number as the terminal can take it: plain characters, ≤ 50 [R length; I chars]."""
    return "".join(c for c in invoice if c.isascii() and (c.isalnum() or c in "-_"))[:50]


def _money_body(
    creds: Credentials,
    ref: str,
    amount_cents: int,
    payment_type: str,
    proxy_timeout: int | None,
    invoice: str = "",
) -> bytes:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValueError("the amount must be a positive number of cents")
    if payment_type not in PAYMENT_TYPES:
        raise ValueError(f"payment type {payment_type!r} is not one of {', '.join(PAYMENT_TYPES)}")
    fields: dict[str, str | bool | int | _Raw] = {
        "Amount": _Raw(dollars(amount_cents)),
        "PaymentType": payment_type,
        "ReferenceId": check_ref(ref),
    }
    if invoice:
        fields["InvoiceNumber"] = invoice
    fields["PrintReceipt"] = "No"
    fields["GetReceipt"] = "No"
    fields["Tpn"] = creds.tpn
    fields["Authkey"] = creds.authkey
    if proxy_timeout is not None:
        fields["SPInProxyTimeout"] = proxy_timeout
    return _encode(fields)


def sale(
    creds: Credentials,
    ref: str,
    amount_cents: int,
    *,
    payment_type: str = "Credit",
    invoice: str = "",
    proxy_timeout: int | None = None,
) -> HttpRequest:
    body = _money_body(
        creds, ref, amount_cents, payment_type, proxy_timeout, invoice_field(invoice)
    )
    return HttpRequest("sale", "POST", SALE, body, ref=ref)


def refund(
    creds: Credentials,
    ref: str,
    amount_cents: int,
    *,
    payment_type: str = "Credit",
    proxy_timeout: int | None = None,
) -> HttpRequest:
    """Return: an independent credit under a new ReferenceId; the card is presented again [R]."""
    body = _money_body(creds, ref, amount_cents, payment_type, proxy_timeout)
    return HttpRequest("refund", "POST", RETURN, body, ref=ref)


def void(
    creds: Credentials,
    original_ref: str,
    amount_cents: int,
    *,
    payment_type: str = "Credit",
    proxy_timeout: int | None = None,
) -> HttpRequest:
    """Void names the *original* ReferenceId and its amount [R S7]; it has no reference of its own."""
    body = _money_body(creds, original_ref, amount_cents, payment_type, proxy_timeout)
    return HttpRequest("void", "POST", VOID, body, ref=original_ref)


def status(creds: Credentials, ref: str, *, payment_type: str = "Credit") -> HttpRequest:
    body = _encode(
        {
            "PaymentType": payment_type,
            "ReferenceId": check_ref(ref),
            "Tpn": creds.tpn,
            "Authkey": creds.authkey,
        }
    )
    return HttpRequest("status", "POST", STATUS, body, ref=ref)


def settle(creds: Credentials, ref: str, *, proxy_timeout: int | None = None) -> HttpRequest:
    fields: dict[str, str | bool | int | _Raw] = {
        "ReferenceId": check_ref(ref),
        "GetReceipt": False,
        "Tpn": creds.tpn,
        "Authkey": creds.authkey,
    }
    if proxy_timeout is not None:
        fields["SPInProxyTimeout"] = proxy_timeout
    return HttpRequest("settle", "POST", SETTLE, _encode(fields), ref=ref)


def abort(creds: Credentials, ref: str) -> HttpRequest:
    body = _encode({"ReferenceId": check_ref(ref), "Tpn": creds.tpn, "Authkey": creds.authkey})
    return HttpRequest("abort", "POST", ABORT, body, ref=ref)


def terminal_status(creds: Credentials) -> HttpRequest:
    """GET with the key in the query string, as documented [R S7] (the trace masks it)."""
    query = (("request.tpn", creds.tpn), ("request.authkey", creds.authkey))
    return HttpRequest("terminal_status", "GET", TERMINAL_STATUS, query=query)


# ---------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """A SPIn reply as read: only what the driver decides on. Absent text fields are ``""``,
    absent amounts ``None``."""

    http_status: int
    result_code: str
    status_code: str
    message: str = ""
    detailed_message: str = ""
    host_code: str = ""
    host_message: str = ""
    delay_s: float | None = None
    reference_id: str | None = None
    transaction_type: str = ""
    amount_cents: int | None = None
    total_cents: int | None = None
    auth_code: str = ""
    pn_reference: str = ""
    transaction_number: str = ""
    batch_number: str = ""
    card_type: str = ""
    last4: str = ""
    entry_type: str = ""
    token: str = ""
    voided: bool | None = None
    transaction_count: int | None = None

    @property
    def text(self) -> str:
        """The terminal's own words, for the person at the counter."""
        words = self.message or "no message"
        if self.detailed_message and self.detailed_message != self.message:
            words = f"{words}: {self.detailed_message}"
        return f"{words} ({self.status_code})"


def _reject_constant(name: str) -> Any:
    raise CodecError(f"the reply holds {name}, which is not JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        low = key.lower()
        if low in out:
            raise CodecError(f"the reply names {key!r} twice")
        out[low] = value
    return out


def load_json(body: bytes) -> Any:
    """JSON with exact numbers, no NaN/Infinity, no duplicate keys."""
    if len(body) > MAX_BODY:
        raise CodecError(f"the reply is {len(body)} bytes, more than a SPIn reply holds")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("the reply is not UTF-8 text") from None
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_pairs,
        )
    except CodecError:
        raise
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"the reply is not JSON ({exc.__class__.__name__})") from None


def _text(obj: dict[str, Any], key: str, limit: int = 200) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise CodecError(f"{key} is not text")
    text = str(value)
    if len(text) > limit:
        raise CodecError(f"{key} is longer than {limit} characters")
    return "".join(c if c.isprintable() else "?" for c in text)


def _amount(obj: dict[str, Any], key: str, *, signed: bool = False) -> int | None:
    if obj.get(key) is None:
        return None
    try:
        return cents(obj[key], signed=signed)
    except AmountError as exc:
        raise CodecError(f"{key}: {exc}") from None


def _result_code(value: Any) -> str:
    if isinstance(value, bool):
        raise CodecError("ResultCode is not a code")
    if isinstance(value, int) and value in (0, 1, 2):
        return str(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("0", "1", "2"):
            return low
        if low in _RESULT_NAMES:
            return _RESULT_NAMES[low]
    raise CodecError(f"ResultCode {value!r} is not 0, 1 or 2")


def _status_code(value: Any) -> str:
    """Four digits [R]; a bare number is zero-padded [I]."""
    if isinstance(value, bool):
        raise CodecError("StatusCode is not a code")
    if isinstance(value, int) and 0 <= value <= 9999:
        return f"{value:04d}"
    if isinstance(value, str) and len(value.strip()) == 4 and value.strip().isdigit():
        return value.strip()
    raise CodecError(f"StatusCode {value!r} is not four digits")


def _delay(value: Any) -> float | None:
    """DelayBeforeNextRequest: seconds as a number or text [R field; type varies, S7/S9]."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        return None
    if not number.is_finite() or number < 0:
        return None
    return float(min(number, Decimal(600)))  # a wait, not money: a float is fine here


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def parse_reply(http_status: int, body: bytes) -> Reply:
    """A payment reply (Sale, Return, Void, Status, Settle, Abort). Raises :class:`CodecError`."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise CodecError("the reply is not a JSON object")
    general = data.get("generalresponse")
    if not isinstance(general, dict):
        raise CodecError("the reply has no GeneralResponse")
    result = _result_code(general.get("resultcode"))
    code = _status_code(general.get("statuscode"))
    ok_code = code in (APPROVED, PARTIAL)
    if (result == "0") != ok_code:
        raise CodecError(f"ResultCode {result} contradicts StatusCode {code}")
    amounts = data.get("amounts")
    if amounts is not None and not isinstance(amounts, dict):
        raise CodecError("Amounts is not an object")
    amounts = amounts or {}
    card = data.get("carddata")
    if card is not None and not isinstance(card, dict):
        raise CodecError("CardData is not an object")
    card = card or {}
    ref = data.get("referenceid")
    if ref is not None and not isinstance(ref, str):
        raise CodecError("ReferenceId is not text")
    count = data.get("transactioncount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise CodecError("TransactionCount is not a count")
    last4 = _text(card, "last4", 4)
    if last4 and not last4.isdigit():
        raise CodecError("CardData.Last4 is not four digits")
    return Reply(
        http_status=http_status,
        result_code=result,
        status_code=code,
        message=_text(general, "message"),
        detailed_message=_text(general, "detailedmessage"),
        host_code=_text(general, "hostresponsecode", 10),
        host_message=_text(general, "hostresponsemessage"),
        delay_s=_delay(general.get("delaybeforenextrequest")),
        reference_id=ref,
        transaction_type=_text(data, "transactiontype", 40),
        amount_cents=_amount(amounts, "amount"),
        total_cents=_amount(amounts, "totalamount", signed=True),
        auth_code=_text(data, "authcode", 20),
        pn_reference=_text(data, "pnreferenceid", 60),
        transaction_number=_text(data, "transactionnumber", 40),
        batch_number=_text(data, "batchnumber", 20),
        card_type=_text(card, "cardtype", 30),
        last4=last4,
        entry_type=_text(card, "entrytype", 30),
        token=_text(data, "token", 100),
        voided=_flag(data.get("voided")),
        transaction_count=count,
    )


ONLINE, OFFLINE, TPN_NOT_FOUND = "Online", "Offline", "NotFound"


def parse_terminal_status(body: bytes) -> tuple[str, str]:
    """``GET TerminalStatus`` → (Online | Offline | NotFound, error description) [R S7]."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise CodecError("the terminal status is not a JSON object")
    state = data.get("terminalstatus")
    for known in (ONLINE, OFFLINE, TPN_NOT_FOUND):
        if isinstance(state, str) and state.lower() == known.lower():
            return known, _text(data, "errordescription")
    raise CodecError(f"TerminalStatus {state!r} is not Online, Offline or NotFound")
