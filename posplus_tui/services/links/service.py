"""Payment links as use cases: what the screens call (the poller's rounds are in .poller).

Money safety, as for the terminal: the link row is committed before the provider is asked; an
ambiguous create is settled by asking the provider for our reference, never by creating again;
the app learns "paid" only from the provider (events, or a direct read), never from a redirect;
a paid link becomes an approved transaction with its outbox row in one commit, so it reaches
ServiceTitan exactly once under the one payment type, like a terminal payment.
"""

from __future__ import annotations

import logging

from gateways import (
    GatewayAuthError,
    GatewayError,
    GatewayNotFound,
    GatewayRefused,
    GatewayUnknown,
)
from gateways.messaging import (
    BadRecipient,
    MessageAuthError,
    MessageNotSent,
    MessageRefused,
    MessageUnknown,
    check_email,
    normalise_phone,
)
from gateways.messaging.qr import qr_text
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.links import LINK_OPEN_STATES
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.transactions import Tender, TxnKind, TxnState
from posplus_tui.services.card_guard import refuse_card_data
from posplus_tui.services.errors import InvalidRequest, ServiceError
from posplus_tui.services.links import words
from posplus_tui.services.links.core import CHANNELS, LinkSettings, PollRound
from posplus_tui.services.links.invoice_watch import InvoiceWatch
from posplus_tui.services.links.poller import LinkPoller
from posplus_tui.services.links.store import LinkView
from posplus_tui.services.operators import Approval, OperatorInfo
from posplus_tui.services.txn_store import IntentSpec

__all__ = ["LinkService", "LinkSettings", "PollRound"]

log = logging.getLogger(__name__)


class LinkService(LinkPoller, InvoiceWatch):
    """The clerk's and supervisor's use cases over one provider account (see :mod:`.core`)."""

    # -- checks before anything is created --------------------------------------------------------

    def check_recipient(self, channel: str, to: str) -> str:
        """The address or E.164 number to send to; a sentence (``InvalidRequest``) when it is not."""
        if channel not in CHANNELS:
            raise InvalidRequest(
                f"{channel!r} is not a way to send a link.", "Pick e-mail, text or QR."
            )
        if channel == "qr":
            return ""
        if channel not in self.channels:
            raise InvalidRequest(
                f"Sending links by {'e-mail' if channel == 'email' else 'text'} is not set up.",
                "Show the QR code instead, or set it up in Setup.",
            )
        try:
            return (check_email(to) if channel == "email" else normalise_phone(to)).value
        except BadRecipient as exc:
            raise InvalidRequest(
                exc.sentence, "Check it with the customer and type it again."
            ) from None

    @staticmethod
    def qr(link: LinkView) -> str:
        return qr_text(link.url)

    # -- create and send --------------------------------------------------------------------------

    async def create(
        self,
        invoice: InvoiceFacts,
        amount: Money | None = None,
        *,
        operator: OperatorInfo,
        channel: str = "qr",
        to: str = "",
    ) -> LinkView:
        """Check the recipient, commit the link's row, ask the provider, then send it. A link whose
        create is not known stays UNKNOWN (the poller settles it by our reference)."""
        recipient = self.check_recipient(channel, to)
        await self._db(self._operators.authorize_sync, operator, Action.CHARGE, None)
        if channel == "email":
            await self._check_email_login()
        if amount is None:
            amount = (await self._db(self._store.invoice_holds, invoice)).available
        if not isinstance(amount, Money) or amount.cents <= 0:
            raise InvalidRequest(
                f"Invoice {invoice.number} has nothing left to pay by link.",
                "Check the invoice; an open link or a payment in progress may already cover it.",
            )
        expires = self._clock() + self.settings.expires_after
        link = await self._db(
            self._store.write_link_intent,
            invoice,
            amount,
            operator_id=operator.id,
            operator_name=operator.name,
            expires_at=expires,
        )
        self._changed()
        try:
            created = await self._gateway.create_link(
                amount_cents=amount.cents,
                reference=link.reference,
                description=f"Invoice {invoice.number}",
                metadata={
                    "posplus_ref": link.reference,
                    "invoice_id": invoice.invoice_id,
                    "invoice_number": invoice.number,
                },
                idempotency_key=f"posplus-link-{link.reference}",
                expires_at=expires,
            )
        except GatewayUnknown as exc:
            link = await self._db(self._store.mark_unknown, link.id, str(exc), actor=operator.name)
            self._changed()
            raise ServiceError(
                f"The payment service did not answer clearly about link {link.reference}.",
                "Do not make another link yet: it is being checked and will show here in a moment.",
            ) from None
        except (GatewayRefused, GatewayAuthError, GatewayNotFound, GatewayError) as exc:
            await self._db(self._store.mark_failed, link.id, str(exc), actor=operator.name)
            self._changed()
            raise ServiceError(
                f"The payment service refused the link: {exc}", "Nothing was created."
            ) from None
        link = await self._db(self._store.mark_created, link.id, created, actor=operator.name)
        self._changed()
        return await self.send(link.id, channel, recipient, operator=operator)

    async def _check_email_login(self) -> None:
        """A refused SMTP login (or a relay that cannot be reached) stops before anything is made."""
        check = getattr(self._email, "check_login", None)
        if check is None:
            return
        try:
            await check()
        except (MessageAuthError, MessageNotSent, MessageRefused, MessageUnknown) as exc:
            raise InvalidRequest(
                f"No link was made: {exc}", "Fix it in Setup, or send the link by text or QR."
            ) from None

    async def send(
        self, link_id: int, channel: str, to: str, *, operator: OperatorInfo
    ) -> LinkView:
        """E-mail it, text it, or record it shown as a QR code (sending again is allowed)."""
        recipient = self.check_recipient(channel, to)
        link = await self._db(self._store.link, link_id)
        if link.state not in LINK_OPEN_STATES:
            raise InvalidRequest(
                f"Link {link.reference} is {link.state.value}: it cannot be sent.",
                "Create a new link if the customer still has to pay.",
            )
        message_id = ""
        try:
            if channel == "email":
                assert self._email is not None
                sent = await self._email.send(
                    recipient,
                    words.email_subject(self.settings.company, link.invoice_number, link.amount),
                    words.email_body(
                        self.settings.company, link.invoice_number, link.amount, link.url
                    ),
                )
                message_id = sent.provider_id
            elif channel == "sms":
                assert self._sms is not None
                sent = await self._sms.send(
                    recipient,
                    words.sms_body(
                        self.settings.company, link.invoice_number, link.amount, link.url
                    ),
                )
                message_id = sent.provider_id
        except (MessageRefused, MessageNotSent, MessageAuthError) as exc:
            await self._db(self._store.note, link.id, f"not sent by {channel}: {exc}")
            self._changed()
            raise InvalidRequest(
                f"Link {link.reference} was created but not sent: {exc}",
                "Send it another way (e-mail, text or QR), or fix the address and send again.",
            ) from None
        except MessageUnknown as exc:
            await self._db(self._store.note, link.id, f"{channel}: {exc}")
            self._changed()
            raise InvalidRequest(
                f"It is not known whether link {link.reference} reached the customer: {exc}",
                "Ask the customer; send it again if it did not arrive (the link can be paid once).",
            ) from None
        link = await self._db(
            self._store.mark_link_sent,
            link.id,
            channel=channel,
            recipient=recipient,
            message_id=message_id,
            actor=operator.name,
        )
        self._changed()
        return link

    # -- supervisor actions -----------------------------------------------------------------------

    async def deactivate(
        self, link_id: int, *, operator: OperatorInfo, approval: Approval | None = None
    ) -> LinkView:
        """Switch the link off at the provider (a supervisor's, bound to this link and amount).
        If the customer paid first, the payment is recorded and the clerk is told."""
        link = await self.link(link_id)
        await self._db(
            self._operators.authorize_sync,
            operator,
            Action.VOID,
            approval,
            target=link.reference,
            amount=link.amount,
        )
        if link.state not in LINK_OPEN_STATES:
            raise InvalidRequest(
                f"Link {link.reference} is {link.state.value}: there is nothing to deactivate.",
                "Refund it instead if it was paid.",
            )
        return await self._deactivate(link, actor=operator.name)

    async def refund(
        self,
        link_id: int,
        amount: Money | None = None,
        *,
        operator: OperatorInfo,
        approval: Approval | None = None,
        reason: str = "",
    ) -> LinkView:
        """Refund all that is left or part of a link's payment, through the provider, with the
        same intent-first refund transaction as a terminal refund (its own outbox row)."""
        refuse_card_data(reason, "reason")
        link = await self.link(link_id)
        if link.transaction_id is None or not link.payment_id:
            raise InvalidRequest(
                f"Link {link.reference} has not been paid.", "Deactivate it instead."
            )
        left = await self._db(self._store.refundable, link.reference)
        amount = left if amount is None else amount
        if amount.cents <= 0:
            raise InvalidRequest(
                f"Nothing is left to refund on {link.reference}.", "Check its history."
            )
        supervisor = await self._db(
            self._operators.authorize_sync,
            operator,
            Action.REFUND,
            approval,
            target=link.reference,
            amount=amount,
        )
        spec = IntentSpec(
            kind=TxnKind.REFUND,
            tender=Tender.LINK,
            amount=amount,
            operator_id=operator.id,
            operator_name=operator.name,
            supervisor_id=supervisor.id if supervisor else None,
            parent_ref=link.reference,
            reason=reason,
        )
        intent = await self._db(self._store.write_intent, spec)
        await self._db(self._store.mark_sent, intent.id)
        view = await self._refund_at_provider(
            link, intent.ecr_ref, intent.id, amount, operator.name
        )
        self._changed()
        if view.state is TxnState.UNKNOWN and view.host_ref:
            raise ServiceError(
                f"The payment service has refund {view.ecr_ref} ({amount.format()}) pending: "
                "it is not returned to the customer yet.",
                "It shows as refunded only once the payment service confirms it (checked "
                "in the background); nothing else to do now.",
            )
        if view.state is TxnState.UNKNOWN:
            raise ServiceError(
                f"The payment service did not confirm refund {view.ecr_ref}.",
                "It is checked again in the background (never sent twice); see the link's state.",
            )
        if not view.is_approved:
            raise ServiceError(f"The refund was refused: {view.message}", "Nothing was refunded.")
        return await self.link(link_id)

    async def aclose(self) -> None:
        self.stop()
        for task in list(self._tasks):
            task.cancel()
        for closer in (self._gateway, self._sms):
            if closer is not None:
                await closer.aclose()
