"""The demo's payment-link world, in-process like the ServiceTitan sandbox: the Stripe sandbox
(served on loopback, since the ``stripe`` SDK speaks real HTTP), a real SMTP server (aiosmtpd)
and the Twilio sandbox. Started on first use, so screens and tests that never open a link do
not pay for three servers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

import httpx

from gateways.messaging.smtp import SmtpSender, SmtpSettings
from gateways.messaging.smtp_server import LocalSmtpServer
from gateways.messaging.twilio import TwilioSms
from gateways.messaging.twilio_sandbox import TwilioSandbox
from gateways.stripe import StripeGateway
from gateways.stripe.sandbox import StripeSandboxApp, serve_in_thread
from posplus_tui.ledger import Ledger
from posplus_tui.services.links.service import LinkService, LinkSettings
from posplus_tui.services.operators import OperatorService

__all__ = ["DemoLinks"]

log = logging.getLogger(__name__)
DEMO_FROM_NUMBER = "+15005550006"  # Twilio's test-credential sender that always succeeds


class DemoLinks:
    """Owns the demo's three sandboxes and the :class:`LinkService` that uses them."""

    def __init__(
        self,
        ledger: Ledger,
        operators: OperatorService,
        *,
        station: str,
        clock: Callable[[], datetime] | None = None,
        settings: LinkSettings | None = None,
    ) -> None:
        self._ledger = ledger
        self._operators = operators
        self._station = station
        self._clock = clock
        #: Read when :meth:`start` builds the service (tests shorten the polling interval).
        self.settings = settings or LinkSettings(poll_interval=1.0, company="Demo Home Services")
        self._stack = contextlib.ExitStack()
        self.stripe = StripeSandboxApp()
        self.twilio = TwilioSandbox(from_numbers=(DEMO_FROM_NUMBER,))
        self.smtp: LocalSmtpServer | None = None
        self.stripe_url = ""
        self.service: LinkService | None = None

    def start(self) -> LinkService:
        if self.service is not None:
            return self.service
        self.stripe_url = self._stack.enter_context(serve_in_thread(self.stripe))
        self.smtp = self._stack.enter_context(LocalSmtpServer())
        gateway = StripeGateway(self.stripe.secret_key, base_url=self.stripe_url)
        email = SmtpSender(SmtpSettings(self.smtp.host, self.smtp.port, "billing@demo.example"))
        sms = TwilioSms(
            self.twilio.account_sid,
            self.twilio.auth_token,
            DEMO_FROM_NUMBER,
            base_url="http://twilio.sandbox",
            transport=httpx.ASGITransport(app=self.twilio),
        )
        self.service = LinkService(
            self._ledger,
            gateway,
            self._operators,
            station=self._station,
            email=email,
            sms=sms,
            settings=self.settings,
            clock=self._clock,
        )
        log.info(
            "demo payment links: Stripe sandbox at %s, SMTP at %s:%s, texts kept in memory",
            self.stripe_url,
            self.smtp.host,
            self.smtp.port,
        )
        return self.service

    def outbox(self) -> list[str]:
        """What the demo "sent", newest first: e-mails and texts with their links, for the
        screen that shows them (nothing leaves this machine)."""
        lines: list[tuple[str, str]] = []
        if self.smtp is not None:
            for mail in self.smtp.received:
                url = next((w for w in mail.body.split() if w.startswith("http")), "")
                lines.append(("", f"e-mail to {', '.join(mail.rcpt_tos)}: {url}"))
        for sms in self.twilio.messages:
            lines.append((sms.created.isoformat(), f"text to {sms.to}: {sms.body}"))
        return [text for _, text in reversed(lines)]

    async def aclose(self) -> None:
        if self.service is not None:
            await self.service.aclose()
        self._stack.close()
