"""Small widgets shared by every screen: the banner, the status bar, money entry, problem panels."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from posplus_tui.domain.money import Money, MoneyError
from posplus_tui.services.container import StatusSnapshot
from posplus_tui.services.desk import InFlight
from posplus_tui.ui.literal import clean


def enter_moves_on(screen: Screen[Any], field: Input, to: Input) -> None:
    """The action of a *priority* Enter binding on a name-then-PIN form: in ``field`` it moves the
    focus to ``to`` at once; anywhere else it goes on to the focused widget (``SkipAction``), in
    order behind the keys typed before it, so a PIN field submits complete and a button presses.

    Why priority: a fast typist (or a badge reader) sends "name⏎PIN⏎" in one burst. Keys are
    routed to the focused widget as they arrive, and ``Input.Submitted`` moves the focus too late:
    the PIN would land in the name field."""
    if screen.focused is not field:
        raise SkipAction()
    screen.set_focus(to)


def field_row(label: str, *widgets: Widget, id: str | None = None) -> Horizontal:
    """One form line: a fixed-width label, then its field(s)."""
    return Horizontal(Label(label, classes="field-label"), *widgets, classes="field-row", id=id)


class EnvironmentBanner(Static):
    """A loud strip naming the environment whenever it is not production."""

    DEFAULT_CSS = """
    EnvironmentBanner {
        height: 1;
        width: 100%;
        content-align: center middle;
        text-style: bold;
        background: $warning;
        color: $background;
    }
    EnvironmentBanner.-hidden { display: none; }
    """

    def __init__(self, environment: str) -> None:
        label = environment.upper()
        if label == "DEMO":
            text = "DEMO — practice money only, nothing is charged"
        elif label == "PRODUCTION":
            text = ""
        else:
            text = f"{label} — test tenant, not the live books"
        super().__init__(text, id="environment-banner", markup=False)
        self.set_class(label == "PRODUCTION", "-hidden")


class StatusBar(Static):
    """One line on every screen: who is signed in, the terminal, ServiceTitan, the outbox."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 100%;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    StatusBar.-payment { background: $warning-muted; text-style: bold; }
    StatusBar.-trouble {
        background: $error-muted;
    }
    """

    def __init__(self) -> None:
        super().__init__("", id="status-bar", markup=False)

    def on_mount(self) -> None:
        snapshot = getattr(self.app, "status_snapshot", None)
        operator = getattr(self.app, "operator_label", "nobody")
        services = getattr(self.app, "services", None)
        flight = services.desk.current if services is not None else None
        if getattr(self.screen, "flight", None) is flight:
            flight = None  # the screen shows it in full
        if snapshot is not None:
            self.show(snapshot, operator, flight)

    def show(self, snapshot: StatusSnapshot, operator: str, flight: InFlight | None = None) -> None:
        """The request at the terminal comes first while it runs (and until its result has
        been seen); otherwise the station's health, short enough for 80 columns."""
        self.set_class(flight is not None and not flight.seen, "-payment")
        if flight is not None and not flight.seen:
            self.set_class(False, "-trouble")
            state = flight.words if not flight.done else flight.outcome_words
            text = (
                f"{flight.what} {flight.amount.format()} · invoice {flight.invoice_number}: "
                f"{state} │ F4 to see it"
            )
            if len(operator) + 3 + len(text) <= (self.size.width or self.app.size.width) - 2:
                text = f"{operator} │ {text}"  # the payment's words first, never cut off
            self.update(clean(text))
            return
        self.set_class(bool(snapshot.trouble), "-trouble")
        if snapshot.trouble:  # background work stopped: that comes first, in words
            more = f" (+{len(snapshot.trouble) - 1} more)" if len(snapshot.trouble) > 1 else ""
            self.update(clean(f"{operator} │ {snapshot.trouble[0]}{more}"))
            return
        room = (self.size.width or self.app.size.width) - 2
        self.update(clean(health_line(snapshot, operator, room)))


#: Shorter words for the status bar when the long ones do not fit (80 columns, a long name).
_SHORT_STATES = {
    "did not answer last time": "no answer",
    "did not answer": "no answer",
    "busy with a payment": "busy",
    "not tested yet": "untested",
    "refused (see Setup)": "refused",
    "reachable": "ok",
}


def health_line(snapshot: StatusSnapshot, operator: str, room: int) -> str:
    """The station's health in at most ``room`` characters: shorter words first, then a
    shorter name, so the end of the line (the outbox, what needs a person) is never cut off."""
    outbox = "Outbox —" if snapshot.outbox_depth is None else f"Outbox {snapshot.outbox_depth}"
    n = snapshot.needs_attention
    term, st = snapshot.terminal, snapshot.servicetitan
    short_term, short_st = _SHORT_STATES.get(term, term), _SHORT_STATES.get(st, st)
    tail_long = f" │ {n} need attention" if n else ""
    tail = f" │ {n} to check" if n else ""
    options = (
        f"Terminal {term} │ ServiceTitan {st} │ {outbox}{tail_long}",
        f"Terminal {term} │ ST {st} │ {outbox}{tail}",
        f"Terminal {short_term} │ ST {short_st} │ {outbox}{tail}",
    )
    for rest in options:
        if len(operator) + 3 + len(rest) <= room:
            return f"{operator} │ {rest}"
    rest = options[-1]
    keep = room - 3 - len(rest) - 1
    name = operator[:keep] + "…" if keep >= 3 else ""
    return f"{name} │ {rest}" if name else rest[:room]


def why_not_money(text: str) -> str:
    """The first thing in ``text`` that keeps it from being an amount, in words ("" if none).

    Said before the parser's general sentence, so a clerk who typed the letter O for a zero, a
    second point or a minus sign reads exactly which key was wrong."""
    body = text.strip()
    for ch in body:
        if ch.isspace() or not ch.isprintable():
            return "There is a space inside the amount: amounts have no spaces."
        if ch.isdigit() and ch not in "0123456789":
            return f"“{ch}” is not one of the digits 0-9."
        if ch == "-":
            return "An amount cannot be negative: leave out the minus sign."
        if ch.isalpha():
            kind = "the letter O, not a zero" if ch in "oO" else f"the letter “{ch}”"
            return f"The amount has {kind}: type digits only."
        if ch not in "0123456789.,$":
            return f"“{ch}” cannot be in an amount: type digits and one point."
    if body.count(".") > 1:
        return "The amount has more than one decimal point."
    return ""


class MoneyValidator(Validator):
    """Checks an amount as it is typed; the failure text says what is wrong and what to type."""

    def __init__(self, maximum: Money | None = None, what: str = "the balance") -> None:
        super().__init__()
        self.maximum = maximum
        self.what = what

    def validate(self, value: str) -> ValidationResult:
        try:
            amount = Money.parse(value, allow_zero=False)
        except MoneyError as exc:
            why = why_not_money(value)
            return self.failure(f"{why} {exc}" if why else str(exc))
        if self.maximum is not None and amount > self.maximum:
            return self.failure(
                f"{amount.format()} is more than {self.what} ({self.maximum.format()}). "
                f"Enter {self.maximum.format()} or less."
            )
        return self.success()


class MoneyInput(Input):
    """An amount field that keeps every key typed or pasted: nothing is dropped on the way, so
    what is charged is what the whole field says, and anything that is not an amount is an error
    under the field, with the reason (never a smaller amount)."""

    def __init__(
        self,
        value: str = "",
        *,
        maximum: Money | None = None,
        what: str = "the balance",
        id: str | None = None,
        compact: bool = True,
    ) -> None:
        super().__init__(
            value=value,
            compact=compact,
            placeholder="0.00",
            validators=[MoneyValidator(maximum, what)],
            validate_on={"changed", "submitted", "blur"},
            id=id,
        )

    async def _on_key(self, event: events.Key) -> None:
        """Input drops characters Python calls unprintable (a no-break space from a keyboard
        layout): here they are kept, to show as an error instead of vanishing."""
        ch = event.character
        if ch is not None and len(ch) == 1 and not ch.isprintable() and ord(ch) >= 0xA0:
            event.stop()
            event.prevent_default()
            selection = self.selection
            if selection.is_empty:
                self.insert_text_at_cursor(ch)
            else:
                self.replace(ch, *selection)

    def _on_paste(self, event: events.Paste) -> None:
        """A paste of several lines is kept whole (Input keeps the first line only), so that it
        shows as an error rather than becoming a smaller amount."""
        lines = [line for line in event.text.splitlines() if line.strip()]
        if len(lines) > 1:
            event.stop()
            event.prevent_default()
            text = " ".join(lines)
            selection = self.selection
            if selection.is_empty:
                self.insert_text_at_cursor(text)
            else:
                self.replace(text, *selection)
        # One line: Input's own handler (called next, up the class tree) pastes it.

    def amount(self) -> Money | None:
        """The amount the whole field says, or ``None`` while it is not one."""
        result = self.validate(self.value)
        if result is not None and not result.is_valid:
            return None
        try:
            return Money.parse(self.value, allow_zero=False)
        except MoneyError:
            return None


class FieldMessage(Static):
    """The line under a field that says what is wrong with it (empty when it is fine)."""

    DEFAULT_CSS = """
    FieldMessage { height: auto; color: $text-error; padding: 0 0 0 1; }
    FieldMessage.-ok { color: $text-success; }
    FieldMessage.-hint { color: $text-muted; }
    FieldMessage.-empty { display: none; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False, classes="-empty")

    def update(self, content: object = "", *, layout: bool = True) -> None:
        self.set_class(not content, "-empty")
        if isinstance(content, str):
            content = clean(content)  # messages quote outside text (names, ServiceTitan's words)
        super().update(content, layout=layout)  # type: ignore[arg-type]

    def error(self, text: str) -> None:
        self.remove_class("-ok", "-hint")
        self.update(f"✗ {text}" if text else "")

    def ok(self, text: str) -> None:
        self.remove_class("-hint")
        self.add_class("-ok")
        self.update(f"✓ {text}")

    def hint(self, text: str) -> None:
        self.remove_class("-ok")
        self.add_class("-hint")
        self.update(text)

    def clear(self) -> None:
        self.remove_class("-ok", "-hint")
        self.update("")


class ProblemPanel(Vertical):
    """A problem shown in place: what happened, and what to do next. Hidden when empty."""

    DEFAULT_CSS = """
    ProblemPanel {
        height: auto;
        border: round $error;
        padding: 0 1;
        display: none;
    }
    ProblemPanel.-shown { display: block; }
    ProblemPanel.-warning { border: round $warning; }
    ProblemPanel .problem-title { text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", classes="problem-title", markup=False)
        yield Static("", classes="problem-fix", markup=False)

    def show(self, title: str, fix: str = "", *, warning: bool = False) -> None:
        prefix = "Warning: " if warning else "Problem: "
        self.query_one(".problem-title", Static).update(clean(prefix + title))
        self.query_one(".problem-fix", Static).update(clean(f"Next step: {fix}") if fix else "")
        self.set_class(warning, "-warning")
        self.add_class("-shown")

    def clear(self) -> None:
        self.remove_class("-shown")
