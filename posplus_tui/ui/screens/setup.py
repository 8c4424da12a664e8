"""Setup: everything the 54-step manual setup asked for, on one screen, each step checked."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from posplus_tui.domain.roles import Action, Role
from posplus_tui.services.links.live import (
    LINK_SECRET_NAMES,
    LINK_SETTINGS,
    channel_gaps,
    links_missing,
)
from posplus_tui.services.setup import (
    ConnectionCheck,
    ConnectionForm,
    SetupProblem,
    SetupService,
    look_alikes,
)
from posplus_tui.services.terminal_access import (
    FAMILIES,
    spin_parts,
    spin_url,
    terminal_family,
)
from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import cells
from posplus_tui.ui.modals import OperatorDraft, OperatorForm
from posplus_tui.ui.screens.base import HOME_DEPTH, PosScreen
from posplus_tui.ui.widgets import FieldMessage, ProblemPanel, field_row

ENVIRONMENTS = [
    ("Production (the live books)", "production"),
    ("Integration (ServiceTitan's test tenant)", "integration"),
    ("Sandbox (local practice API)", "sandbox"),
]

SECRET_LABELS = {
    "client_secret": "Client secret",
    "app_key": "App key",
    "reconciliation_password": "Reconciliation user's password",
    "terminal_authkey": "Auth key",
}


class SetupScreen(PosScreen[None]):
    """Connection, payment type, reconciliation user, terminal and operators."""

    CSS_PATH = "setup.tcss"
    AREA = "Setup"
    PURPOSE = (
        "Connect this counter to ServiceTitan and the card terminal. Each step has a test "
        "button; secrets are stored in the computer's keyring and never shown again. "
        "Operators are added here with a role, a PIN and their ServiceTitan username."
    )
    BINDINGS = [
        Binding("ctrl+t", "test_connection", "Test connection", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        # Each also on its button, next to what it acts on ("Add operator (ctrl+n)"): not drawn
        # in the footer, so that it fits 80 columns.
        Binding("ctrl+e", "test_terminal", "Test terminal", priority=True, show=False),
        Binding("ctrl+n", "add_operator", "Add operator", priority=True, show=False),
        Binding("ctrl+d", "toggle_operator", "Disable/enable operator", priority=True, show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, first_run: bool = False) -> None:
        super().__init__()
        self.first_run = first_run

    @property
    def setup(self) -> SetupService:
        return self.services.setup

    def body(self) -> ComposeResult:
        s = self.setup.settings
        # Not itself a Tab stop: Tab walks the fields top to bottom, section by section, and
        # each field scrolls into view as it gets the cursor.
        with VerticalScroll(id="setup-body", can_focus=False):
            if self.first_run:
                yield Static(
                    "Welcome. Fill in the connection to ServiceTitan and the terminal, test each "
                    "one, then save (ctrl+s).",
                    id="setup-welcome",
                    markup=False,
                )
            yield ProblemPanel(id="setup-problem")
            yield Label("1. ServiceTitan connection", classes="section-title")
            environment = "sandbox" if self.setup.is_fresh_install() else s.environment
            yield field_row(
                "Environment",
                Select(
                    ENVIRONMENTS,
                    value=environment,
                    allow_blank=False,
                    id="environment",
                    compact=True,
                ),
            )
            sandbox_row = field_row(
                "Sandbox address",
                Input(
                    s.sandbox_url,
                    id="sandbox_url",
                    placeholder="printed by 'posplus sandbox serve', e.g. http://127.0.0.1:8765",
                    compact=True,
                    select_on_focus=False,
                ),
                id="sandbox-row",
            )
            sandbox_row.display = environment == "sandbox"
            yield sandbox_row
            if self.setup.needs_file_password():
                yield Static(
                    "This computer has no keyring: the secrets below are kept in an encrypted "
                    "file. "
                    + (
                        "Type its password to unlock it."
                        if self.setup.secrets_file_exists()
                        else "Choose its password (8 characters or more) and keep it safe: it "
                        "is asked again after each restart."
                    ),
                    id="secrets-file-note",
                    markup=False,
                )
                yield field_row(
                    "Secrets file password",
                    Input(
                        "",
                        id="secrets_password",
                        password=True,
                        placeholder="unlocks the encrypted secrets file",
                        compact=True,
                    ),
                )
            yield field_row(
                "Tenant id",
                Input(
                    s.tenant_id,
                    id="tenant_id",
                    restrict=r"\d*",
                    placeholder="digits, e.g. 1234567890",
                    compact=True,
                    select_on_focus=False,
                ),
            )
            yield field_row(
                "Client id",
                Input(
                    s.client_id,
                    id="client_id",
                    placeholder="cid.abc123",
                    compact=True,
                    select_on_focus=False,
                ),
            )
            for name in ("client_secret", "app_key"):
                yield field_row(
                    SECRET_LABELS[name],
                    Input(
                        "",
                        id=name,
                        password=True,
                        placeholder=self._secret_placeholder(name),
                        compact=True,
                    ),
                )
            with Horizontal(classes="button-row"):
                yield Button(
                    "Test connection (ctrl+t)",
                    id="test-connection",
                    variant="primary",
                    compact=True,
                )
            yield FieldMessage(id="connection-result")
            yield Label("2. Payment type (only one for this app)", classes="section-title")
            yield field_row(
                "Payment type",
                Select[str](
                    [(s.payment_type_name, s.payment_type_name)] if s.payment_type_name else [],
                    value=s.payment_type_name if s.payment_type_name else Select.NULL,
                    id="payment_type",
                    prompt="Test the connection to list the payment types",
                    compact=True,
                ),
            )
            yield FieldMessage(id="payment-type-warning")
            yield Label("3. Reconciliation user", classes="section-title")
            yield field_row(
                "Username (exact case)",
                Input(
                    s.reconciliation_username,
                    id="reconciliation_username",
                    placeholder="the ServiceTitan username, capitals as in ServiceTitan",
                    compact=True,
                    select_on_focus=False,
                ),
            )
            yield FieldMessage(id="recon-user-result")
            yield field_row(
                "Password",
                Input(
                    "",
                    id="reconciliation_password",
                    password=True,
                    placeholder=self._secret_placeholder("reconciliation_password"),
                    compact=True,
                ),
            )
            yield Label("4. Card terminal", classes="section-title")
            family = terminal_family(s.terminal_url)
            spin_address, spin_tpn = spin_parts(s.terminal_url)
            url_input = Input(
                s.terminal_url if family == "poslink" else "",
                id="terminal_url",
                placeholder="poslink+serial:///dev/ttyUSB0?baud=9600",
                compact=True,
                select_on_focus=False,
            )
            url_input.display = family == "poslink"
            yield field_row(
                "Terminal",
                # the address first: the keyboard path through Setup stays as it was for PAX
                url_input,
                Select(
                    FAMILIES, value=family, id="terminal_family", allow_blank=False, compact=True
                ),
                id="terminal-row",
            )
            spin_rows = [
                field_row(
                    "Dejavoo address",
                    Input(
                        spin_address,
                        id="spin_address",
                        placeholder="192.168.1.60:9000 (local) or https://spinpos.net/spin (cloud)",
                        compact=True,
                        select_on_focus=False,
                    ),
                ),
                field_row(
                    "TPN",
                    Input(spin_tpn, id="spin_tpn", placeholder="Z11AB0123456", compact=True),
                ),
                field_row(
                    SECRET_LABELS["terminal_authkey"],
                    Input(
                        "",
                        id="terminal_authkey",
                        password=True,
                        placeholder=self._secret_placeholder("terminal_authkey"),
                        compact=True,
                    ),
                ),
            ]
            for row in spin_rows:
                row.add_class("spin-row")
                row.display = family == "spin"
                yield row
            with Horizontal(classes="button-row"):
                yield Button("Test terminal (ctrl+e)", id="test-terminal", compact=True)
            yield FieldMessage(id="terminal-result")
            yield field_row(
                "Station name",
                Input(s.station_name, id="station_name", compact=True, select_on_focus=False),
            )
            with Horizontal(classes="button-row"):
                yield Button("Save (ctrl+s)", id="save", variant="success", compact=True)
            yield FieldMessage(id="save-result")
            yield Label("5. Operators", classes="section-title")
            table: DataTable[str] = DataTable(id="operators", cursor_type="row", zebra_stripes=True)
            table.add_columns("Name", "Role", "ServiceTitan username", "State")
            yield table
            with Horizontal(classes="button-row"):
                yield Button(
                    "Add operator (ctrl+n)", id="op-add", compact=True, classes="op-action"
                )
                yield Button("Edit (Enter)", id="op-edit", compact=True, classes="op-action")
                yield Button(
                    "Disable / enable (ctrl+d)", id="op-toggle", compact=True, classes="op-action"
                )
            yield FieldMessage(id="operators-result")
            yield from self._link_fields()

    def _link_fields(self) -> ComposeResult:
        """6. Payment links: the Stripe key, Twilio's SID and token, the SMTP password: the keyring."""
        s = self.setup.settings
        yield Label("6. Payment links (optional; saved with ctrl+s)", classes="section-title")
        for label, name in (
            ("Stripe secret key", "stripe_secret_key"),
            ("Twilio account SID", "twilio_account_sid"),
            ("Twilio auth token", "twilio_auth_token"),
            ("SMTP password", "smtp_password"),
        ):
            yield field_row(
                label,
                Input(
                    "",
                    id=name,
                    password=True,
                    placeholder=self._secret_placeholder(name),
                    compact=True,
                ),
            )
        for label, name, hint in (
            ("Texts from", "twilio_from", "+14155550123 (your Twilio number)"),
            ("Twilio address", "twilio_api_url", "empty: Twilio itself"),
            ("SMTP server", "smtp_host", "smtp.example.com"),
            ("SMTP port", "smtp_port", "587"),
            ("SMTP security", "smtp_security", "none, starttls or tls (empty: from the port)"),
            ("SMTP user name", "smtp_username", "empty: no login"),
            ("E-mails from", "smtp_from", "billing@example.com"),
            ("Stripe address", "stripe_api_url", "empty: Stripe itself"),
        ):
            yield field_row(
                label,
                Input(
                    getattr(s, name),
                    id=name,
                    placeholder=hint,
                    compact=True,
                    select_on_focus=False,
                ),
            )
        yield FieldMessage(id="links-result")

    def _show_link_gaps(self) -> None:
        settings, secrets = self.setup.settings, self.setup.secrets
        missing = links_missing(settings, secrets)
        message = self.query_one("#links-result", FieldMessage)
        if missing:
            message.hint(missing + " (Optional: without it the l key says so.)")
            return
        gaps = channel_gaps(settings, secrets)
        if gaps:
            message.hint("Payment links are ready (QR code). " + " ".join(gaps))
        else:
            message.ok("Payment links are ready: QR code, e-mail and text.")

    def on_mount(self) -> None:
        self.operators: list[Any] = []
        self._show_link_gaps()
        self.reload_operators()
        if not self.setup.problems and self.setup.settings.missing_for_run():
            self._focus_first_empty()  # an unfinished set-up: the cursor where typing starts
        elif not self.setup.problems:
            self.query_one("#environment", Select).focus()  # the top of the form
        self._show_operator_rights()
        self._show_refused_settings()
        s = self.setup.settings
        if s.tenant_id and s.client_id and self.setup.secret_is_set("client_secret"):
            # So usernames are checked straight away; the cursor stays where the person is.
            self._run_connection_test(point=False)

    def _focus_first_empty(self) -> None:
        """The cursor starts in the first field still to fill, so typing goes somewhere."""
        for field in self.query(Input):
            shown = field.display and field.parent is not None and field.parent.display
            if shown and not field.value and "stored" not in (field.placeholder or ""):
                field.focus()
                return
        self.query_one("#environment", Select).focus()

    def _show_refused_settings(self) -> None:
        """A setting refused at start: say which and why, and put the cursor in that field."""
        problems = self.setup.problems
        if not problems:
            return
        key = sorted(problems)[0]
        more = f" ({len(problems) - 1} more below)" if len(problems) > 1 else ""
        why = problems[key].split(": “", 1)[-1]  # without the settings file's path
        self.query_one("#setup-problem", ProblemPanel).show(
            f"The setting {key} was refused and left empty{more}.",
            f"“{why} Type the right value in the field with the cursor, test it, then save "
            "(ctrl+s).",
        )
        field = self.query(f"#{key}")
        if field:
            self.call_after_refresh(self._focus_keeping_the_problem, field.first())

    def _focus_keeping_the_problem(self, field: Any) -> None:
        """The cursor in the refused field, scrolled no further than needed to show it, so the
        sentence above (why it was refused) stays in view when it fits."""
        field.focus(scroll_visible=False)
        self.query_one("#setup-body", VerticalScroll).scroll_to_widget(field, animate=False)

    def _secret_placeholder(self, name: str) -> str:
        if self.setup.secret_is_set(name):
            source = self.setup.secret_source(name)
            if source == "environment":
                return f"•••• from the environment (POSPLUS_{name.upper()}), not stored here"
            return f"•••• stored in the {source} — leave empty to keep it"
        return "not set yet"

    # -- reading the form ------------------------------------------------------------------------

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value.strip()

    def _form(self) -> ConnectionForm:
        env = self.query_one("#environment", Select).value
        payment_type = self.query_one("#payment_type", Select).value
        return ConnectionForm(
            environment=str(env),
            tenant_id=self._value("tenant_id"),
            client_id=self._value("client_id"),
            client_secret=self.query_one("#client_secret", Input).value,
            app_key=self.query_one("#app_key", Input).value,
            sandbox_url=self._value("sandbox_url") if str(env) == "sandbox" else "",
            payment_type_name="" if payment_type is Select.NULL else str(payment_type),
            reconciliation_username=self._value("reconciliation_username"),
        )

    @on(Select.Changed, "#terminal_family")
    def _family_changed(self, event: Select.Changed) -> None:
        spin = event.value == "spin"
        self.query_one("#terminal_url").display = not spin
        for row in self.query(".spin-row"):
            row.display = spin

    def _terminal_url(self) -> str:
        """The terminal URL the form describes (raises ValueError with the fix for SPIn)."""
        if self.query_one("#terminal_family", Select).value == "spin":
            return spin_url(self._value("spin_address"), self._value("spin_tpn"))
        return self._value("terminal_url")

    @on(Select.Changed, "#environment")
    def _environment_changed(self, event: Select.Changed) -> None:
        self.query_one("#sandbox-row").display = event.value == "sandbox"

    async def _unlock_secrets(self) -> bool:
        """Unlock the secrets file with what was typed; False (and the reason shown) if not."""
        fields = self.query("#secrets_password")
        if not fields or not self.setup.needs_file_password():
            return True
        field = self.query_one("#secrets_password", Input)
        problem = self.query_one("#setup-problem", ProblemPanel)
        if not field.value:
            problem.show(
                "Type the secrets file's password first.",
                "This computer has no keyring: the secrets are kept in an encrypted file.",
            )
            field.focus()
            return False
        try:
            await self.setup.unlock_secrets(field.value)
        except SetupProblem as exc:
            problem.show(exc.title, exc.fix)
            field.focus()
            return False
        problem.clear()
        field.value = ""
        field.placeholder = "unlocked"
        for name in ("client_secret", "app_key", "reconciliation_password", "terminal_authkey"):
            self.query_one(f"#{name}", Input).placeholder = self._secret_placeholder(name)
        return True

    # -- connection ------------------------------------------------------------------------------

    @on(Button.Pressed, "#test-connection")
    def action_test_connection(self) -> None:
        self._run_connection_test(point=True)

    def _run_connection_test(self, *, point: bool) -> None:
        self.query_one("#connection-result", FieldMessage).hint("Connecting to ServiceTitan…")
        self.run_service(self._test_connection(self._form(), point), name="setup-connection")

    async def _test_connection(self, form: ConnectionForm, point: bool = True) -> None:
        if not await self._unlock_secrets():
            self.query_one("#connection-result", FieldMessage).error(
                "Not tested: the secrets file is locked."
            )
            return
        result = await self.setup.test_connection(form)
        self._show_connection(result, point)

    def _show_connection(self, result: ConnectionCheck, point: bool = True) -> None:
        box = self.query_one("#connection-result", FieldMessage)
        if not result.ok:
            box.error(f"{result.title} Next step: {result.fix}")
            if point:
                self._point_at(result.field)
            return
        box.ok(result.title)
        select = self.query_one("#payment_type", Select)
        names = [t.name for t in result.payment_types if t.active]
        chosen = select.value
        current = (
            str(chosen) if chosen is not Select.NULL else self.setup.settings.payment_type_name
        )
        select.set_options([(n, n) for n in names])
        if current in names:
            select.value = current
        self._check_username()
        boxes = {
            "payment_type": "#payment-type-warning",
            "reconciliation_username": "#recon-user-result",
            "operators": "#operators-result",
        }
        by_box: dict[str, list[str]] = {}
        for finding in result.findings:
            by_box.setdefault(boxes[finding.field], []).append(finding.message)
        for selector, messages in by_box.items():
            self.query_one(selector, FieldMessage).error(" ".join(messages))
        if result.field and point:
            self._point_at(result.field, scroll=False)

    def _point_at(self, field: str, *, scroll: bool = True) -> None:
        """Put the cursor in the field a test named (nothing for a scope: it is fixed in
        ServiceTitan's portal), keeping the connection's result in view."""
        target = {"operators": "#operators", "scope": "", "": ""}.get(field, f"#{field}")
        found = self.query(target) if target else None
        if found:
            found.first().focus(scroll_visible=scroll)
        self.query_one("#connection-result").scroll_visible()

    @on(Select.Changed, "#payment_type")
    def _payment_type_changed(self, event: Select.Changed) -> None:
        box = self.query_one("#payment-type-warning", FieldMessage)
        if event.value is Select.NULL:
            box.clear()
            return
        chosen = str(event.value)
        similar = look_alikes(self.setup.payment_types, chosen)
        if similar:
            box.error(
                f"Other payment types look like “{chosen}”: "
                + ", ".join(f"“{n}”" for n in similar)
                + ". Reconciliation needs exactly one: make sure staff never pick those for "
                "card payments, or deactivate them in ServiceTitan."
            )
        else:
            box.ok(f"“{chosen}” will be used for every payment this app posts.")

    # -- reconciliation user ------------------------------------------------------------------

    @on(Input.Changed, "#reconciliation_username")
    def _check_username(self) -> None:
        check = self.setup.check_username(self._value("reconciliation_username"))
        box = self.query_one("#recon-user-result", FieldMessage)
        if check.ok:
            box.ok(check.message)
        elif check.status == "unchecked":
            box.hint(check.message)
        else:
            box.error(check.message)

    # -- terminal --------------------------------------------------------------------------------

    @on(Button.Pressed, "#test-terminal")
    def action_test_terminal(self) -> None:
        box = self.query_one("#terminal-result", FieldMessage)
        try:
            url = self._terminal_url()
        except ValueError as exc:
            box.error(str(exc))
            return
        box.hint("Asking the terminal…")
        authkey = self.query_one("#terminal_authkey", Input).value
        self.run_service(self._test_terminal(url, authkey), name="setup-terminal")

    async def _test_terminal(self, url: str, authkey: str = "") -> None:
        result = await self.setup.test_terminal(url, authkey)
        box = self.query_one("#terminal-result", FieldMessage)
        if result.ok:
            box.ok(result.title)
        else:
            box.error(f"{result.title} Next step: {result.fix}" if result.fix else result.title)

    # -- saving ------------------------------------------------------------------------------------

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        form = self._form()
        try:
            terminal_url = self._terminal_url()
        except ValueError as exc:
            self.query_one("#save-result", FieldMessage).error(f"Not saved: {exc}")
            return
        payment_type = self.query_one("#payment_type", Select).value
        values = {
            "environment": form.environment,
            "tenant_id": form.tenant_id,
            "client_id": form.client_id,
            "reconciliation_username": self._value("reconciliation_username"),
            "terminal_url": terminal_url,
            "sandbox_url": form.sandbox_url or self.setup.settings.sandbox_url,
            "station_name": self._value("station_name") or "Counter 1",
            **{name: self._value(name) for name in LINK_SETTINGS},
        }
        if payment_type is not Select.NULL:
            values["payment_type_name"] = str(payment_type)
        secrets = {
            "client_secret": form.client_secret,
            "app_key": form.app_key,
            "reconciliation_password": self.query_one("#reconciliation_password", Input).value,
            "terminal_authkey": self.query_one("#terminal_authkey", Input).value,
            **{name: self.query_one(f"#{name}", Input).value for name in LINK_SECRET_NAMES},
        }
        self.run_service(self._save(values, secrets), name="setup-save")

    async def _save(self, values: dict[str, str], secrets: dict[str, str]) -> None:
        problem = self.query_one("#setup-problem", ProblemPanel)
        result = self.query_one("#save-result", FieldMessage)
        if any(secrets.values()) and not await self._unlock_secrets():
            result.error("Not saved: the secrets file is locked.")
            return
        try:
            settings = await self.setup.save(values, secrets, by=self.pos_app.operator)
        except SetupProblem as exc:
            problem.show(exc.title, exc.fix)
            result.error(exc.title)
            return
        problem.clear()
        names = ("client_secret", "app_key", "reconciliation_password", "terminal_authkey")
        for name in (*names, *LINK_SECRET_NAMES):
            field = self.query_one(f"#{name}", Input)
            field.value = ""
            field.placeholder = self._secret_placeholder(name)
        self._show_link_gaps()
        missing = settings.missing_for_run()
        if missing:
            result.error("Saved. Still missing: " + ", ".join(missing) + ".")
            return
        result.hint("Saved. Starting payments with the new settings…")
        try:
            why_not = await self.services.go_live(settings, self.setup.secrets)
        except Exception as exc:
            p = explain(exc)
            problem.show(p.title, p.fix)
            result.error("Saved, but payments could not start: " + p.title)
            return
        if why_not:
            result.ok(f"Saved. {why_not}")
        else:
            result.ok("Saved. Payments are ready: sign in at the counter to take one.")
            self.pos_app.refresh_status()
            if self.first_run and len(self.app.screen_stack) <= HOME_DEPTH:
                self.notify("Setup saved: payments are ready. Sign in to take one.")
                self.pos_app.operator = None  # the first admin signs in like everyone else
                self.app.pop_screen()  # onto the sign-in screen below

    def action_back(self) -> None:
        if len(self.app.screen_stack) > HOME_DEPTH:
            self.app.pop_screen()

    # -- operators -----------------------------------------------------------------------------

    def reload_operators(self) -> None:
        if self.services.operators is not None:
            self.run_service(self._load_operators(), name="setup-operators")

    async def _load_operators(self) -> None:
        self.operators = await self.services.operators.list()
        table = self.query_one("#operators", DataTable)
        table.clear()
        for op in self.operators:
            state = "disabled" if op.disabled else ("locked" if op.locked_until else "active")
            table.add_row(
                *cells(op.name, op.role.value, op.st_username or "—", state), key=str(op.id)
            )

    def why_disabled(self, action: str) -> str:
        """Why an operator action cannot be done by who is signed in ("" when it can): said
        before the form is opened, not after it is filled in."""
        if action not in ("add_operator", "edit_operator", "toggle_operator"):
            return ""
        if self.pos_app.operator is None or self.pos_app.may(Action.MANAGE_OPERATORS):
            return ""  # nobody signed in: the first admin of a fresh install (checked again)
        role = self.pos_app.operator.role.value
        return f"Only an admin can add, change or disable operators (signed in: a {role})."

    def _show_operator_rights(self) -> None:
        """Grey the operator buttons for who may not use them, with the reason under them."""
        why = self.why_disabled("add_operator")
        for button in self.query(".op-action"):
            button.disabled = bool(why)
        if why:
            self.query_one("#operators-result", FieldMessage).hint(why)

    def _refuse(self, action: str) -> bool:
        """Refuse an operator action at once, where it can be seen (True if refused)."""
        why = self.why_disabled(action)
        if why:
            box = self.query_one("#operators-result", FieldMessage)
            box.error(why)
            self.call_after_refresh(box.scroll_visible)
        return bool(why)

    def _selected_operator(self) -> Any | None:
        table = self.query_one("#operators", DataTable)
        if not self.operators or table.cursor_row < 0 or table.cursor_row >= len(self.operators):
            return None
        return self.operators[table.cursor_row]

    def _username_check(self, value: str) -> Any:
        return self.setup.check_username(value)

    @on(Button.Pressed, "#op-add")
    def action_add_operator(self) -> None:
        if self._refuse("add_operator"):
            return
        roles = [r.value for r in Role]
        self.app.push_screen(OperatorForm(roles, self._username_check), self._added)

    def _added(self, draft: OperatorDraft | None) -> None:
        if draft is not None:
            self.run_service(self._save_operator(None, draft), name="setup-operator-save")

    @on(DataTable.RowSelected, "#operators")
    @on(Button.Pressed, "#op-edit")
    def action_edit_operator(self) -> None:
        if self._refuse("edit_operator"):
            return
        op = self._selected_operator()
        if op is None:
            self.query_one("#operators-result", FieldMessage).error("Pick an operator first.")
            return
        draft = OperatorDraft(op.name, op.role.value, "", op.st_username)

        def save(result: OperatorDraft | None) -> None:
            if result is not None:
                self.run_service(self._save_operator(op.id, result), name="setup-operator-save")

        self.app.push_screen(
            OperatorForm([r.value for r in Role], self._username_check, draft), save
        )

    async def _save_operator(self, operator_id: int | None, draft: OperatorDraft) -> None:
        box = self.query_one("#operators-result", FieldMessage)
        by = self.pos_app.operator
        try:
            if operator_id is None:
                saved = await self.services.operators.add(
                    draft.name, draft.role, draft.pin, st_username=draft.st_username, by=by
                )
                verb = "added"
            else:
                changes: dict[str, Any] = {
                    "name": draft.name,
                    "role": draft.role,
                    "st_username": draft.st_username,
                    "by": by,
                }
                if draft.pin:
                    changes["pin"] = draft.pin
                saved = await self.services.operators.update(operator_id, **changes)
                verb = "saved"
        except Exception as exc:
            problem = explain(exc)
            box.error(f"{problem.title} {problem.fix}")
            self.call_after_refresh(box.scroll_visible)
            return
        if by is None and operator_id is None:
            # The first admin of a fresh install, who just chose their PIN, works on as
            # themselves (anything else needs a signed-in admin or technician).
            self.pos_app.operator = saved
            self.pos_app.update_status_bars()
        check = self.setup.check_username(saved.st_username) if saved.st_username else None
        note = f" Note: {check.message}" if check is not None and not check.ok else ""
        box.ok(f"{saved.name} ({saved.role.value}) {verb}.{note}")
        await self._load_operators()

    @on(Button.Pressed, "#op-toggle")
    def action_toggle_operator(self) -> None:
        if self._refuse("toggle_operator"):
            return
        op = self._selected_operator()
        if op is None:
            self.query_one("#operators-result", FieldMessage).error("Pick an operator first.")
            return
        self.run_service(self._toggle(op), name="setup-operator-toggle")

    async def _toggle(self, op: Any) -> None:
        box = self.query_one("#operators-result", FieldMessage)
        by = self.pos_app.operator
        try:
            if op.disabled:
                saved = await self.services.operators.enable(op.id, by=by)
            else:
                saved = await self.services.operators.disable(op.id, by=by)
        except Exception as exc:
            problem = explain(exc)
            box.error(f"{problem.title} {problem.fix}")
            self.call_after_refresh(box.scroll_visible)
            return
        box.ok(f"{saved.name} is now {'disabled' if saved.disabled else 'active'}.")
        await self._load_operators()
