"""Sending a payment link to a customer: e-mail over SMTP, SMS in Twilio's Messages API shape.

Stand-alone like the rest of ``gateways/``: nothing here imports ``posplus_tui``. Recipients are
checked (:mod:`.recipients`) before a caller creates anything, so a typo costs a sentence, not a
half-made link.
"""

from gateways.messaging.base import (
    Channel,
    MessageAuthError,
    MessageNotSent,
    MessageRefused,
    MessageUnknown,
    Recipient,
    Sent,
)
from gateways.messaging.recipients import BadRecipient, check_email, normalise_phone

__all__ = [
    "BadRecipient",
    "Channel",
    "MessageAuthError",
    "MessageNotSent",
    "MessageRefused",
    "MessageUnknown",
    "Recipient",
    "Sent",
    "check_email",
    "normalise_phone",
]
