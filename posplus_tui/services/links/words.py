"""What the customer receives: short, plain, with the amount, the invoice and the link."""

from __future__ import annotations

from posplus_tui.domain.money import Money

__all__ = ["email_body", "email_subject", "sms_body"]


def email_subject(company: str, invoice_number: str, amount: Money) -> str:
    return f"{company}: pay invoice {invoice_number} ({amount.format()})"


def email_body(company: str, invoice_number: str, amount: Money, url: str) -> str:
    return (
        f"Hello,\n\n{company} has sent you a secure link to pay {amount.format()} "
        f"on invoice {invoice_number}:\n\n{url}\n\n"
        "The link can be paid once. If you have already paid, you can ignore this message.\n\n"
        f"Thank you,\n{company}\n"
    )


def sms_body(company: str, invoice_number: str, amount: Money, url: str) -> str:
    return f"{company}: pay {amount.format()} on invoice {invoice_number} here: {url}"
