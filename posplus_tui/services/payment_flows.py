"""The money flows on the engine: sale, deposit, keyed, card on file, keyed ACH, refund, void."""

from __future__ import annotations

from drivers import AchAccount
from posplus_tui.domain.bank import check_account_number, check_routing_number
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.rules import RuleViolation
from posplus_tui.domain.transactions import Tender, TxnKind, TxnState
from posplus_tui.services.card_guard import refuse_card_data
from posplus_tui.services.errors import InvalidRequest, VoidNotAllowed
from posplus_tui.services.events import PaymentListener
from posplus_tui.services.operators import Approval, OperatorInfo
from posplus_tui.services.payment_engine import PaymentEngine
from posplus_tui.services.payment_results import PaymentResult
from posplus_tui.services.txn_views import IntentSpec, TransactionView


class PaymentFlows(PaymentEngine):
    """Each flow checks its request, builds the intent and says what to send; the engine runs it."""

    async def charge(
        self,
        invoice: InvoiceFacts,
        *,
        operator: OperatorInfo,
        amount: Money | None = None,
        save_card: bool = False,
        keyed: bool = False,
        approval: Approval | None = None,
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Push a sale to the terminal: the full balance (``amount=None``) or a deposit.

        ``keyed``: the clerk types the card on the terminal's keypad (never in the app).
        ``save_card``: ask the terminal for a reusable token and keep it on file for the customer.
        More than the balance needs a supervisor (``approval`` for ``charge_over_balance``).
        """
        if keyed:
            self._check_offered("keyed", "a card typed on its keypad")
        checked = await self._charge_amount(invoice, amount, operator, approval)
        tender = Tender.KEYED if keyed else Tender.CARD
        spec = _sale_spec(invoice, operator, checked, tender, save_card=save_card)
        return await self._run(
            spec,
            lambda ref, progress: self._terminal.sale(
                spec.amount.cents,
                ref,
                request_token=save_card,
                keyed=keyed,
                progress=progress,
                invoice=invoice.number,
            ),
            approval=approval,
            on_event=on_event,
        )

    async def deposit(
        self, invoice: InvoiceFacts, amount: Money, *, operator: OperatorInfo, **kwargs: object
    ) -> PaymentResult:
        """A deposit: part of the balance (0 < amount ≤ balance; more with a supervisor)."""
        return await self.charge(invoice, operator=operator, amount=amount, **kwargs)  # type: ignore[arg-type]

    async def charge_keyed(
        self, invoice: InvoiceFacts, *, operator: OperatorInfo, **kwargs: object
    ) -> PaymentResult:
        return await self.charge(invoice, operator=operator, keyed=True, **kwargs)  # type: ignore[arg-type]

    async def charge_card_on_file(
        self,
        invoice: InvoiceFacts,
        card_id: int,
        *,
        operator: OperatorInfo,
        amount: Money | None = None,
        approval: Approval | None = None,
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Charge a saved card (no card present)."""
        self._check_offered("card_on_file", "a card on file")
        checked = await self._charge_amount(invoice, amount, operator, approval)
        card, token = await self._db(self._store.card_token, card_id, invoice.customer_id)
        spec = _sale_spec(invoice, operator, checked, Tender.CARD_ON_FILE, card_on_file_id=card.id)
        return await self._run(
            spec,
            lambda ref, progress: self._terminal.sale_with_token(
                spec.amount.cents, ref, token, progress=progress
            ),
            approval=approval,
            on_event=on_event,
        )

    async def charge_ach(
        self,
        invoice: InvoiceFacts,
        routing_number: str,
        account_number: str,
        *,
        operator: OperatorInfo,
        account_type: str = "checking",
        holder_name: str = "",
        amount: Money | None = None,
        approval: Approval | None = None,
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Keyed ACH: the numbers are checked (ABA checksum), passed to the terminal once and never
        stored or logged — only the account's last 4 is kept."""
        self._check_offered("ach", "a bank account (ACH)")
        try:
            routing = check_routing_number(routing_number)
            account = check_account_number(account_number)
        except RuleViolation as exc:
            raise InvalidRequest(exc.message, exc.fix) from None
        if account_type not in ("checking", "savings"):
            raise InvalidRequest(
                f"“{account_type}” is not an account type.", "Choose checking or savings."
            )
        checked = await self._charge_amount(invoice, amount, operator, approval)
        ach = AchAccount(routing, account, account_type, holder_name)
        spec = _sale_spec(invoice, operator, checked, Tender.ACH)
        return await self._run(
            spec,
            lambda ref, progress: self._terminal.ach_sale(
                spec.amount.cents, ref, ach, progress=progress
            ),
            approval=approval,
            on_event=on_event,
        )

    async def refund(
        self,
        ecr_ref: str,
        amount: Money | None = None,
        *,
        operator: OperatorInfo,
        approval: Approval | None = None,
        reason: str = "",
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Refund all that is left (``amount=None``) or part of an approved sale. Needs a supervisor.
        Refunds never add up to more than was captured, even from two stations at once. The
        ``reason`` is written with the intent, in the same commit, into the audit chain."""
        original = await self._original(ecr_ref, operator, reason)
        if amount is None:
            amount = await self._db(self._store.refundable, ecr_ref)
            if amount.cents <= 0:
                raise InvalidRequest(
                    f"Nothing is left to refund on {original.ecr_ref}.",
                    "Check the transaction's history: it is already fully refunded or voided.",
                )
        supervisor = await self._db(
            self._authorize, operator, Action.REFUND, approval, original.ecr_ref, amount
        )
        spec = _money_back_spec(TxnKind.REFUND, original, amount, operator, supervisor, reason)
        original_ref = original.host_ref or original.terminal_ref
        return await self._run(
            spec,
            lambda ref, progress: self._terminal.refund(
                spec.amount.cents, ref, original_ref, progress=progress
            ),
            approval=approval,
            on_event=on_event,
        )

    async def void(
        self,
        ecr_ref: str,
        *,
        operator: OperatorInfo,
        approval: Approval | None = None,
        reason: str = "",
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Void an approved sale before its batch closes; after that, a refund is needed instead."""
        original = await self._original(ecr_ref, operator, reason)
        supervisor = await self._db(
            self._authorize, operator, Action.VOID, approval, original.ecr_ref, original.approved
        )
        spec = _money_back_spec(
            TxnKind.VOID, original, original.approved, operator, supervisor, reason
        )
        original_ref = original.host_ref or original.terminal_ref
        result = await self._run(
            spec,
            lambda ref, progress: self._terminal.void(ref, original_ref, progress=progress),
            approval=approval,
            on_event=on_event,
        )
        if result.state is TxnState.FAILED and "BATCH CLOSED" in result.transaction.message.upper():
            await self._db(self._store.mark_parent_batch_closed, original.ecr_ref)
            raise VoidNotAllowed(
                "The terminal's batch with this sale is already closed (settled), so it can no "
                "longer be voided. Nothing was changed.",
                "Refund it instead.",
            )
        return result

    async def _original(self, ecr_ref: str, operator: OperatorInfo, reason: str) -> TransactionView:
        """The sale a refund or void is for, once the reason holds no card data and the operator
        has an active money role (the supervisor's approval is checked by each flow)."""
        refuse_card_data(reason, "reason")
        await self._db(self._authorize, operator, Action.CHARGE, None)
        original = await self._db(self._store.get, ecr_ref)
        if original.tender is Tender.LINK:  # given back through its provider, never the terminal
            raise InvalidRequest(
                f"{original.ecr_ref} was paid through a payment link, not at the terminal.",
                "Open the invoice's payment links (l) to refund it.",
            )
        return original


def _sale_spec(
    invoice: InvoiceFacts,
    operator: OperatorInfo,
    checked: tuple[Money, TxnKind, int | None],
    tender: Tender,
    *,
    save_card: bool = False,
    card_on_file_id: int | None = None,
) -> IntentSpec:
    """The intent of a charge on ``invoice``; ``checked`` is the engine's ``_charge_amount``."""
    amount, kind, supervisor_id = checked
    return IntentSpec(
        kind=kind,
        tender=tender,
        amount=amount,
        operator_id=operator.id,
        operator_name=operator.name,
        invoice=invoice,
        supervisor_id=supervisor_id,
        save_card=save_card,
        card_on_file_id=card_on_file_id,
    )


def _money_back_spec(
    kind: TxnKind,
    original: TransactionView,
    amount: Money,
    operator: OperatorInfo,
    supervisor: OperatorInfo | None,
    reason: str,
) -> IntentSpec:
    """The intent of a refund or void of ``original``, on the tender it was paid with."""
    return IntentSpec(
        kind=kind,
        tender=original.tender,
        amount=amount,
        operator_id=operator.id,
        operator_name=operator.name,
        supervisor_id=supervisor.id if supervisor else None,
        parent_ref=original.ecr_ref,
        reason=reason,
    )
