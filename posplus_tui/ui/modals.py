"""Dialogs. Each returns a typed result through ``dismiss``; none of them decides anything itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from posplus_tui.services.setup import UsernameCheck
from posplus_tui.ui.widgets import FieldMessage, enter_moves_on


@dataclass(frozen=True)
class Credentials:
    """What the supervisor typed: the service checks it, the dialog does not."""

    username: str
    pin: str


class SupervisorApproval(ModalScreen[Credentials | None]):
    """Ask a supervisor for their username and PIN; returns them, or ``None`` when cancelled."""

    # Priority, so the focus moves before the next keys are routed (see ``enter_moves_on``).
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "enter", "Approve", show=False, priority=True),
    ]

    def __init__(self, reason: str, error: str = "", summary: str = "") -> None:
        super().__init__()
        self.reason = reason
        self.error = error
        #: Exactly what is approved: action, amount, card, invoice, who asks.
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="supervisor-dialog"):
            yield Label("Supervisor approval needed", classes="dialog-title")
            if self.summary:
                yield Static(self.summary, markup=False, id="sup-summary", classes="dialog-text")
            yield Static(self.reason, markup=False, classes="dialog-text")
            yield Label("Supervisor username")
            yield Input(id="sup-username", placeholder="username")
            yield Label("PIN")
            yield Input(id="sup-pin", password=True, restrict=r"\d*", max_length=8)
            yield FieldMessage(id="sup-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Approve", variant="primary", id="sup-ok")
                yield Button("Cancel (Esc)", id="sup-cancel")

    def on_mount(self) -> None:
        if self.error:
            self.query_one("#sup-error", FieldMessage).error(self.error)

    def action_enter(self) -> None:
        enter_moves_on(
            self, self.query_one("#sup-username", Input), self.query_one("#sup-pin", Input)
        )

    @on(Input.Submitted, "#sup-pin")
    @on(Button.Pressed, "#sup-ok")
    def _approve(self) -> None:
        username = self.query_one("#sup-username", Input).value.strip()
        pin = self.query_one("#sup-pin", Input).value
        if not username or not pin:
            self.query_one("#sup-error", FieldMessage).error(
                "Type the supervisor's username and PIN, or press Esc to cancel."
            )
            return
        self.dismiss(Credentials(username, pin))

    @on(Button.Pressed, "#sup-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """A yes/no question that repeats what will happen; Enter = yes, Esc = no."""

    BINDINGS = [Binding("escape", "no", "No"), Binding("y", "yes", "Yes", show=False)]

    def __init__(
        self, title: str, text: str, yes: str = "Yes", no: str = "No", *, safe_no: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.yes = yes
        self.no = no
        #: Start on "No" (Enter keeps things as they are) when "yes" is the risky answer.
        self.safe_no = safe_no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.text, markup=False, classes="dialog-text", id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, variant="primary", id="confirm-yes")
                yield Button(f"{self.no} (Esc)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no" if self.safe_no else "#confirm-yes", Button).focus()

    @on(Button.Pressed, "#confirm-yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_no(self) -> None:
        self.dismiss(False)


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text (a reason, a note); returns it or ``None``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, text: str, placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="prompt-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.text, markup=False, classes="dialog-text")
            yield Input(id="prompt-input", placeholder=self.placeholder)
            yield FieldMessage(id="prompt-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="prompt-ok")
                yield Button("Cancel (Esc)", id="prompt-cancel")

    @on(Input.Submitted, "#prompt-input")
    @on(Button.Pressed, "#prompt-ok")
    def _ok(self) -> None:
        value = self.query_one("#prompt-input", Input).value.strip()
        if not value:
            self.query_one("#prompt-error", FieldMessage).error(
                "Type a few words, or press Esc to cancel."
            )
            return
        self.dismiss(value)

    @on(Button.Pressed, "#prompt-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ErrorDialog(ModalScreen[None]):
    """A problem that stops the current task: what happened and the next step."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("enter", "close", "Close")]

    def __init__(self, title: str, fix: str) -> None:
        super().__init__()
        self.problem_title = title
        self.fix = fix

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -error", id="error-dialog"):
            yield Label("Problem", classes="dialog-title")
            yield Static(self.problem_title, markup=False, classes="dialog-text")
            yield Static(f"Next step: {self.fix}", markup=False, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="error-close")

    @on(Button.Pressed, "#error-close")
    def action_close(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class OperatorDraft:
    """What was typed in the operator form; an empty PIN on edit means "keep the PIN"."""

    name: str
    role: str
    pin: str
    st_username: str


class OperatorForm(ModalScreen[OperatorDraft | None]):
    """Add or edit an operator. The ServiceTitan username is checked as it is typed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        roles: list[str],
        check_username: Callable[[str], UsernameCheck],
        existing: OperatorDraft | None = None,
    ) -> None:
        super().__init__()
        self.roles = roles
        self.check_username = check_username
        self.existing = existing

    def compose(self) -> ComposeResult:
        e = self.existing
        with Vertical(classes="dialog", id="operator-dialog"):
            yield Label("Edit operator" if e else "Add operator", classes="dialog-title")
            yield Label("Name (what they type to sign in)")
            yield Input(e.name if e else "", id="op-name", compact=True)
            yield Label("Role")
            yield Select(
                [(r, r) for r in self.roles],
                value=e.role if e else self.roles[0],
                allow_blank=False,
                id="op-role",
                compact=True,
            )
            yield Label("PIN (4 to 8 digits)" + (" — leave empty to keep it" if e else ""))
            yield Input("", id="op-pin", password=True, restrict=r"\d*", max_length=8, compact=True)
            yield Label("ServiceTitan username (capital letters matter)")
            yield Input(e.st_username if e else "", id="op-st-username", compact=True)
            yield FieldMessage(id="op-st-check")
            yield FieldMessage(id="op-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use suggestion", id="op-suggest", compact=True)
                yield Button("Save", variant="primary", id="op-save", compact=True)
                yield Button("Cancel (Esc)", id="op-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#op-suggest", Button).display = False
        self._check()

    @on(Input.Changed, "#op-st-username")
    def _check(self) -> None:
        value = self.query_one("#op-st-username", Input).value
        check = self.check_username(value) if value else None
        box = self.query_one("#op-st-check", FieldMessage)
        self.query_one("#op-suggest", Button).display = bool(check and check.suggestion)
        if check is None:
            box.hint("Optional: the ServiceTitan username, to match payments to people.")
        elif check.ok:
            box.ok(check.message)
        elif check.status == "unchecked":
            box.hint(check.message)
        else:
            box.error(check.message)

    @on(Button.Pressed, "#op-suggest")
    def _use_suggestion(self) -> None:
        field = self.query_one("#op-st-username", Input)
        check = self.check_username(field.value)
        if check.suggestion:
            field.value = check.suggestion

    @on(Input.Submitted)
    @on(Button.Pressed, "#op-save")
    def _save(self) -> None:
        name = self.query_one("#op-name", Input).value.strip()
        pin = self.query_one("#op-pin", Input).value
        error = self.query_one("#op-error", FieldMessage)
        if not name:
            error.error("Type the operator's name.")
            return
        if pin and not 4 <= len(pin) <= 8:
            error.error("A PIN is 4 to 8 digits.")
            return
        if not pin and self.existing is None:
            error.error("Choose a PIN of 4 to 8 digits for the new operator.")
            return
        role = str(self.query_one("#op-role", Select).value)
        st = self.query_one("#op-st-username", Input).value
        self.dismiss(OperatorDraft(name, role, pin, st))

    @on(Button.Pressed, "#op-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
