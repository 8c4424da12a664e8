"""E-mail through an SMTP relay (aiosmtplib), so sending never blocks the app's event loop."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from gateways.messaging.base import (
    Channel,
    MessageAuthError,
    MessageNotSent,
    MessageRefused,
    MessageUnknown,
    Sent,
)
from gateways.messaging.recipients import check_email

__all__ = ["AUTH_REFUSED", "SmtpSender", "SmtpSettings", "security_for"]


@dataclass(frozen=True)
class SmtpSettings:
    """Where the relay is. ``tls``: "none" (a local relay), "starttls" (587) or "implicit" (465).
    With a ``username`` the sender logs in (AUTH) before sending; without one it does not."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    tls: str = "none"
    timeout: float = 15.0


AUTH_REFUSED = (
    "The SMTP server refused the user name or password: an admin checks them in Setup, "
    "section 6 (Payment links)."
)


def security_for(port: int, security: str = "") -> str:
    """The ``tls`` mode: the one chosen ("none", "starttls", "tls"), else guessed from the port."""
    chosen = {"none": "none", "starttls": "starttls", "tls": "implicit"}.get(security.lower())
    return chosen or {465: "implicit", 587: "starttls"}.get(port, "none")


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _connection(self) -> dict[str, Any]:
        s = self.settings
        login = bool(s.username)
        return {
            "hostname": s.host,
            "port": s.port,
            "username": s.username if login else None,
            "password": (s.password or "") if login else None,
            "use_tls": s.tls == "implicit",
            "start_tls": s.tls == "starttls",
            "timeout": s.timeout,
        }

    async def check_login(self) -> None:
        """Connect and log in, sending nothing: so a refused password is known before a link is
        made. Without a user name there is nothing to check."""
        if not self.settings.username:
            return
        client = aiosmtplib.SMTP(**self._connection())
        try:
            async with client:
                pass
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._words(exc) from None

    def _words(self, exc: BaseException) -> Exception:
        s = self.settings
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return MessageAuthError(AUTH_REFUSED)
        unreachable = f"The mail server at {s.host}:{s.port} cannot be reached ({exc})."
        if isinstance(exc, aiosmtplib.SMTPConnectError):
            return MessageNotSent(unreachable)
        if isinstance(
            exc, TimeoutError | aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected
        ):
            return MessageUnknown(
                "The mail server stopped answering; the e-mail may not have gone."
            )
        if isinstance(exc, OSError):
            return MessageNotSent(unreachable)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if 500 <= exc.code < 600:
                return MessageRefused(
                    str(exc.code), f"The mail server refused the e-mail: {exc.message}"
                )
            return MessageNotSent(f"The mail server said to try later: {exc.message}")
        if isinstance(exc, aiosmtplib.SMTPException):
            # e.g. "No suitable authentication method found." (a user name, but no AUTH offered)
            return MessageNotSent(f"The mail server at {s.host}:{s.port} said: {exc}")
        return MessageNotSent(f"The mail server at {s.host}:{s.port} failed: {exc}")

    async def send(self, to: str, subject: str, body: str) -> Sent:
        """Send one plain-text message; the Message-ID is the provider id we keep."""
        recipient = check_email(to)
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.sender
        msg["To"] = recipient.value
        msg["Subject"] = subject
        domain = s.sender.rpartition("@")[2] or "localhost"
        msg["Message-ID"] = make_msgid(domain=domain)
        msg.set_content(body)
        try:
            errors, _reply = await aiosmtplib.send(msg, **self._connection())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            code = str(exc.recipients[0].code) if exc.recipients else "550"
            raise MessageRefused(
                code, f"The mail server refused {recipient.value}: check the address."
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._words(exc) from None
        if recipient.value in errors:
            response = errors[recipient.value]
            raise MessageRefused(str(response.code), f"The mail server refused {recipient.value}.")
        return Sent(Channel.EMAIL, recipient.value, str(msg["Message-ID"]), "accepted")
