"""Typed results and refusals shared by the e-mail and SMS senders."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Channel(enum.Enum):
    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True)
class Recipient:
    """A checked address: ``value`` is what we send to (E.164 for a phone), ``raw`` what was typed."""

    channel: Channel
    value: str
    raw: str


@dataclass(frozen=True)
class Sent:
    """The provider took the message. Accepted is not delivered: ``status`` says how far it got."""

    channel: Channel
    to: str
    provider_id: str
    status: str


class MessageRefused(Exception):
    """A clear, permanent refusal (bad number, landline, opted out, recipient rejected).

    ``code`` is the provider's (Twilio's numeric code as text, or the SMTP reply code); ``sentence``
    is what a clerk reads. Retrying the same recipient will not help.
    """

    def __init__(self, code: str, sentence: str) -> None:
        super().__init__(sentence)
        self.code = code
        self.sentence = sentence


class MessageNotSent(Exception):
    """Nothing left our side (server unreachable, connection refused): safe to try again later."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class MessageUnknown(Exception):
    """The provider may or may not have taken the message (time-out, 5xx, unreadable reply)."""


class MessageAuthError(Exception):
    """The provider refused our credentials: a setup problem, not the customer's."""
