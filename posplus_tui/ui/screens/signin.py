"""Sign in: operator and PIN. Shows the station and, outside production, a loud banner."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from posplus_tui.ui.errors import explain
from posplus_tui.ui.screens.base import PosScreen
from posplus_tui.ui.widgets import FieldMessage, enter_moves_on


class SignInScreen(PosScreen[None]):
    """Who is at the counter. Payments are recorded under the operator signed in here."""

    AREA = "Sign in"
    HEADER = False
    PURPOSE = (
        "Type your operator name and PIN. After several wrong PINs the operator is locked for a "
        "while; an admin can unlock it by setting a new PIN in Setup."
    )
    # Priority, so the focus moves before the next keys are routed (see ``enter_moves_on``).
    BINDINGS = [
        Binding("enter", "enter", "Sign in", priority=True),
    ]

    def draws_area(self, action: str) -> bool:
        return action == "quit"  # the one area key that means something before signing in

    def body(self) -> ComposeResult:
        """A lock screen: no header and no boxes, one column of plain widgets. It is the app's
        first frame, and every widget on it costs start-up time (``benchmarks/ui.py``)."""
        yield Static(
            f"POS+ for ServiceTitan\n{self.services.station} · {self.services.environment.upper()}",
            id="signin-station",
            classes="signin",
            markup=False,
        )
        yield Static("Operator", classes="signin signin-label")
        yield Input(id="signin-username", placeholder="your name", compact=True, classes="signin")
        yield Static("PIN", classes="signin signin-label")
        yield Input(
            id="signin-pin",
            placeholder="digits",
            password=True,
            restrict=r"\d*",
            max_length=8,
            compact=True,
            classes="signin",
        )
        yield FieldMessage(id="signin-error")
        demo = self.services.demo_operators
        if demo:
            people = ", ".join(f"{user} / PIN {pin}" for user, _, _, pin in demo)
            yield Static(
                f"Demo operators: {people}", id="signin-demo", classes="signin", markup=False
            )

    def on_mount(self) -> None:
        self.query_one("#signin-username", Input).focus()

    def on_screen_resume(self) -> None:
        """Back after a sign-out: an empty form for the next person."""
        if self.pos_app.operator is None:
            self.query_one("#signin-username", Input).value = ""
            self.query_one("#signin-pin", Input).value = ""
            self.query_one("#signin-error", FieldMessage).clear()
            self.query_one("#signin-username", Input).focus()

    def action_enter(self) -> None:
        enter_moves_on(
            self, self.query_one("#signin-username", Input), self.query_one("#signin-pin", Input)
        )
        self.query_one("#signin-error", FieldMessage).hint("Now your PIN, then Enter.")

    @on(Input.Submitted, "#signin-pin")
    def action_sign_in(self) -> None:
        username = self.query_one("#signin-username", Input).value.strip()
        pin = self.query_one("#signin-pin", Input).value
        message = self.query_one("#signin-error", FieldMessage)
        if not username:
            message.error("Type your operator name.")
            self.set_focus(self.query_one("#signin-username", Input))
            return
        if not pin:
            message.error("Type your PIN.")
            self.set_focus(self.query_one("#signin-pin", Input))
            return
        message.hint("Checking…")
        self.run_service(self._sign_in(username, pin), name="sign-in")

    async def _sign_in(self, username: str, pin: str) -> None:
        message = self.query_one("#signin-error", FieldMessage)
        pin_field = self.query_one("#signin-pin", Input)
        try:
            operator = await self.services.operators.sign_in(username, pin)
        except Exception as exc:
            problem = explain(exc)
            message.error(f"{problem.title} {problem.fix}".strip())
            pin_field.value = ""
            pin_field.focus()
            return
        pin_field.value = ""
        message.clear()
        self.pos_app.signed_in(operator)
