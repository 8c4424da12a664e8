"""Card-not-present payment gateways (payment links). A separate package: it never imports
``posplus_tui``.

The interface and its typed results are in :mod:`gateways.base`; the first provider is
:mod:`gateways.stripe` (with a local Stripe-shaped sandbox in :mod:`gateways.stripe.sandbox`).
"""

from gateways.base import (
    ChangePage,
    EventKind,
    LinkCreated,
    LinkEvent,
    LinkGateway,
    LinkPayment,
    LinkState,
    LinkStatus,
    RefundResult,
    RefundState,
)
from gateways.errors import (
    GatewayAuthError,
    GatewayConfigError,
    GatewayError,
    GatewayNotFound,
    GatewayRefused,
    GatewayUnknown,
)

__all__ = [
    "ChangePage",
    "EventKind",
    "GatewayAuthError",
    "GatewayConfigError",
    "GatewayError",
    "GatewayNotFound",
    "GatewayRefused",
    "GatewayUnknown",
    "LinkCreated",
    "LinkEvent",
    "LinkGateway",
    "LinkPayment",
    "LinkState",
    "LinkStatus",
    "RefundResult",
    "RefundState",
]
