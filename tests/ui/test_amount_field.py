"""What is typed is what is charged: the amount field keeps every key (typed or pasted), and the
amount it confirms is the amount of the whole string, or nothing — with the reason under it."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from textual import events
from textual.app import App, ComposeResult

from posplus_tui.domain.money import Money, MoneyError
from posplus_tui.ui.widgets import MoneyInput
from tests.ui.conftest import invoice_number, open_invoice, settle, sign_in, wait_for_text


class AmountApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MoneyInput("", id="amount")


def _parsed(text: str) -> Money | None:
    try:
        return Money.parse(text, allow_zero=False)
    except MoneyError:
        return None


async def _type(text: str, *, paste: bool) -> tuple[str, Money | None, str]:
    app = AmountApp()
    async with app.run_test() as pilot:
        field = app.query_one(MoneyInput)
        field.focus()
        await pilot.pause()
        if paste:
            field.post_message(events.Paste(text))
        else:
            for ch in text:  # each key as the terminal sends it: a printable character
                field.post_message(events.Key(ch, ch))
        await pilot.pause()
        result = field.validate(field.value)
        reason = " ".join(result.failure_descriptions) if result is not None else ""
        return field.value, field.amount(), reason


#: What a clerk's fingers produce, and worse: digits of other scripts, letters, signs, spaces.
KEYS = st.text(
    alphabet=st.sampled_from([*"0123456789.,$- oOelI", "١", "٣", "５", "\u00a0"]),
    max_size=10,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=KEYS, paste=st.booleans())
@example(text="1OO", paste=False)
@example(text="12o", paste=False)
@example(text="5.5.5", paste=False)
@example(text="-5", paste=False)
@example(text="1e3", paste=False)
@example(text=" 1 2 ", paste=False)
@example(text="١٢", paste=True)
@example(text="12o", paste=True)
def test_the_confirmed_amount_is_the_whole_string_or_nothing(text: str, paste: bool) -> None:
    value, amount, reason = asyncio.run(_type(text, paste=paste))
    assert value == text  # not one key dropped
    assert amount == _parsed(text)
    if amount is None:
        assert reason  # refused, with the reason under the field


def test_a_pasted_block_of_lines_is_an_error_not_its_first_line() -> None:
    value, amount, reason = asyncio.run(_type("12.00\n34.00", paste=True))
    assert value == "12.00 34.00" and amount is None and "space" in reason
    _, amount, _ = asyncio.run(_type("12.00\n", paste=True))
    assert amount == Money(1200)


async def test_typos_in_a_deposit_are_refused_with_the_reason_and_nothing_is_sent(
    demo_app,
) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sign_in(pilot, "clerk", "1111")
        await open_invoice(pilot, invoice_number(app, "unpaid_invoice_id"))
        await pilot.press("d")
        await settle(pilot)
        for typed, says in [
            ("1OO", "the letter O, not a zero"),
            ("12o", "the letter O"),
            ("5.5.5", "more than one decimal point"),
            ("-5", "cannot be negative"),
            ("1e3", "the letter “e”"),
            (" 1 2 ", "space inside"),
        ]:
            field = app.screen.query_one(MoneyInput)
            field.value = ""
            await pilot.press(*[("space" if c == " " else c) for c in typed])
            await wait_for_text(pilot, says)
            assert field.value == typed
            await pilot.press("f2")
            await wait_for_text(pilot, "The amount is not right yet")
            assert app.services.desk.current is None  # nothing went to the terminal
        field.value = ""
        await pilot.press(*"100")
        await wait_for_text(pilot, "Deposit of $100.00")
