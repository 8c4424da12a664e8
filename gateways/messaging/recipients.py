"""Checking what a clerk typed before anything is created: phone numbers to E.164, e-mail addresses.

Pure functions (no DNS, no network): a typo is caught at the counter with a sentence; whether the
mailbox or handset exists is learnt from the provider's answer.
"""

from __future__ import annotations

import re

import phonenumbers

from gateways.messaging.base import Channel, Recipient

__all__ = ["BadRecipient", "check_email", "normalise_phone"]

DEFAULT_REGION = "US"

# A practical subset of RFC 5321: one @, a dotted domain with a letter TLD, no spaces or controls.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class BadRecipient(ValueError):
    """What was typed cannot be sent to; ``sentence`` says why in words a clerk can act on."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> Recipient:
    """``(415) 555-2671`` → ``+14155552671``; a number without a country code is read as ``region``."""
    text = raw.strip()
    if not text:
        raise BadRecipient("Type the customer's mobile number.")
    if "@" in text:
        raise BadRecipient(f"{text!r} looks like an e-mail address, not a phone number.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise BadRecipient(f"{text!r} is not a phone number.") from None
    if not phonenumbers.is_possible_number(number):
        raise BadRecipient(f"{text!r} has too few or too many digits for a phone number.")
    if not phonenumbers.is_valid_number(number):
        raise BadRecipient(f"{text!r} is not a number in use (check the area code).")
    kind = phonenumbers.number_type(number)
    if kind in _NOT_TEXTABLE:
        raise BadRecipient(f"{text!r} is a {_NOT_TEXTABLE[kind]} number; it cannot receive a text.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Recipient(Channel.SMS, e164, text)


# Only types phonenumbers is sure cannot take an SMS. US numbers are mostly FIXED_LINE_OR_MOBILE, so
# a landline is usually caught by the provider (Twilio 21614), not here.
_NOT_TEXTABLE = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "landline",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll-free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium-rate",
    phonenumbers.PhoneNumberType.PAGER: "pager",
}


def check_email(raw: str) -> Recipient:
    """A syntactically sendable address, trimmed; the domain is lower-cased, the local part kept."""
    text = raw.strip()
    if not text:
        raise BadRecipient("Type the customer's e-mail address.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise BadRecipient(f"{text!r} has a space in it; an e-mail address cannot.")
    if text.count("@") != 1:
        raise BadRecipient(f"{text!r} is not an e-mail address (it needs exactly one @).")
    local, domain = text.split("@")
    if not local or not _LOCAL.match(local) or local.startswith(".") or local.endswith("."):
        raise BadRecipient(f"{text!r}: the part before the @ is not valid.")
    if ".." in local:
        raise BadRecipient(f"{text!r}: two dots in a row are not allowed.")
    labels = domain.lower().split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise BadRecipient(f"{text!r}: the part after the @ is not a domain (like example.com).")
    if labels[-1].isdigit():
        raise BadRecipient(f"{text!r}: the part after the @ is not a domain (like example.com).")
    if len(text) > 254:
        raise BadRecipient("That e-mail address is too long.")
    return Recipient(Channel.EMAIL, f"{local}@{'.'.join(labels)}", text)
