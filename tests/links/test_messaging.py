"""Sending a link: recipients checked before anything is created, a real SMTP server, the Twilio shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.messaging import (
    BadRecipient,
    Channel,
    MessageAuthError,
    MessageNotSent,
    MessageRefused,
    MessageUnknown,
    check_email,
    normalise_phone,
)
from gateways.messaging.qr import qr_text
from gateways.messaging.smtp import AUTH_REFUSED, SmtpSender, SmtpSettings, security_for
from gateways.messaging.smtp_server import LocalSmtpServer
from gateways.messaging.twilio import TwilioSms
from gateways.messaging.twilio_sandbox import TwilioSandbox
from posplus_tui.servicetitan.sandbox.server import serve_in_thread


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("(415) 555-2671", "+14155552671"),
        ("415.555.2671", "+14155552671"),
        (" +1 415 555 2671 ", "+14155552671"),
        ("+44 7400 123456", "+447400123456"),
    ],
)
def test_phone_numbers_become_e164(typed: str, e164: str) -> None:
    got = normalise_phone(typed)
    assert (got.channel, got.value, got.raw) == (Channel.SMS, e164, typed.strip())


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "Type the customer's mobile number"),
        ("555", "too few or too many digits"),
        ("call me", "is not a phone number"),
        ("bob@example.com", "looks like an e-mail address"),
        ("+44 20 7183 8750", "landline"),
        ("(800) 555-0199", "toll-free"),
    ],
)
def test_bad_numbers_get_a_sentence(typed: str, words: str) -> None:
    with pytest.raises(BadRecipient) as caught:
        normalise_phone(typed)
    assert words in caught.value.sentence


@pytest.mark.parametrize(
    ("typed", "value"),
    [("  Ann.Lee+pay@Example.COM ", "Ann.Lee+pay@example.com"), ("a@b.co", "a@b.co")],
)
def test_good_addresses(typed: str, value: str) -> None:
    assert check_email(typed).value == value


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "Type the customer's e-mail"),
        ("ann example.com", "has a space"),
        ("ann@@example.com", "exactly one @"),
        ("ann@example", "not a domain"),
        ("ann@exa_mple.com", "not a domain"),
        (".ann@example.com", "before the @"),
        ("an..n@example.com", "two dots"),
        ("ann@1.2.3.4", "not a domain"),
    ],
)
def test_bad_addresses_get_a_sentence(typed: str, words: str) -> None:
    with pytest.raises(BadRecipient) as caught:
        check_email(typed)
    assert words in caught.value.sentence


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_any_typed_text_is_a_recipient_or_a_sentence(text: str) -> None:
    """Whatever a clerk types, the answer is a checked recipient or a refusal, never a traceback."""
    for check in (normalise_phone, check_email):
        try:
            got = check(text)
        except BadRecipient as refused:
            assert refused.sentence
        else:
            assert got.value and "\n" not in got.value


# -- e-mail over a real SMTP server ---------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer() as server:
        yield server


async def test_email_reaches_the_smtp_server(smtp: LocalSmtpServer) -> None:
    sender = SmtpSender(SmtpSettings(smtp.host, smtp.port, "billing@acme-hvac.example"))
    sent = await sender.send("ann@example.com", "Invoice 1001", "Pay here: http://pay.test/x")
    assert sent.channel is Channel.EMAIL and sent.provider_id.startswith("<")
    (mail,) = await smtp.await_for(1)
    assert mail.rcpt_tos == ("ann@example.com",)
    assert mail.subject == "Invoice 1001"
    assert "http://pay.test/x" in mail.body


async def test_a_rejected_mailbox_is_a_refusal_with_the_address(smtp: LocalSmtpServer) -> None:
    smtp.reject("nobody@example.com")
    sender = SmtpSender(SmtpSettings(smtp.host, smtp.port, "billing@acme-hvac.example"))
    with pytest.raises(MessageRefused) as caught:
        await sender.send("nobody@example.com", "s", "b")
    assert caught.value.code == "550" and "nobody@example.com" in caught.value.sentence
    assert smtp.received == []


async def test_no_smtp_server_is_not_sent() -> None:
    server = LocalSmtpServer()  # bound, never started: nobody answers
    port = server.port
    server._controller._sock.close()
    sender = SmtpSender(SmtpSettings("127.0.0.1", port, "billing@acme-hvac.example", timeout=2))
    with pytest.raises(MessageNotSent):
        await sender.send("ann@example.com", "s", "b")


@pytest.fixture
def smtp_auth() -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(users={"billing": "right-pass"}) as server:
        yield server


async def test_a_login_with_good_credentials_delivers(smtp_auth: LocalSmtpServer) -> None:
    sender = SmtpSender(
        SmtpSettings(
            smtp_auth.host, smtp_auth.port, "billing@acme.example", "billing", "right-pass"
        )
    )
    await sender.check_login()
    await sender.send("ann@example.com", "Invoice 1001", "Pay here: http://pay.test/x")
    (mail,) = await smtp_auth.await_for(1)
    assert mail.rcpt_tos == ("ann@example.com",)


@pytest.mark.parametrize(("user", "password"), [("billing", "wrong"), ("nobody", "right-pass")])
async def test_a_refused_login_is_a_sentence(
    smtp_auth: LocalSmtpServer, user: str, password: str
) -> None:
    sender = SmtpSender(
        SmtpSettings(smtp_auth.host, smtp_auth.port, "billing@acme.example", user, password)
    )
    for attempt in (sender.check_login(), sender.send("ann@example.com", "s", "b")):
        with pytest.raises(MessageAuthError) as caught:
            await attempt
        assert str(caught.value) == AUTH_REFUSED
        assert str(caught.value).startswith("The SMTP server refused the user name or password")
        assert password not in str(caught.value)
    assert smtp_auth.received == []


async def test_no_login_where_the_server_wants_one_is_refused(smtp_auth: LocalSmtpServer) -> None:
    sender = SmtpSender(SmtpSettings(smtp_auth.host, smtp_auth.port, "billing@acme.example"))
    await sender.check_login()  # no user name: nothing to check
    with pytest.raises(MessageRefused, match="Authentication required") as caught:
        await sender.send("ann@example.com", "s", "b")
    assert caught.value.code == "530"


async def test_a_user_name_where_no_login_is_offered_is_a_sentence(smtp: LocalSmtpServer) -> None:
    sender = SmtpSender(SmtpSettings(smtp.host, smtp.port, "billing@acme.example", "u", "p"))
    with pytest.raises(MessageNotSent, match="AUTH"):
        await sender.check_login()


@pytest.mark.parametrize(
    ("port", "chosen", "tls"),
    [
        (465, "", "implicit"),
        (587, "", "starttls"),
        (25, "", "none"),
        (2525, "TLS", "implicit"),
        (2525, "starttls", "starttls"),
        (465, "none", "none"),
    ],
)
def test_security_is_the_choice_else_the_port(port: int, chosen: str, tls: str) -> None:
    assert security_for(port, chosen) == tls


# -- SMS in Twilio's shape ------------------------------------------------------------------------


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[TwilioSandbox, TwilioSms]]:
    sandbox = TwilioSandbox()
    client = TwilioSms(
        sandbox.account_sid,
        sandbox.auth_token,
        "+15005550006",
        base_url="http://twilio.test",
        transport=httpx.ASGITransport(app=sandbox),
    )
    yield sandbox, client
    await client.aclose()


async def test_sms_is_queued_then_delivered(twilio: tuple[TwilioSandbox, TwilioSms]) -> None:
    sandbox, client = twilio
    sent = await client.send("(415) 555-2671", "Pay invoice 1001: http://pay.test/x")
    assert sent.status == "queued" and sent.provider_id.startswith("SM")
    (record,) = sandbox.sent_to("+14155552671")
    assert "http://pay.test/x" in record.body
    assert (await client.read(sent.provider_id)).status == "sent"
    assert (await client.read(sent.provider_id)).status == "delivered"


@pytest.mark.parametrize(
    ("number", "code", "words"),
    [
        ("+15005550001", "21211", "not a valid phone number"),
        ("+15005550009", "21614", "not a mobile number"),
        ("+15005550004", "21610", "opted out"),
    ],
)
async def test_twilio_refusals_become_sentences(
    twilio: tuple[TwilioSandbox, TwilioSms], number: str, code: str, words: str
) -> None:
    sandbox, client = twilio
    with pytest.raises(MessageRefused) as caught:
        await client.send(number, "hello")
    assert caught.value.code == code and words in caught.value.sentence
    assert sandbox.messages == []


async def test_stop_then_start(twilio: tuple[TwilioSandbox, TwilioSms]) -> None:
    sandbox, client = twilio
    sandbox.reply("+14155552671", "stop")
    with pytest.raises(MessageRefused, match="opted out"):
        await client.send("+14155552671", "hi")
    sandbox.reply("+14155552671", "START")
    assert (await client.send("+14155552671", "hi")).status == "queued"


async def test_a_landline_is_refused(twilio: tuple[TwilioSandbox, TwilioSms]) -> None:
    sandbox, client = twilio
    sandbox.landlines.add("+12127365000")
    with pytest.raises(MessageRefused, match="landline"):
        await client.send("(212) 736-5000", "hi")


async def test_a_bad_token_is_an_auth_error(twilio: tuple[TwilioSandbox, TwilioSms]) -> None:
    sandbox, _ = twilio
    wrong = TwilioSms(
        sandbox.account_sid,
        "nope",
        "+15005550006",
        base_url="http://twilio.test",
        transport=httpx.ASGITransport(app=sandbox),
    )
    with pytest.raises(MessageAuthError):
        await wrong.send("+14155552671", "hi")
    await wrong.aclose()


async def test_a_server_error_is_unknown(twilio: tuple[TwilioSandbox, TwilioSms]) -> None:
    sandbox, client = twilio
    sandbox.fail_next.append(503)
    with pytest.raises(MessageUnknown):
        await client.send("+14155552671", "hi")


async def test_the_sandbox_served_over_loopback() -> None:
    sandbox = TwilioSandbox()
    with serve_in_thread(sandbox) as url:
        client = TwilioSms(sandbox.account_sid, sandbox.auth_token, "+15005550006", base_url=url)
        sent = await client.send("+14155552671", "over the wire")
        await client.aclose()
        outbox = httpx.get(f"{url}/_sandbox/messages").json()["messages"]
    assert [m["sid"] for m in outbox] == [sent.provider_id]


def test_qr_is_square_half_blocks() -> None:
    lines = qr_text("http://127.0.0.1:8000/pay/plink_123").splitlines()
    assert len({len(line) for line in lines}) == 1
    assert len(lines) * 2 - 1 <= len(lines[0]) <= len(lines) * 2 + 1
    assert set("".join(lines)) <= set("█▀▄ ")
