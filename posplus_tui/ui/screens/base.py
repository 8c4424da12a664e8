"""What every screen shares: the title line, the banner, the status bar, the footer, and the one
place a failed worker is reported."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from textual.app import ComposeResult
from textual.binding import ActiveBinding
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from posplus_tui.domain.roles import Action, can_approve
from posplus_tui.ui.errors import explain
from posplus_tui.ui.keys import named_bindings
from posplus_tui.ui.modals import SupervisorApproval
from posplus_tui.ui.widgets import EnvironmentBanner, StatusBar

if TYPE_CHECKING:
    from posplus_tui.services.container import Services
    from posplus_tui.ui.app import PosPlusApp

T = TypeVar("T")

#: Screens in the stack when the operator's home screen is showing: sign-in at the bottom (the
#: app's first screen, no blank screen before it), the home screen (Lookup / Terminal) above.
HOME_DEPTH = 2


class PosScreen(Screen[T]):
    """A task screen. Subclasses yield their content from :meth:`body`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every binding gets an id for the user's keymap and a tooltip (see ui/keys.py), before
        # Textual merges the class's bindings.
        if "BINDINGS" in cls.__dict__:
            scope = cls.__name__.removesuffix("Screen").lower()
            cls.BINDINGS = named_bindings(scope, cls.__dict__["BINDINGS"])
        super().__init_subclass__(**kwargs)

    def draws_area(self, action: str) -> bool:
        """Whether the footer draws the app's area key for ``action`` (an operator's home does)."""
        return False

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Textual's, with the app's area keys drawn where :meth:`draws_area` says, after the
        screen's own keys. Drawing is all this decides: the keys work on every screen."""
        active = super().active_bindings
        drawn = {
            key: found._replace(binding=replace(found.binding, show=True))
            for key, found in sorted(active.items(), key=lambda kv: _area_order(kv[1]))
            if found.node is self.app
            and found.binding.action in AREA_ACTIONS
            and self.draws_area(found.binding.action)
        }
        if not drawn:
            return active
        ordered = {key: found for key, found in active.items() if found.node is not self.app}
        return (
            ordered
            | drawn
            | {k: f for k, f in active.items() if k not in ordered and k not in drawn}
        )

    #: Name used in the command palette and the help screen.
    AREA = ""
    #: One sentence for the help screen: what this screen is for.
    PURPOSE = ""

    @property
    def pos_app(self) -> PosPlusApp:
        return self.app  # type: ignore[return-value]

    @property
    def services(self) -> Services:
        return self.pos_app.services

    #: The title line (with the palette's ≡). The sign-in screen goes without: it is the first
    #: frame, and every widget on it costs start-up time.
    HEADER = True

    def compose(self) -> ComposeResult:
        if self.HEADER:
            yield Header(show_clock=False, icon="≡")
        yield EnvironmentBanner(self.services.environment)
        yield from self.body()
        yield StatusBar()
        yield Footer(compact=True)

    def body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        """Coming back to a screen: show the latest status, not the one it was left with."""
        self.pos_app.update_status_bars()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The single handler for workers that failed unexpectedly (expected errors are shown in
        place by the screen itself)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.pos_app.report_error(event.worker.error)

    def run_service(self, work: Any, *, name: str, exclusive: bool = True) -> Worker[Any]:
        """Run a service coroutine in a worker that never takes the app down with it."""
        return self.run_worker(
            work, name=name, group=name, exclusive=exclusive, exit_on_error=False
        )

    async def supervisor_approval(
        self, action: Action, why: str, *, target: str = "", amount: Any = None, what: str = ""
    ) -> tuple[bool, Any]:
        """``(go_ahead, approval)`` for a supervisor action: a supervisor (or admin) goes ahead
        with no approval; anyone else is asked for a supervisor's name and PIN on the spot, again
        after a wrong PIN (saying what was wrong), until the service grants it (``True`` and the
        approval) or the operator presses Esc (``False``). The approval covers exactly this
        ``action`` on ``target`` for ``amount``; ``what`` (amount, card, invoice in words) is
        shown in the dialog so the supervisor sees what they approve. The services check it
        again. Call from a worker: it waits for the dialog."""
        operator = self.pos_app.operator
        if can_approve(operator.role):
            return True, None
        approval = await self._ask_supervisor(action, why, target, amount, what)
        return approval is not None, approval

    async def _ask_supervisor(
        self, action: Action, why: str, target: str, amount: Any, what: str
    ) -> Any | None:
        operator = self.pos_app.operator
        error = ""
        summary = approval_summary(action, amount, what, operator)
        while True:
            creds = await self.app.push_screen_wait(SupervisorApproval(why, error, summary))
            if creds is None:
                return None
            try:
                return await self.services.operators.approve_as_supervisor(
                    creds.username,
                    creds.pin,
                    action=action,
                    requested_by=operator,
                    target=target,
                    amount=amount,
                )
            except Exception as exc:
                p = explain(exc)
                error = f"{p.title} {p.fix}"


def approval_summary(action: Action, amount: Any, what: str, operator: Any) -> str:
    """What the supervisor approves, in one line: the action, the amount, the card and invoice
    (``what``) and who asks."""
    parts = [str(action.value).replace("_", " ").capitalize()]
    if amount is not None:
        parts.append(amount.format() if hasattr(amount, "format") else str(amount))
    if what:
        parts.append(what)
    parts.append(f"asked by {getattr(operator, 'name', '?')}")
    return " · ".join(parts)


#: The app's area keys: bound once, on the app (not drawn), so they work on every screen; an
#: operator's home screen draws them in its footer, after its own keys (see ``active_bindings``).
AREA_ACTIONS = ("go_lookup", "go_reconcile", "go_terminal", "go_setup", "sign_out", "quit")


def _area_order(found: ActiveBinding) -> int:
    action = found.binding.action
    return AREA_ACTIONS.index(action) if action in AREA_ACTIONS else len(AREA_ACTIONS)


#: What the operator's role must allow for an area's key to be drawn on their home screen.
_AREA_NEEDS = {
    "go_lookup": Action.CHARGE,
    "go_reconcile": Action.CHARGE,
    "go_setup": Action.CHANGE_SETTINGS,
}


class HomeScreen(PosScreen[T]):
    """A screen that can be an operator's home (Lookup; Terminal for a technician). While it is,
    its footer also draws the app's area keys (:data:`AREA_ACTIONS`) this operator works with,
    sign-out and quit. Elsewhere a task keeps the footer for its own keys."""

    #: The app action that opens this screen: its own key is not drawn on it.
    OWN_AREA = ""

    @property
    def is_home(self) -> bool:
        stack = self.app.screen_stack
        return len(stack) == HOME_DEPTH and stack[-1] is self

    def draws_area(self, action: str) -> bool:
        if not self.is_home or action == self.OWN_AREA:
            return False
        needs = _AREA_NEEDS.get(action)
        return needs is None or self.pos_app.may(needs)
