"""A stateful Twilio-shaped Messages API for the demo and the tests (plain ASGI, in-process or served).

What it imitates (see gateways/messaging/README.md for what is inferred):
- basic auth ``AccountSid:AuthToken`` → 401 ``{code: 20003}`` otherwise; the account in the path
  must be the one authenticated;
- ``To`` must be E.164 and a real number → 400 ``21211``; a landline → 400 ``21614``; a recipient
  who replied STOP → 400 ``21610`` until they reply START; a wrong ``From`` → 400 ``21212``;
- Twilio's test-credential magic recipients: ``+15005550001`` (21211), ``+15005550009`` (21614),
  ``+15005550004`` (21610);
- a created message is ``queued``; each later read moves it one step (``sent``, then ``delivered``);
- ``/_sandbox/messages`` lists everything "sent" (the demo's outbox), ``/_sandbox/inbound`` takes a
  customer's reply (STOP/START) as Twilio's inbound webhook would.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

__all__ = ["SmsRecord", "TwilioSandbox"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json$")
MAGIC_INVALID = "+15005550001"
MAGIC_OPTED_OUT = "+15005550004"
MAGIC_NOT_MOBILE = "+15005550009"
_NEXT_STATUS = {"queued": "sent", "sent": "delivered"}


@dataclass
class SmsRecord:
    sid: str
    to: str
    from_: str
    body: str
    status: str
    created: datetime

    def as_json(self, account_sid: str) -> dict[str, Any]:
        stamp = format_datetime(self.created)
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status": self.status,
            "direction": "outbound-api",
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "date_created": stamp,
            "date_updated": stamp,
            "date_sent": None,
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }


@dataclass
class TwilioSandbox:
    """The fake Twilio. ``from_numbers``: the numbers this account owns (a wrong ``From`` is 21212)."""

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    from_numbers: tuple[str, ...] = ("+15005550006",)
    landlines: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=lambda: {MAGIC_OPTED_OUT})
    messages: list[SmsRecord] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer with, in order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- trainer / test controls -------------------------------------------------------------

    def reply(self, from_number: str, body: str) -> None:
        """The customer texts back: STOP opts them out, START opts them in (Twilio's keywords)."""
        word = body.strip().upper()
        with self._lock:
            if word in {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}:
                self.opted_out.add(from_number)
            elif word in {"START", "YES", "UNSTOP"}:
                self.opted_out.discard(from_number)

    def sent_to(self, number: str) -> list[SmsRecord]:
        with self._lock:
            return [m for m in self.messages if m.to == number]

    # -- the API -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        status, payload = self._handle(scope, body)
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def _handle(self, scope: Scope, body: bytes) -> tuple[int, Any]:
        method = scope["method"]
        path = scope["path"]
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if path == "/_sandbox/messages" and method == "GET":
            with self._lock:
                return 200, {"messages": [m.as_json(self.account_sid) for m in self.messages]}
        if path == "/_sandbox/inbound" and method == "POST":
            self.reply(form.get("From", ""), form.get("Body", ""))
            return 200, {}
        match = _MESSAGES.match(path)
        if match is None:
            return 404, _err(20404, "The requested resource was not found", 404)
        if not self._authorised(scope, match["acct"]):
            return 401, _err(20003, "Authenticate", 401)
        with self._lock:
            if self.fail_next:
                status = self.fail_next.pop(0)
                return status, _err(20500, "Internal Server Error", status)
            if match["sid"] is not None:
                return self._read(match["sid"], method)
            if method == "GET":
                return 200, {"messages": [m.as_json(self.account_sid) for m in self.messages]}
            if method != "POST":
                return 405, _err(20004, "Method not allowed", 405)
            return self._create(form)

    def _authorised(self, scope: Scope, account: str) -> bool:
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization" and value[:6].lower() == b"basic ":
                try:
                    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
                except ValueError:
                    return False
                return (
                    secrets.compare_digest(user, self.account_sid)
                    and secrets.compare_digest(password, self.auth_token)
                    and account == self.account_sid
                )
        return False

    def _create(self, form: dict[str, str]) -> tuple[int, Any]:
        to, from_, text = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return 400, _err(21604, "A 'To' phone number is required.", 400)
        if not text:
            return 400, _err(21602, "Message body is required.", 400)
        if from_ not in self.from_numbers:
            return 400, _err(21212, f"The 'From' number {from_} is not a valid phone number.", 400)
        if not _E164.match(to) or to == MAGIC_INVALID:
            return 400, _err(21211, f"The 'To' number {to} is not a valid phone number.", 400)
        if to in self.landlines or to == MAGIC_NOT_MOBILE:
            return 400, _err(21614, f"'To' number {to} is not a valid mobile number", 400)
        if to in self.opted_out:
            return 400, _err(21610, "Attempt to send to unsubscribed recipient", 400)
        record = SmsRecord(
            "SM" + secrets.token_hex(16), to, from_, text, "queued", datetime.now(UTC)
        )
        self.messages.append(record)
        return 201, record.as_json(self.account_sid)

    def _read(self, sid: str, method: str) -> tuple[int, Any]:
        if method != "GET":
            return 405, _err(20004, "Method not allowed", 405)
        for record in self.messages:
            if record.sid == sid:
                record.status = _NEXT_STATUS.get(record.status, record.status)
                return 200, record.as_json(self.account_sid)
        return 404, _err(20404, f"The requested resource /Messages/{sid}.json was not found", 404)


def _err(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
