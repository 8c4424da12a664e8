"""A local, stateful, Stripe-shaped sandbox: the payment-link operations of Stripe's OpenAPI
subset over real HTTP, a hosted payment page that takes test cards, and faults on demand.

    app = StripeSandboxApp()                 # app.secret_key is its sk_test_… key
    with serve_in_thread(app) as url:        # url is the API base and the page host
        ...

See gateways/README.md for what it imitates and what was inferred.
"""

from gateways.stripe.sandbox.app import OPERATIONS, ReplyDropped, StripeSandboxApp, new_secret_key
from gateways.stripe.sandbox.errors import StripeProblem
from gateways.stripe.sandbox.faults import KINDS as FAULT_KINDS
from gateways.stripe.sandbox.faults import Fault, Faults
from gateways.stripe.sandbox.server import base_url_for, bind, serve_forever, serve_in_thread
from gateways.stripe.sandbox.store import API_VERSION, PaymentOutcome, Store

__all__ = [
    "API_VERSION",
    "FAULT_KINDS",
    "OPERATIONS",
    "Fault",
    "Faults",
    "PaymentOutcome",
    "ReplyDropped",
    "Store",
    "StripeProblem",
    "StripeSandboxApp",
    "base_url_for",
    "bind",
    "new_secret_key",
    "serve_forever",
    "serve_in_thread",
]
