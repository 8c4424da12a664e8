"""E-mail through an SMTP relay (aiosmtplib), so sending never blocks the app's event loop."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

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

__all__ = ["SmtpSender", "SmtpSettings"]


@dataclass(frozen=True)
class SmtpSettings:
    """Where the relay is. ``tls``: "none" (a local relay), "starttls" (587) or "implicit" (465)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    tls: str = "none"
    timeout: float = 15.0


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

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
            errors, _reply = await aiosmtplib.send(
                msg,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password,
                use_tls=s.tls == "implicit",
                start_tls=s.tls == "starttls",
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            code = str(exc.recipients[0].code) if exc.recipients else "550"
            raise MessageRefused(
                code, f"The mail server refused {recipient.value}: check the address."
            ) from None
        except aiosmtplib.SMTPAuthenticationError:
            raise MessageAuthError(
                "The mail server refused the e-mail user name or password."
            ) from None
        except aiosmtplib.SMTPConnectError as exc:
            raise MessageNotSent(
                f"The mail server at {s.host}:{s.port} cannot be reached ({exc})."
            ) from None
        except (TimeoutError, aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected):
            raise MessageUnknown(
                "The mail server stopped answering; the e-mail may not have gone."
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise MessageRefused(
                    str(exc.code), f"The mail server refused the e-mail: {exc.message}"
                ) from None
            raise MessageNotSent(f"The mail server said to try later: {exc.message}") from None
        except OSError as exc:
            raise MessageNotSent(
                f"The mail server at {s.host}:{s.port} cannot be reached ({exc})."
            ) from None
        if recipient.value in errors:
            response = errors[recipient.value]
            raise MessageRefused(str(response.code), f"The mail server refused {recipient.value}.")
        return Sent(Channel.EMAIL, recipient.value, str(msg["Message-ID"]), "accepted")
