"""SMS through Twilio's Messages API (2010-04-01), spoken with httpx so tests can point it anywhere.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with ``To``/``From``/``Body`` form fields
and basic auth ``AccountSid:AuthToken``. A 400 carries ``{code, message, more_info, status}``; the
codes a clerk can act on (21211 bad number, 21614 not a mobile, 21610 opted out) become
:class:`MessageRefused` with a sentence. Anything we cannot read is :class:`MessageUnknown`.
"""

from __future__ import annotations

from typing import Any

import httpx

from gateways.messaging.base import (
    Channel,
    MessageAuthError,
    MessageNotSent,
    MessageRefused,
    MessageUnknown,
    Sent,
)
from gateways.messaging.recipients import normalise_phone

__all__ = ["REFUSAL_WORDS", "TwilioSms"]

API_VERSION = "2010-04-01"

#: Twilio's documented error codes we turn into a clerk's sentence (the rest show Twilio's message).
REFUSAL_WORDS: dict[int, str] = {
    21211: "{to} is not a valid phone number.",
    21614: "{to} is not a mobile number (a landline cannot receive a text): send an e-mail instead.",
    21610: "{to} has opted out of texts (they replied STOP): send an e-mail or show the QR code.",
    21608: "{to} is not verified on this trial Twilio account.",
    21212: "The 'from' number set up for texts is not valid (Setup).",
}

#: Statuses after which nothing changes (Twilio's MessageStatus enum).
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})


class TwilioSms:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        base_url: str = "https://api.twilio.com",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(account_sid, auth_token),
            transport=transport,
            timeout=timeout,
        )

    def _path(self, tail: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/{tail}"

    async def send(self, to: str, body: str) -> Sent:
        recipient = normalise_phone(to)
        data = {"To": recipient.value, "From": self.from_number, "Body": body}
        try:
            reply = await self._client.post(self._path("Messages.json"), data=data)
        except httpx.ConnectError as exc:
            raise MessageNotSent(f"The text service cannot be reached ({exc}).") from None
        except httpx.HTTPError:
            raise MessageUnknown(
                "The text service stopped answering; the text may not have gone."
            ) from None
        payload = _json(reply)
        if reply.status_code in (200, 201):
            return _sent(payload, recipient.value)
        raise _error(reply.status_code, payload, recipient.value)

    async def read(self, sid: str) -> Sent:
        """Where a text got to (``queued`` → ``sent`` → ``delivered``/``undelivered``/``failed``)."""
        try:
            reply = await self._client.get(self._path(f"Messages/{sid}.json"))
        except httpx.HTTPError:
            raise MessageUnknown("The text service did not answer.") from None
        payload = _json(reply)
        if reply.status_code == 200:
            return _sent(payload, str(payload.get("to", "")))
        raise _error(reply.status_code, payload, sid)

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(reply: httpx.Response) -> dict[str, Any]:
    try:
        value = reply.json()
    except ValueError:
        value = None
    if not isinstance(value, dict):
        if reply.status_code in (200, 201) or reply.status_code >= 500:
            raise MessageUnknown(
                f"The text service answered {reply.status_code} with a body we cannot read."
            )
        value = {}
    return value


def _sent(payload: dict[str, Any], to: str) -> Sent:
    sid = payload.get("sid")
    status = payload.get("status")
    if not isinstance(sid, str) or not sid or not isinstance(status, str):
        raise MessageUnknown("The text service's reply has no message id or status.")
    return Sent(Channel.SMS, to, sid, status)


def _error(status: int, payload: dict[str, Any], to: str) -> Exception:
    code = payload.get("code")
    message = str(payload.get("message") or "")
    if status == 401:
        return MessageAuthError("Twilio refused the account SID or auth token (Setup).")
    if status >= 500:
        return MessageUnknown(f"The text service failed ({status}); the text may not have gone.")
    if isinstance(code, int) and code in REFUSAL_WORDS:
        return MessageRefused(str(code), REFUSAL_WORDS[code].format(to=to))
    if status == 429:
        return MessageNotSent("The text service is busy; try again in a minute.")
    shown = f"{code}: {message}" if code else message or f"HTTP {status}"
    return MessageRefused(str(code or status), f"The text service refused the text ({shown}).")
