"""The POSLink commands this app uses, built and parsed as plain values. Pure: no I/O.

Group layouts follow the public Global Payments SDK [R] where known; choices marked [I] are inferred
and kept in one place (here) so they can be changed to the manufacturer's specification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.base import (
    Approved,
    BatchClosed,
    Cancelled,
    Declined,
    EntryMethod,
    NotFound,
    TerminalError,
    TerminalInfo,
)
from drivers.poslink.codec import (
    MessageError,
    Request,
    Response,
    ext_data,
    group_item,
    join_group,
    parse_ext,
    split_group,
)

DEFAULT_VERSION = "1.35"

# Commands [R]
INITIALIZE = "A00"
CANCEL = "A14"
DO_CREDIT = "T00"
DO_CHECK = "T12"
BATCH_CLOSE = "B00"
LOCAL_DETAIL = "R02"

# Transaction types [R]
SALE = "01"
RETURN = "02"
VOID = "16"

# Result codes [R for 000000 000002 000100 100011, BP for 100001 100002, PX for 100003]
OK = "000000"
APPROVED_OFFLINE = "000001"
PARTIAL = "000002"
APPROVED_NO_SURCHARGE = "000003"
DECLINED = "000100"
TIMED_OUT = "100001"
ABORTED = "100002"
FORMAT_ERROR = "100003"
DUPLICATE = "100011"
IN_PROGRESS = "100012"  # [I] a status query about a request the terminal is still working on
NOT_FOUND = "100023"  # [I]
APPROVED_CODES = {OK, APPROVED_OFFLINE, PARTIAL, APPROVED_NO_SURCHARGE}
#: host response codes that mean approved [R GP: "00", also "0" and "85"]
APPROVED_HOST_CODES = {"00", "0", "85"}
#: ISO 8583 "approved for a partial amount" [I]: accepted beside a 000002 reply, never read as an
#: approval on its own (a status record with it is unknown)
PARTIAL_HOST_CODES = {"10"}

RESULT_MEANING = {
    TIMED_OUT: "the cardholder did not act before the terminal's time-out",
    ABORTED: "aborted at the terminal",
    FORMAT_ERROR: "the terminal rejected a field of the request (format error)",
    DUPLICATE: "duplicate transaction: the terminal already has this reference — check its status, do not override",
    IN_PROGRESS: "the terminal is still working on that request",
    NOT_FOUND: "no such transaction at the terminal",
}

# Card type codes [R]
CARD_TYPES = {
    "01": "VISA",
    "02": "MASTERCARD",
    "03": "AMEX",
    "04": "DISCOVER",
    "05": "DINERS",
    "07": "JCB",
    "99": "OTHER",
}
CARD_TYPE_CODES = {v: k for k, v in CARD_TYPES.items()}

# Entry modes [R]: 0 manual, 1 swipe, 2 contactless, 3 scanner, 4 chip, 5 chip fall-back to swipe
ENTRY_MODES = {
    "0": EntryMethod.KEYED,
    "1": EntryMethod.SWIPE,
    "2": EntryMethod.CONTACTLESS,
    "3": EntryMethod.UNKNOWN,
    "4": EntryMethod.CHIP,
    "5": EntryMethod.SWIPE,
}

# Extra-data keys [R] and our inferred ones [I]
TOKENREQUEST = "TOKENREQUEST"
TOKEN = "TOKEN"
HREF = "HREF"
REPORTSTATUS = "REPORTSTATUS"
MANUALENTRY = "MANUALENTRY"  # [I] ask the terminal to prompt for keyed entry
ECRREF = "ECRREF"  # [I] carried in A14 so the terminal cancels only that request
ORIGRESULT = "ORIGRESULT"  # [I] the stored record's own result code, in an R03 reply
ACCTTYPE = "ACCTTYPE"  # [I] C checking / S savings for T12

# Intermediate status texts [I] → what the counter shows
STATUS_TEXTS = ("WAITING FOR CARD", "WAITING FOR PIN", "KEYED ENTRY", "AUTHORISING")


def check_amount(cents: int) -> str:
    if not isinstance(cents, int) or isinstance(cents, bool) or cents <= 0:
        raise ValueError(f"amount must be a positive number of cents, got {cents!r}")
    if cents > 99_999_999:
        raise ValueError("amount too large for the terminal (at most $999,999.99)")
    return str(cents)


def check_ref(ref: str, what: str = "ECR reference") -> str:
    """ECR references are 1–16 printable characters [R PX: longer → REFERENCE INVALID]."""
    if not ref or len(ref) > 16 or not all(c.isalnum() or c in "-_" for c in ref):
        raise ValueError(
            f"{what} {ref!r} must be 1–16 letters, digits, '-' or '_' (e.g. P251125A1B2C3D4E)"
        )
    return ref


def invoice_field(invoice: str) -> str:
    """The invoice number as the trace group can carry it: letters, digits, '-' and '_', at most
    16 characters [I: the spec's limit is not in the notes]; anything else is left out rather than
    refused (the ECR reference, not the invoice, ties the sale)."""
    return "".join(c for c in str(invoice) if c.isascii() and (c.isalnum() or c in "-_"))[:16]


# --------------------------------------------------------------------------- requests


def initialize(version: str = DEFAULT_VERSION) -> Request:
    return Request(INITIALIZE, version)


def cancel(version: str = DEFAULT_VERSION, ecr_ref: str | None = None) -> Request:
    fields = (ext_data([(ECRREF, ecr_ref)]),) if ecr_ref else ()
    return Request(CANCEL, version, fields)


def credit(
    txn_type: str,
    *,
    ecr_ref: str,
    amount_cents: int | None = None,
    invoice: str = "",
    ext: list[tuple[str, str]] | None = None,
    version: str = DEFAULT_VERSION,
) -> Request:
    """T00 DoCredit: type · amount · account · trace · AVS · cashier · commercial · e-com · extra [R].

    The account group stays empty: the app never sends a card number.
    """
    check_ref(ecr_ref)
    amount = join_group([check_amount(amount_cents)]) if amount_cents is not None else ""
    trace = join_group([ecr_ref, invoice])
    fields = (txn_type, amount, "", trace, "", "", "", "", ext_data(ext or []))
    return Request(DO_CREDIT, version, fields)


def check_sale(
    *,
    ecr_ref: str,
    amount_cents: int,
    routing: str,
    account: str,
    account_type: str = "checking",
    holder: str = "",
    report_status: bool = False,
    version: str = DEFAULT_VERSION,
) -> Request:
    """T12 DoCheck sale [R command; I group order]: type · amount · check · trace · cashier · extra."""
    check_ref(ecr_ref)
    if not routing.isdigit() or len(routing) != 9:
        raise ValueError("routing number must be 9 digits")
    if not account.isdigit() or not 4 <= len(account) <= 17:
        raise ValueError("account number must be 4–17 digits")
    check_group = join_group(["", routing, account, "", "P"])
    ext: list[tuple[str, str]] = [(ACCTTYPE, "S" if account_type == "savings" else "C")]
    if holder:
        ext.append(("HOLDER", "".join(c for c in holder if c.isalnum() or c == " ")[:30]))
    if report_status:
        ext.append((REPORTSTATUS, "1"))
    fields = (
        SALE,
        join_group([check_amount(amount_cents)]),
        check_group,
        join_group([ecr_ref]),
        "",
        ext_data(ext),
    )
    return Request(DO_CHECK, version, fields)


def batch_close(version: str = DEFAULT_VERSION) -> Request:
    return Request(BATCH_CLOSE, version)


def local_detail(ecr_ref: str, version: str = DEFAULT_VERSION) -> Request:
    """R02 by ECR reference: EDC type "00" (all) · type · card type · record no · terminal ref ·
    auth code · ECR ref [R]."""
    check_ref(ecr_ref)
    return Request(LOCAL_DETAIL, version, ("00", "", "", "", "", "", ecr_ref))


def request_ecr_ref(request: Request) -> str:
    """The ECR reference a request carries (empty if none)."""
    if request.command == DO_CREDIT:
        return group_item(request.field(3), 0)
    if request.command == DO_CHECK:
        return group_item(request.field(3), 0)
    if request.command == LOCAL_DETAIL:
        return request.field(6)
    if request.command == CANCEL:
        return parse_ext(request.field(0)).get(ECRREF, "")
    return ""


def request_ext(request: Request) -> dict[str, str]:
    if request.command == DO_CREDIT:
        return parse_ext(request.field(8))
    if request.command == DO_CHECK:
        return parse_ext(request.field(5))
    if request.command == CANCEL:
        return parse_ext(request.field(0))
    return {}


def request_amount(request: Request) -> int | None:
    text = group_item(request.field(1), 0)
    return int(text) if text.isdigit() else None


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class TxnRecord:
    """The transaction part of T01/T13 replies and of an R03 record [R GP CreditResponse]."""

    host_code: str = ""
    host_message: str = ""
    auth_code: str = ""
    host_ref: str = ""
    batch: str = ""
    txn_type: str = ""
    approved_cents: int | None = None
    amount_due_cents: int | None = None
    last4: str = ""
    entry_mode: str = ""
    expiry: str = ""
    card_type: str = ""
    terminal_ref: str = ""
    ecr_ref: str = ""
    ext: dict[str, str] = field(default_factory=dict)
    #: the amount due sub-field as sent ("" when absent), to tell absent from unreadable
    amount_due_text: str = field(default="", compare=False)

    def fields(self) -> tuple[str, ...]:
        host = join_group(
            [self.host_code, self.host_message, self.auth_code, self.host_ref, "", self.batch]
        )
        amount = join_group(
            [
                "" if self.approved_cents is None else str(self.approved_cents),
                "" if not self.amount_due_cents else str(self.amount_due_cents),
            ]
        )
        account = join_group([self.last4, self.entry_mode, self.expiry, "", "", "", self.card_type])
        trace = join_group([self.terminal_ref, self.ecr_ref])
        return (host, self.txn_type, amount, account, trace, "", "", "", ext_data(self.ext.items()))


TXN_FIELDS = 9


def _cents(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse_txn(fields: tuple[str, ...]) -> TxnRecord:
    if len(fields) < TXN_FIELDS:
        raise MessageError(f"transaction reply has {len(fields)} groups, expected {TXN_FIELDS}")
    host, txn_type, amount, account, trace = fields[:5]
    hp, ap, acp, tp = (
        split_group(host),
        split_group(amount),
        split_group(account),
        split_group(trace),
    )

    def at(parts: list[str], i: int) -> str:
        return parts[i] if i < len(parts) else ""

    last4 = at(acp, 0)[-4:]  # last digits only, never more
    return TxnRecord(
        host_code=at(hp, 0),
        host_message=at(hp, 1),
        auth_code=at(hp, 2),
        host_ref=at(hp, 3),
        batch=at(hp, 5),
        txn_type=txn_type,
        approved_cents=_cents(at(ap, 0)),
        amount_due_cents=_cents(at(ap, 1)),
        amount_due_text=at(ap, 1),
        last4=last4,
        entry_mode=at(acp, 1),
        expiry=at(acp, 2),
        card_type=at(acp, 6),
        terminal_ref=at(tp, 0),
        ecr_ref=at(tp, 1),
        ext=parse_ext(fields[8]),
    )


def txn_response(
    command: str, code: str, text: str, record: TxnRecord, version: str = DEFAULT_VERSION
) -> Response:
    return Response("0", command, version, code, text, record.fields())


def status_report(command: str, text: str, version: str = DEFAULT_VERSION) -> Response:
    """An intermediate status frame [I]: status "1", the reply command, result 000000, the state."""
    return Response("1", command, version, OK, text)


@dataclass(frozen=True)
class Identity:
    serial_number: str
    model: str
    firmware: str
    mac: str = ""


def identity_response(ident: Identity, version: str = DEFAULT_VERSION) -> Response:
    """A01: serial no · model · OS/firmware · MAC … [R WS field list, I order]."""
    return Response(
        "0", "A01", version, OK, "OK", (ident.serial_number, ident.model, ident.firmware, ident.mac)
    )


def parse_identity(resp: Response) -> TerminalInfo:
    return TerminalInfo(model=resp.field(1), serial_number=resp.field(0), firmware=resp.field(2))


def batch_response(
    code: str, text: str, batch: str, count: int, total_cents: int, version: str = DEFAULT_VERSION
) -> Response:
    """B01: host group · count · total · time · TID · MID [R]; batch number in the host group [I]."""
    host = join_group(["00" if code == OK else "", text, "", "", "", batch])
    return Response("0", "B01", version, code, text, (host, str(count), str(total_cents)))


def parse_batch(resp: Response) -> BatchClosed | TerminalError:
    """B01. The result code decides whether the batch closed [R]; a count or total that cannot be
    read does not undo that: the figures are then reported as not known."""
    if resp.result_code != OK:
        return error_from(None, resp)
    count, total = resp.field(1), resp.field(2)
    known = count.isdigit() and (total.isdigit() or (total[:1] == "-" and total[1:].isdigit()))
    return BatchClosed(
        batch_number=group_item(resp.field(0), 5),
        count=int(count) if known else 0,
        total_cents=int(total) if known else 0,
        totals_known=known,
    )


def detail_response(
    record: TxnRecord | None,
    orig_code: str = OK,
    version: str = DEFAULT_VERSION,
    *,
    ecr_ref: str = "",
    code: str = NOT_FOUND,
    text: str = "NOT FOUND",
) -> Response:
    """R03: total records · record number · the stored transaction (T01 layout) [R fields, I order];
    the record's own result code travels as ``ORIGRESULT`` in its extra data [I]."""
    if record is None:
        # the queried reference is echoed in the trace group's place [I], so a late reply to an
        # earlier query can never pass for this one
        trace = join_group(["", ecr_ref])
        return Response("0", "R03", version, code, text, ("0", "", "", "", "", "", trace))
    ext = {**record.ext, ORIGRESULT: orig_code}
    rec = TxnRecord(**{**record.__dict__, "ext": ext})
    return Response("0", "R03", version, OK, "OK", ("1", "0", *rec.fields()))


def reply_ecr_ref(resp: Response) -> str:
    """The ECR reference a reply carries (T01/T13 trace group; R03 record's trace group)."""
    if resp.command == "R03":
        return group_item(resp.field(6), 1)
    if resp.command in ("T01", "T13"):
        return group_item(resp.field(4), 1)
    return ""


# --------------------------------------------------------------------------- reply → result


def error_from(ecr_ref: str | None, resp: Response) -> TerminalError:
    meaning = RESULT_MEANING.get(resp.result_code, "the terminal reported an error")
    text = f" ({resp.result_text})" if resp.result_text else ""
    return TerminalError(ecr_ref, resp.result_code, f"{meaning}{text}")


def result_from(
    resp: Response,
    *,
    ecr_ref: str,
    requested_cents: int,
    record: TxnRecord | None = None,
    code: str | None = None,
    token_used: bool = False,
    ach: bool = False,
) -> Approved | Declined | Cancelled | TerminalError:
    """Map a final T01/T13 reply (or an R03 record) to the typed result.

    An approval is reported only as the terminal stated it: its approved amount must be present
    and readable, no more than was asked, consistent with the amount due of a partial approval,
    and its host response (when sent) an approval. Anything else raises :class:`MessageError`,
    which the caller reports as *unknown*.
    """
    code = code or resp.result_code
    if code in APPROVED_CODES:
        rec = record or parse_txn(resp.fields)
        approved = _approved_cents(rec, code, requested_cents)
        if ach:
            entry = EntryMethod.ACH
        elif token_used or (rec.ext.get(TOKEN) and rec.entry_mode == ""):
            entry = EntryMethod.TOKEN
        else:
            entry = ENTRY_MODES.get(rec.entry_mode, EntryMethod.UNKNOWN)
        brand = "ACH" if ach else CARD_TYPES.get(rec.card_type, rec.card_type)
        return Approved(
            ecr_ref=ecr_ref,
            approved_cents=approved,
            requested_cents=requested_cents if requested_cents else approved,
            auth_code=rec.auth_code,
            host_ref=rec.ext.get(HREF) or rec.host_ref,
            terminal_ref=rec.terminal_ref,
            brand=brand,
            last4=rec.last4,
            entry_method=entry,
            token=rec.ext.get(TOKEN) or None,
            card_expiry=rec.expiry or None if rec.ext.get(TOKEN) else None,
            batch_number=rec.batch,
        )
    if code == DECLINED:
        rec = record or parse_txn(resp.fields)
        return Declined(ecr_ref, rec.host_code, rec.host_message or resp.result_text)
    if code == ABORTED:
        return Cancelled(ecr_ref, "cancelled at the terminal")
    if code == TIMED_OUT:
        return Cancelled(ecr_ref, "the cardholder did not present a card in time")
    return error_from(ecr_ref, resp)


def _approved_cents(rec: TxnRecord, code: str, requested: int) -> int:
    host_ok = APPROVED_HOST_CODES | (PARTIAL_HOST_CODES if code == PARTIAL else set())
    if rec.host_code and rec.host_code not in host_ok:
        raise MessageError(
            f"result {code} says approved but the host answered {rec.host_code} "
            f"{rec.host_message}".rstrip()
        )
    approved = rec.approved_cents
    if approved is None:
        if requested == 0:
            return 0  # a void names no amount of its own
        raise MessageError("the approved amount is missing or unreadable")
    if requested and approved > requested:
        raise MessageError(f"approved {approved} cents, more than the {requested} asked")
    if code == PARTIAL:
        if rec.amount_due_text and rec.amount_due_cents is None:
            raise MessageError(f"the amount due {rec.amount_due_text!r} is unreadable")
        due = rec.amount_due_cents
        if requested and due is not None and approved + due != requested:
            raise MessageError(
                f"partial approval of {approved} with {due} due does not add up to {requested}"
            )
    return approved


def status_from(
    resp: Response, ecr_ref: str
) -> Approved | Declined | Cancelled | NotFound | TerminalError:
    """Map an R03 reply to a status result, from the record's documented fields.

    The host response code decides [R]: an approval code with a readable approved amount is
    approved; any other host code is declined (``10``, a partial approval by ISO 8583 [I], is not
    read either way); no host response at all is not known, unless the record's own result
    (``ORIGRESULT``, inferred [I]) says it was cancelled. That inferred field can only move the
    answer away from "approved": when it contradicts the host code the record is not known.
    Raises :class:`MessageError` for what cannot be read; the caller reports it as unknown.
    """
    if resp.result_code == NOT_FOUND:
        return NotFound(ecr_ref)
    if resp.result_code != OK:
        return error_from(ecr_ref, resp)
    record = parse_txn(resp.fields[2:])
    orig = record.ext.get(ORIGRESULT)
    host = record.host_code
    if host in APPROVED_HOST_CODES:
        if orig is not None and orig not in APPROVED_CODES:
            raise MessageError(f"the record's host code {host} contradicts its result {orig}")
        if record.amount_due_text and record.amount_due_cents is None:
            raise MessageError(f"the amount due {record.amount_due_text!r} is unreadable")
        if record.approved_cents is None:
            raise MessageError("the record's approved amount is missing or unreadable")
        due = record.amount_due_cents or 0
        code = PARTIAL if due else OK
        return result_from(
            resp,
            ecr_ref=ecr_ref,
            requested_cents=record.approved_cents + due,
            record=record,
            code=code,
        )
    if not host:
        if orig in (ABORTED, TIMED_OUT):
            return result_from(resp, ecr_ref=ecr_ref, requested_cents=0, record=record, code=orig)
        raise MessageError("the record carries no host response")
    if host in PARTIAL_HOST_CODES:
        raise MessageError(f"the record's host code {host} is not read as approved or declined")
    if orig is not None and orig in APPROVED_CODES:
        raise MessageError(f"the record's host code {host} contradicts its result {orig}")
    return Declined(ecr_ref, host, record.host_message or "declined")
