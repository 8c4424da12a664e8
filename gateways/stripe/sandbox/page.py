"""The sandbox's hosted payment page: plain HTML forms, no script, every outside word escaped.

Stripe's real page is a script-heavy app; this one keeps only what a test or a trainee checks:
what is being paid, a card form, and a clear page for paid, declined, expired and inactive links.
The card number posted here goes to :meth:`Store.attempt_payment` and nowhere else (never
echoed back into the form, never logged).
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["checkout_form", "message_page", "paid_page"]

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 2px 8px rgba(0,0,0,.08)}
h1{font-size:1.25rem}.amount{font-size:2rem;font-weight:600;margin:.5rem 0 1.5rem}
label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #ccd;
border-radius:4px}
button{margin-top:1.25rem;width:100%;padding:.8rem;font-size:1rem;background:#635bff;
color:#fff;border:0;border-radius:4px}.error{color:#b00020;margin-top:1rem}
.test{background:#fff3cd;padding:.4rem .6rem;font-size:.8rem;border-radius:4px}
"""


def _doc(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _dollars(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    symbol = "$" if currency == "usd" else currency.upper() + " "
    return f"{sign}{symbol}{cents // 100:,}.{cents % 100:02d}"


def _what(session: dict[str, Any]) -> str:
    items = session.get("_line_items") or []
    return ", ".join(str(i.get("description") or "") for i in items) or "Payment"


def checkout_form(session: dict[str, Any], error: str | None = None) -> str:
    """The card form for an open Checkout Session."""
    amount = _dollars(int(session["amount_total"]), str(session["currency"]))
    err = f"<p class='error' role='alert' id='error'>{escape(error)}</p>" if error else ""
    body = (
        "<p class='test'>TEST MODE — sandbox. Use test cards only.</p>"
        f"<h1 id='description'>{escape(_what(session))}</h1>"
        f"<div class='amount' id='amount'>{escape(amount)}</div>"
        f"<form method='post' action='/c/pay/{escape(session['id'])}' autocomplete='off'>"
        "<label for='card_number'>Card number</label>"
        "<input id='card_number' name='card_number' inputmode='numeric' "
        "placeholder='1234 1234 1234 1234' required>"
        "<label for='exp'>Expiry (MM/YY)</label>"
        "<input id='exp' name='exp' placeholder='MM / YY' required>"
        "<label for='cvc'>CVC</label>"
        "<input id='cvc' name='cvc' inputmode='numeric' placeholder='CVC' required>"
        "<label for='name'>Name on card</label>"
        "<input id='name' name='name' autocomplete='off'>"
        f"<button type='submit' id='pay'>Pay {escape(amount)}</button>"
        f"{err}</form>"
    )
    return _doc("Pay " + amount, body)


def paid_page(session: dict[str, Any], brand: str, last4: str, custom_message: str | None) -> str:
    amount = _dollars(int(session["amount_total"]), str(session["currency"]))
    extra = f"<p>{escape(custom_message)}</p>" if custom_message else ""
    card = f"{brand.title()} •••• {last4}" if last4 else ""
    body = (
        "<h1 id='status'>Payment successful</h1>"
        f"<div class='amount' id='amount'>{escape(amount)}</div>"
        f"<p id='card'>{escape(card)}</p>{extra}<p>Thank you. You can close this page.</p>"
    )
    return _doc("Payment successful", body)


def message_page(title: str, message: str) -> str:
    """Expired, inactive, already paid or unknown link."""
    body = f"<h1 id='status'>{escape(title)}</h1><p id='message'>{escape(message)}</p>"
    return _doc(title, body)
