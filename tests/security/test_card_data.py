"""Card data is stopped at the door and masked everywhere else.

Hypothesis writes card numbers the way people and programs do (spaces, dashes, dots, slashes,
tabs, double spaces, glued to letters, followed by an expiry) and checks that the door spots
every one and the masker leaves none of it. Then each form the security review found is pushed
through the real log file, the real audit chain and the real lookup against the sandbox.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from posplus_tui.ledger import Ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.logs import setup_logging
from posplus_tui.redaction import card_data_in, luhn_ok, redact
from posplus_tui.services.audit import AuditService
from posplus_tui.services.errors import InvalidRequest
from posplus_tui.services.lookup import LookupService
from posplus_tui.services.operators import OperatorService
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.services.conftest import Staff

# -- generating card numbers -----------------------------------------------------------------------


def _with_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    prefix = draw(st.sampled_from(["4", "51", "55", "34", "37", "6011", "35"]))
    rest = draw(st.text("0123456789", min_size=length - 1 - len(prefix),
                        max_size=length - 1 - len(prefix)))  # fmt: skip
    return _with_check_digit(prefix + rest)


SEPARATORS = ["", " ", "-", ".", "/", "\t", "  ", "_", " - ", "\u00a0"]
NEIGHBOURS = st.text(st.sampled_from("abcxyzPANpan:=#()[]{}'\" ,;|<>!?*+~"), min_size=0, max_size=6)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """``(text, digits)``: a card number split at random points by random separators, between
    random non-digit neighbours (glued letters included), perhaps followed by an expiry."""
    digits = draw(card_numbers())
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=5)))
    parts, last = [], 0
    for cut in cuts:
        parts.append(digits[last:cut])
        last = cut
    parts.append(digits[last:])
    assume(len(parts) == 1 or any(len(p) > 2 for p in parts))  # not a hex dump of pairs
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    tail = draw(st.sampled_from(["", " 12/29", " exp 12/29", "=2912"]))
    return draw(NEIGHBOURS) + text + tail + draw(NEIGHBOURS), digits


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disguised())
@example(("400000\xa0000000000002=2912", "400000000000000002"))  # found: a no-break space
def test_every_disguised_card_number_is_spotted_and_masked(case: tuple[str, str]) -> None:
    text, digits = case
    assert card_data_in(text), text
    masked = redact(text)
    assert digits not in re.sub(r"\D", "", masked), (text, masked)
    assert digits[:6] not in re.sub(r"\D", "", masked)  # not even the issuer's prefix


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("0123456789 -./"), max_size=12))
def test_short_numbers_are_not_card_data(text: str) -> None:
    """Amounts, invoice and job numbers, dates and phone numbers pass."""
    assert not card_data_in(text)


FORMS = {
    "track 1": "swipe %B4111111111111111^DOE/JOHN^29121010000000000000?",
    "track 2": "read ;4111111111111111=29121010000000000000? done",
    "glued underscore": "pan_4111111111111111",
    "glued capitals": "PAN4111111111111111",
    "dots": "4111.1111.1111.1111",
    "slashes": "4111/1111/1111/1111",
    "tabs": "4111\t1111\t1111\t1111",
    "double spaces": "4111  1111  1111  1111",
    "amex": "3782 822463 10005",
    "cvv": "card ok cvv 737",
    "cvc": "CVC2: 123",
}
SECRETS = {
    "refresh_token": ("refresh_token=rt-77aa88bb99", "rt-77aa88bb99"),
    "id_token": ('{"id_token": "eyJhbGciOi.eyJzdWIi.sig"}', "eyJhbGciOi"),
    "basic": ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    "url password": ("postgresql://pos:hunter2@db.local/ledger", "hunter2"),
    "ach": ("routing 021000021 account 000123456789 checking", "000123456789"),
    "ach routing": ("routing 021000021 account 000123456789 checking", "021000021"),
    "expiry": ("exp 12/29 on the card", "12/29"),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_form_of_card_data_is_spotted(name: str) -> None:
    text = FORMS[name]
    assert card_data_in(text), name
    masked = redact(text)
    assert "4111111111111111" not in re.sub(r"\D", "", masked)
    assert "378282246310005" not in re.sub(r"\D", "", masked)
    for code in ("737", "123"):
        if "cv" in text.lower():
            assert code not in masked


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_each_secret_form_is_masked(name: str) -> None:
    text, secret = SECRETS[name]
    assert secret not in redact(text), redact(text)


def test_every_form_stays_out_of_the_log_file(tmp_path: Path) -> None:
    file = setup_logging(logging.DEBUG, tmp_path)
    log = logging.getLogger("posplus.security")
    for text in [*FORMS.values(), *(t for t, _ in SECRETS.values())]:
        log.info("free text: %s", text)
    for handler in logging.getLogger().handlers:
        handler.flush()
    content = file.read_text()
    digits = re.sub(r"\D", "", content)
    assert "4111111111111111" not in digits and "378282246310005" not in digits
    for _text, secret in SECRETS.values():
        assert secret not in content, secret


def test_audit_details_are_masked_before_they_are_hashed(ledger: Ledger) -> None:
    """Card data in a hash-chained event could never be removed without breaking the chain."""
    audit = AuditService(ledger, station="Counter 1")
    for name, text in FORMS.items():
        audit.record_sync("note", actor="Sam Super", subject=text, details={name: [text]})
    for name, (text, _secret) in SECRETS.items():
        audit.record_sync("note", actor=text, details={"nested": {name: text}})
    with ledger.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT actor, subject, details FROM audit_events").all()
    stored = json.dumps([list(r) for r in rows], ensure_ascii=False)
    assert "4111111111111111" not in re.sub(r"\D", "", stored)
    for _text, secret in SECRETS.values():
        assert secret not in stored
    assert verify(ledger.engine).ok


async def test_a_pin_typed_in_the_name_box_never_becomes_the_actor(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    for typed in ("3333", "4111 1111 1111 1111", "Carl 3333"):
        with pytest.raises(Exception):  # noqa: B017 - SignInFailed
            await operators.sign_in(typed, "3333")
    with ledger.engine.connect() as conn:
        stored = json.dumps(
            [list(r) for r in conn.exec_driver_sql("SELECT * FROM audit_events").all()],
            default=str,
        )
    # seals and HMACs are hex: "3333" turns up in one by chance (once seen here)
    words = re.sub(r"\b[0-9a-f]{32,}\b", "<digest>", stored)
    assert "3333" not in words and "4111" not in words


async def test_operator_names_holding_card_data_are_refused(
    operators: OperatorService, staff: Staff
) -> None:
    with pytest.raises(InvalidRequest, match="card"):
        await operators.add("Ana 4111111111111111", "clerk", "1234", by=staff.admin)
    with pytest.raises(InvalidRequest, match="card"):
        await operators.update(staff.clerk.id, st_username="4111-1111-1111-1111", by=staff.admin)


class _Recording(httpx.AsyncBaseTransport):
    """Passes requests on to the sandbox and remembers every URL sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
async def test_a_card_number_typed_in_the_search_box_is_never_sent(ledger: Ledger) -> None:
    sandbox = Sandbox(seed=1, size="demo")
    wire = _Recording(sandbox.transport())
    client = sandbox.client(transport=wire)
    try:
        lookup = LookupService(ledger.engine, client)
        for typed in ("4111111111111111", "4111 1111 1111 1111", "pan_4111.1111.1111.1111",
                      ";4111111111111111=2912101?"):  # fmt: skip
            with pytest.raises(InvalidRequest, match="card") as refused:
                await lookup.search(typed)
            assert "never stored or sent" in refused.value.message
        assert not any("4111" in url for url in wire.urls)
        # Long input gets a sentence too (4,301 digits broke int() with a ValueError).
        for typed in ("7" * 4301, "x" * 10_000):
            with pytest.raises(InvalidRequest, match="too long"):
                await lookup.search(typed)
        assert wire.urls == []
    finally:
        await client.aclose()
