"""The app class: holds the services it is given, the signed-in operator and the global keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from posplus_tui.domain.roles import Action, role_allows
from posplus_tui.keymap import KeymapError, load_keymap
from posplus_tui.services.container import Services, StatusSnapshot
from posplus_tui.ui.commands import ScreenActions
from posplus_tui.ui.errors import explain
from posplus_tui.ui.keys import all_binding_ids
from posplus_tui.ui.literal import clean
from posplus_tui.ui.modals import Confirm, ErrorDialog
from posplus_tui.ui.screens.base import HOME_DEPTH
from posplus_tui.ui.widgets import StatusBar

if TYPE_CHECKING:
    from posplus_tui.services.desk import InFlight
    from posplus_tui.services.operators import OperatorInfo

#: How often the status bar asks the services how things are (seconds).
STATUS_EVERY = 5.0


class PosPlusApp(App[None]):
    """The counter app. Built by ``posplus demo`` / ``posplus run`` with ready services."""

    CSS_PATH = "app.tcss"
    TITLE = "POS+ for ServiceTitan"
    COMMANDS = App.COMMANDS | {ScreenActions}
    ENABLE_COMMAND_PALETTE = True
    # Work on every screen. Only F1 is drawn in every footer: the area keys, sign-out and quit
    # are drawn on the operator's home screen (``HomeScreen``), so that a task screen's footer
    # keeps its 80 columns for the task's own keys. Help and the command palette list them all.
    # Each has an id for the user's keymap (keymap.toml: "app.go_reconcile" = "f2").
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True, id="app.help",
                tooltip="Every key of this screen and of the app"),
        Binding("f5", "go_lookup", "Lookup", show=False, id="app.go_lookup",
                tooltip="Find an invoice (back to your home screen)"),
        Binding("f6", "go_reconcile", "Reconcile", show=False, id="app.go_reconcile",
                tooltip="Postings to ServiceTitan: what went through and what needs a person"),
        Binding("f7", "go_terminal", "Terminal", show=False, id="app.go_terminal",
                tooltip="Test the card terminal, see its last transaction, close the batch"),
        Binding("f8", "go_setup", "Setup", show=False, id="app.go_setup",
                tooltip="ServiceTitan, the terminal and the operators (admin or technician)"),
        Binding("ctrl+o", "sign_out", "Sign out", show=False, id="app.sign_out",
                tooltip="Sign out so the next person signs in"),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False, id="app.quit",
                tooltip="Close POS+ (asks first while a payment is at the terminal)"),
        # Back to the request at the terminal (the status bar names it while it runs).
        Binding("f4", "show_payment", "Payment at the terminal", show=False,
                id="app.show_payment",
                tooltip="The payment, refund or void at the terminal, from any screen"),
    ]  # fmt: skip

    def __init__(
        self,
        services: Services,
        *,
        status_every: float = STATUS_EVERY,
        keymap: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        #: Why the user's keymap file was not used, in words (shown once the app is up).
        self.keymap_problem = ""
        if keymap is None:
            try:
                keymap = load_keymap()
            except KeymapError as exc:
                keymap, self.keymap_problem = {}, str(exc)
        if keymap:
            self.set_keymap(dict(keymap))
        self.services = services
        self.operator: OperatorInfo | None = None
        self.status_snapshot = StatusSnapshot()
        self.status_every = status_every
        #: The clerk chose "quit when it finishes" while a request was at the terminal.
        self.quit_when_free = False

    # -- start and stop --------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.title = clean(f"POS+ · {self.services.station}")
        if self.keymap_problem:
            self.notify(self.keymap_problem, title="Keymap", severity="warning", timeout=15)
        elif self._keymap:
            unknown = sorted(set(self._keymap) - all_binding_ids(type(self)))
            if unknown:
                self.notify(
                    f"keymap.toml names bindings POS+ does not have: {', '.join(unknown)}. "
                    "The README (Keymap) lists the ids.",
                    title="Keymap",
                    severity="warning",
                    timeout=15,
                )
        if self.services.missing_setup() and not self.services.has_operators():
            # A fresh install: nobody to sign in yet. Setup opens for the installer, whose only
            # anonymous power is creating the first admin (the services check it).
            from posplus_tui.ui.screens.setup import SetupScreen

            self.push_screen(SetupScreen(first_run=True))
        # Background start-up (recovery, the reconcile worker, the index) and the first status
        # probe wait for the first frame, so the sign-in screen appears at once.
        self.call_after_refresh(self._start_services)
        if self.services.reconcile is not None:
            # Any posting step may change the outbox depth: refresh the bar (cheap, debounced by
            # the exclusive status worker).
            self.services.reconcile.subscribe(self._on_service_event)
        if self.services.payments is not None:
            self.services.payments.subscribe(self._on_service_event)
        # A background task that crashes or recovers shows on the bar at once.
        self.services.supervisor.subscribe(lambda: self.call_later(self.refresh_status))
        self.services.desk.subscribe(self._on_desk_moved)
        if self.status_every:
            self.set_interval(self.status_every, self.refresh_status)

    def _on_service_event(self, _event: object) -> None:
        self.call_later(self.refresh_status)

    def get_default_screen(self) -> Screen[Any]:
        """Sign in is always the bottom screen (no blank screen first). On a fresh install Setup
        opens above it at mount, and closes onto it once payments can start."""
        from posplus_tui.ui.screens.signin import SignInScreen

        return SignInScreen()

    def _start_services(self) -> None:
        self.run_worker(self._start(), name="start", group="start", exit_on_error=False)
        self.refresh_status()

    async def _start(self) -> None:
        # Supervised like the rest: a crash here is shown on the bar and start-up tried again.
        await self.services.supervisor.attempt("start", "Starting up", self.services.start)
        self.refresh_status()  # now with the terminal's first check

    async def action_quit(self) -> None:
        """Quit, but never by accident in the middle of a payment: then ask first, and the
        answer that quits waits for the terminal to finish (the default is to stay)."""
        desk = self.services.desk
        if not desk.busy:
            self.exit()
            return
        flight = desk.current
        assert flight is not None
        if self.quit_when_free:
            # Asked twice: the clerk really wants out now. The request is written down as
            # UNKNOWN and settled by the terminal's status at the next start.
            self.push_screen(
                Confirm(
                    "Quit now, before the terminal finishes?",
                    f"{flight.title} is still at the terminal. Quitting now leaves its outcome "
                    "unknown until POS+ starts again and asks the terminal. Do not charge the "
                    "card again in the meantime.",
                    yes="Quit now",
                    no="Wait",
                    safe_no=True,
                ),
                lambda yes: self.exit() if yes else None,
            )
            return

        def answer(wait_then_quit: bool | None) -> None:
            if wait_then_quit:
                self.quit_when_free = True
                self.notify("POS+ will close as soon as the terminal has finished.")
                if not desk.busy:
                    self.exit()

        self.push_screen(
            Confirm(
                "A payment is at the terminal",
                f"{flight.title}: {flight.words}. POS+ can close as soon as the terminal "
                "has finished, so the payment is not lost.",
                yes="Quit when it finishes",
                no="Stay",
                safe_no=True,
            ),
            answer,
        )

    def _on_desk_moved(self, flight: InFlight) -> None:
        self.call_later(self._desk_moved, flight)

    def _desk_moved(self, flight: Any) -> None:
        """The station's request moved on: the screens that follow it and every status bar."""
        for screen in list(self.screen_stack):
            moved = getattr(screen, "desk_moved", None)
            if moved is not None and screen.is_attached:
                moved(flight)
        self.update_status_bars()
        if flight.done:
            self.refresh_status()
            if self.quit_when_free:
                self.exit()

    def action_show_payment(self) -> None:
        """F4: the request at the terminal (or its result, until seen), from any screen."""
        from posplus_tui.ui.screens.payment import PaymentScreen

        flight = self.services.desk.current
        if flight is None or (flight.done and flight.seen):
            self.notify("No payment at the terminal now.")
            return
        for screen in self.screen_stack:
            if getattr(screen, "flight", None) is flight and screen is not self.screen:
                # The screen that started it is still in the stack: go back to it.
                while self.screen is not screen:
                    self.pop_screen()
                return
        if getattr(self.screen, "flight", None) is flight:
            return
        self.push_screen(PaymentScreen())

    def back_to_invoice(self, invoice_id: str, number: str, *, still_due: Any = None) -> None:
        """After a request: the invoice it was for (the one in the stack, else a fresh one),
        told what is still due when the terminal approved only part."""
        from posplus_tui.ui.screens.invoice import InvoiceScreen

        target = None
        for screen in reversed(self.screen_stack):
            if isinstance(screen, InvoiceScreen) and str(screen.invoice_id) == str(invoice_id):
                target = screen
                break
        if target is None:
            while len(self.screen_stack) > HOME_DEPTH:
                self.pop_screen()
            target = InvoiceScreen(int(invoice_id), number)
            target.offer_rest(still_due)
            self.push_screen(target)
            return
        target.offer_rest(still_due)
        while self.screen is not target:
            self.pop_screen()

    async def on_unmount(self) -> None:
        await self.services.aclose()

    # -- the operator ------------------------------------------------------------------------------

    @property
    def operator_label(self) -> str:
        op = self.operator
        if op is None:
            return "nobody signed in"
        role = op.role.value
        return f"{op.name} ({role})" if role != op.name else op.name

    @property
    def operator_role(self) -> str:
        return "" if self.operator is None else self.operator.role.value

    def signed_in(self, operator: OperatorInfo) -> None:
        """Called by the sign-in screen: show the operator's home screen."""
        self.operator = operator
        self.refresh_bindings()
        self.update_status_bars()
        self.push_screen(self.home_screen())
        if self.services.missing_setup() and self.may(Action.CHANGE_SETTINGS):
            # Setup is unfinished (e.g. a secret missing from the keyring): open it for the
            # admin or technician who signed in, never before.
            from posplus_tui.ui.screens.setup import SetupScreen

            self.push_screen(SetupScreen())

    def home_screen(self) -> Screen[Any]:
        if self.operator_role == "technician":
            from posplus_tui.ui.screens.terminal import TerminalScreen

            return TerminalScreen()
        from posplus_tui.ui.screens.lookup import LookupScreen

        return LookupScreen()

    # -- status bar --------------------------------------------------------------------------------

    def refresh_status(self) -> None:
        self.run_worker(
            self._poll_status,  # type: ignore[arg-type]  # textual's WorkType cannot infer it
            name="status",
            group="status",
            exclusive=True,
            exit_on_error=False,
        )

    async def _poll_status(self) -> None:
        try:
            self.status_snapshot = await self.services.status()
        except Exception:  # the bar shows what it knows; a failing probe is not a crash
            self.status_snapshot = StatusSnapshot(
                "unknown", "unknown", None, trouble=tuple(self.services.supervisor.trouble())
            )
        self.update_status_bars()

    def update_status_bars(self) -> None:
        flight = self.services.desk.current
        if flight is not None and getattr(self.screen, "flight", None) is flight:
            flight = None  # the screen on top shows it in full
        for bar in self.screen.query(StatusBar):
            bar.show(self.status_snapshot, self.operator_label, flight)

    # -- errors ------------------------------------------------------------------------------------

    def _fatal_error(self) -> None:
        """An error nobody caught stops the app: say so in one sentence (the exit code is 1).
        The traceback goes to the log, masked, without local variables (Textual's own report
        prints them: a PIN or a card number could be one)."""
        import logging

        from rich.text import Text

        error = self._exception
        name = type(error).__name__ if error is not None else "error"
        logging.getLogger("posplus.crash").error(
            "the app stopped after an unexpected %s", name, exc_info=error
        )
        self.bell()
        self._exit_renderables.append(
            Text(
                f"POS+ stopped after something unexpected ({name}). Nothing that was saved is "
                "lost: payments in flight are checked with the terminal at the next start. "
                "The details are in POS+'s log file, without any card data.",
                style="bold red",
            )
        )
        self._close_messages_no_wait()

    def report_error(self, error: BaseException) -> None:
        """Show an unexpected failure in words, with the next step; the app keeps running."""
        problem = explain(error)
        self.log.error(f"worker failed: {type(error).__name__}")
        self.push_screen(ErrorDialog(problem.title, problem.fix))

    # -- global actions ------------------------------------------------------------------------------

    def action_help(self) -> None:
        from posplus_tui.ui.screens import all_screens
        from posplus_tui.ui.screens.help import HelpScreen, help_text

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(help_text(type(self), all_screens())))

    #: Actions that only mean something once someone has signed in: hidden before (the sign-in
    #: footer shows what can be done there, and fits in 80 columns).
    SIGNED_IN_ACTIONS = frozenset(
        {"go_lookup", "go_reconcile", "go_terminal", "sign_out", "show_payment"}
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.operator is not None:
            return True
        if action in self.SIGNED_IN_ACTIONS:
            return False
        if action == "go_setup":  # before sign-in only on a fresh install (nobody to sign in)
            return bool(self.services.missing_setup()) and not self.services.has_operators()
        return True

    def _need_operator(self) -> bool:
        if self.operator is None:
            self.notify("Sign in first.", severity="warning")
            return False
        return True

    def open_area(self, screen: Screen[Any]) -> None:
        """Open a top-level area on top of the home screen (Esc comes back home)."""
        if not self._need_operator():
            return
        self._leave_task_screens()
        if type(self.screen) is type(screen):
            return
        self.push_screen(screen)

    def _leave_task_screens(self) -> None:
        """Back to the home screen. A request at the terminal goes on (it belongs to the
        station): the status bar follows it and F4 comes back to it."""
        if len(self.screen_stack) <= HOME_DEPTH:
            return
        left_live = any(getattr(s, "phase", "") == "running" for s in self.screen_stack)
        if getattr(self.screen, "phase", "") == "done":
            self.screen.leave_seen()  # type: ignore[attr-defined]
        while len(self.screen_stack) > HOME_DEPTH:
            self.pop_screen()
        if left_live and self.services.desk.busy:
            self.notify(
                "The payment goes on at the terminal: the status bar follows it, "
                "F4 comes back to it."
            )

    def action_go_lookup(self) -> None:
        if not self._need_operator():
            return
        self._leave_task_screens()

    def action_go_reconcile(self) -> None:
        from posplus_tui.ui.screens.reconcile import ReconcileScreen

        self.open_area(ReconcileScreen())

    def action_go_terminal(self) -> None:
        from posplus_tui.ui.screens.terminal import TerminalScreen

        self.open_area(TerminalScreen())

    def action_go_setup(self) -> None:
        from posplus_tui.ui.screens.setup import SetupScreen

        if self.operator is None:
            if not self.services.missing_setup() or self.services.has_operators():
                self.notify("Sign in as an admin or technician to change the setup.")
                return
            self.push_screen(SetupScreen(first_run=True))
            return
        if not self.may(Action.CHANGE_SETTINGS):
            self.notify(
                f"{self.operator_label} cannot change the setup: an admin or a technician can.",
                severity="warning",
            )
            return
        self.open_area(SetupScreen())

    def may(self, action: Action) -> bool:
        """Whether the signed-in operator's role allows ``action`` (the service checks again)."""
        return self.operator is not None and role_allows(self.operator.role, action)

    def action_sign_out(self) -> None:
        """Sign out; while a request is at the terminal, ask first (it finishes either way:
        it belongs to the station, and its result waits on the invoice and behind F4)."""
        desk = self.services.desk
        if not desk.busy or self.operator is None:
            self._sign_out()
            return
        flight = desk.current
        assert flight is not None
        self.push_screen(
            Confirm(
                "A payment is at the terminal",
                f"{flight.title}: {flight.words}. Signing out lets it finish; the status bar "
                "follows it and F4 shows its result after the next sign-in.",
                yes="Sign out, let it finish",
                no="Stay",
                safe_no=True,
            ),
            lambda yes: self._sign_out() if yes else None,
        )

    def _sign_out(self) -> None:
        from posplus_tui.ui.screens.signin import SignInScreen

        self.operator = None
        self.refresh_bindings()
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if not isinstance(self.screen, SignInScreen):
            self.push_screen(SignInScreen())
        self.update_status_bars()
