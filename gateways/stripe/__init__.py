"""The Stripe provider: Payment Links through the official ``stripe`` SDK.

:class:`StripeGateway` talks to Stripe (or, given ``base_url``, to the local sandbox in
:mod:`gateways.stripe.sandbox`).
"""

from gateways.stripe.gateway import EVENT_TYPES, STRIPE_API_VERSION, StripeGateway

__all__ = ["EVENT_TYPES", "STRIPE_API_VERSION", "StripeGateway"]
