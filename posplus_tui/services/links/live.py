"""Payment links for ``posplus run``: built from Setup's settings and the keyring's secrets on
first use, or a sentence saying what is missing (the ``l`` key shows it to the clerk).

The Stripe secret key, Twilio's account SID and auth token and the SMTP password are secrets (the
keyring, like the ServiceTitan client secret), never settings; the SMTP relay, its user name and
security, the Twilio address and the sending numbers are settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from posplus_tui.config import Settings
from posplus_tui.ledger import Ledger
from posplus_tui.secrets import LINK_SECRET_NAMES, SecretStore, SecretStoreError
from posplus_tui.services.links.service import LinkService, LinkSettings
from posplus_tui.services.operators import OperatorService

__all__ = ["LINK_SECRET_NAMES", "LINK_SETTINGS", "LiveLinks", "channel_gaps", "links_missing"]

#: The settings Setup shows under "Payment links" (the secrets are in LINK_SECRET_NAMES).
LINK_SETTINGS = (
    "twilio_from",
    "twilio_api_url",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_from",
    "stripe_api_url",
)

WHERE = "An admin adds it in Setup, section 6 (Payment links)."


def _secret(secrets: SecretStore, name: str) -> str:
    with contextlib.suppress(SecretStoreError):
        return secrets.get(name) or ""
    return ""


def links_missing(settings: Settings, secrets: SecretStore) -> str:
    """Why payment links cannot be used on this station, in words ("" when they can)."""
    key = _secret(secrets, "stripe_secret_key")
    if not key:
        return "Payment links are not set up on this station: the Stripe secret key is missing."
    if not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        return (
            "Payment links are not set up on this station: the Stripe secret key does not start "
            "with sk_live_ or sk_test_."
        )
    return ""


def channel_gaps(settings: Settings, secrets: SecretStore) -> list[str]:
    """What keeps e-mail or texts from being used (a QR code always works), one sentence each."""
    gaps = []
    smtp = [
        n for n, v in (("host", settings.smtp_host), ("From address", settings.smtp_from)) if not v
    ]
    if smtp:
        gaps.append(f"E-mailing links needs the SMTP {' and '.join(smtp)}.")
    elif settings.smtp_username and not _secret(secrets, "smtp_password"):
        gaps.append("E-mailing links needs the SMTP password (a user name is set).")
    twilio = [
        words
        for words, ok in (
            ("account SID", _secret(secrets, "twilio_account_sid")),
            ("auth token", _secret(secrets, "twilio_auth_token")),
            ("From number", settings.twilio_from),
        )
        if not ok
    ]
    if twilio:
        gaps.append(f"Texting links needs the Twilio {', '.join(twilio)}.")
    return gaps


class LiveLinks:
    """Starts the station's :class:`LinkService` from the settings, once they allow it."""

    def __init__(
        self,
        ledger: Ledger,
        operators: OperatorService,
        settings: Settings,
        secrets: SecretStore,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._ledger, self._operators = ledger, operators
        self.settings, self.secrets = settings, secrets
        self._clock = clock
        self.service: LinkService | None = None

    def why_not(self) -> str:
        if self.service is not None:
            return ""
        missing = links_missing(self.settings, self.secrets)
        return f"{missing} {WHERE}" if missing else ""

    def start(self) -> LinkService | None:
        if self.service is not None or self.why_not():
            return self.service
        # Imported here: the Stripe SDK is not needed to draw Setup or the first frame.
        from gateways import GatewayConfigError
        from gateways.messaging.smtp import SmtpSender, SmtpSettings, security_for
        from gateways.messaging.twilio import TwilioSms
        from gateways.stripe import StripeGateway

        s = self.settings
        try:
            gateway = StripeGateway(
                _secret(self.secrets, "stripe_secret_key"), base_url=s.stripe_api_url or None
            )
        except GatewayConfigError:
            return None
        email = None
        if s.smtp_host and s.smtp_from:
            port = int(s.smtp_port or 25)
            email = SmtpSender(
                SmtpSettings(
                    s.smtp_host,
                    port,
                    s.smtp_from,
                    username=s.smtp_username or None,
                    password=_secret(self.secrets, "smtp_password") if s.smtp_username else None,
                    tls=security_for(port, s.smtp_security),
                )
            )
        sid, token = (_secret(self.secrets, n) for n in ("twilio_account_sid", "twilio_auth_token"))
        sms = None
        if sid and token and s.twilio_from:
            twilio_url = s.twilio_api_url or "https://api.twilio.com"
            sms = TwilioSms(sid, token, s.twilio_from, base_url=twilio_url)
        self.service = LinkService(
            self._ledger,
            gateway,
            self._operators,
            station=s.station_name,
            email=email,
            sms=sms,
            settings=LinkSettings(),
            clock=self._clock,
        )
        return self.service

    async def aclose(self) -> None:
        if self.service is not None:
            await self.service.aclose()
