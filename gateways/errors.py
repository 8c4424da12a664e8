"""What a gateway raises instead of returning a result.

The split matters for money: :class:`GatewayUnknown` means "it may have happened" (the caller must
read back by reference or repeat with the same idempotency key, never create afresh), while
:class:`GatewayRefused`, :class:`GatewayAuthError` and :class:`GatewayNotFound` mean the provider
clearly did not do it.
"""

from __future__ import annotations

__all__ = [
    "GatewayAuthError",
    "GatewayConfigError",
    "GatewayError",
    "GatewayNotFound",
    "GatewayRefused",
    "GatewayUnknown",
]


class GatewayError(Exception):
    """Base of every gateway failure; ``str()`` is a sentence a clerk or technician can act on."""


class GatewayUnknown(GatewayError):
    """The outcome is not known: time-out, 5xx, connection cut, or a reply that could not be read
    completely. The request may have taken effect. Settle with ``find_by_reference`` / ``read_link``
    (or by repeating with the *same* idempotency key); never create again with a new key."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class GatewayRefused(GatewayError):
    """The provider clearly refused (bad parameters, amount over what is refundable, a link that
    is no longer active, …); nothing happened. ``code`` is the provider's code, as sent."""

    def __init__(self, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


class GatewayAuthError(GatewayError):
    """The secret key was refused (HTTP 401/403): fix the key in Settings; nothing happened."""


class GatewayNotFound(GatewayError):
    """The provider has no object with that id (HTTP 404); nothing happened."""

    def __init__(self, message: str, *, object_id: str | None = None) -> None:
        super().__init__(message)
        self.object_id = object_id


class GatewayConfigError(GatewayError, ValueError):
    """A gateway URL or key that cannot be understood; the message shows a correct example."""
