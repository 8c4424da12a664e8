"""A hostile SPIn server for the property tests, written from the SPIn notes
(``../shared/reference/dejavoo-spin.md``) alone: it imports nothing from ``drivers`` — not the
codec, not the simulator — and parses and writes its own HTTP and JSON.

Each Sale follows a :class:`Plan`: busy answers first, then a reply that may approve, partially
approve, decline, cancel, say duplicate, time out (2007), drop the connection, hang, send garbage,
cut the body short, answer for another reference, carry an odd amount or an odd ResultCode. Its
books (``books``) are the truth the invariants check against: what it approved, for which
reference and amount; Status answers from them, honestly (after optional busy answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

TPN = "HOSTILE00001"
KEY = "H0stileK3y"


@dataclass(frozen=True)
class Plan:
    busy: int = 0  # 2008 answers before the real one
    delay: str = "0.01"  # DelayBeforeNextRequest as written ("", "abc", "-1" …)
    outcome: str = "approve"  # approve | partial | decline | cancel | none (nothing happens)
    reply: str = (
        "normal"  # normal | duplicate | timeout | drop | hang | garbage | cut | http500 | empty
    )
    ref: str = "own"  # own | other | missing
    amount: str = "exact"  # exact | more | fraction | text | missing | float
    result_code: str = "0"  # "0" | "Ok" | "int" | "1" (contradicting)
    host_code: str = "00"
    duplicate_keys: bool = False
    status_busy: int = 0  # 2008 answers to each Status
    #: what a reply naming another (or no) reference says happened: another transaction's words
    says: str = ""  # "" (the books' truth) | approved | declined | cancelled


@dataclass
class Book:
    kind: str  # approved | declined | cancelled
    cents: int


@dataclass
class HostileSpin:
    plans: list[Plan] = field(default_factory=list)
    books: dict[str, Book] = field(default_factory=dict)
    #: (ref, cents) of every approval this server made
    approvals: list[tuple[str, int]] = field(default_factory=list)
    #: Sale requests per ref that arrived after one was answered other than "busy" (must be 0)
    resent: Counter[str] = field(default_factory=Counter)
    #: Sale requests per ref that were taken into processing (must be ≤ 1)
    processed: Counter[str] = field(default_factory=Counter)
    _answered: set[str] = field(default_factory=set)
    _busy_left: dict[str, int] = field(default_factory=dict)
    _plan_of: dict[str, Plan] = field(default_factory=dict)
    _status_busy: dict[str, int] = field(default_factory=dict)
    _requested: dict[str, int] = field(default_factory=dict)
    #: originals this server voided (a Void names the original's ReferenceId)
    voided: set[str] = field(default_factory=set)
    _void_plans: dict[str, Plan] = field(default_factory=dict)
    _void_busy: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ replies

    @staticmethod
    def _json(obj: dict[str, object]) -> bytes:
        return json.dumps(obj).encode()

    def _general(self, result: object, code: str, **extra: object) -> dict[str, object]:
        return {"ResultCode": result, "StatusCode": code, "Message": "hostile", **extra}

    def _busy(self, delay: str) -> tuple[int, bytes]:
        general = self._general("2", "2008")
        if delay:
            general["DelayBeforeNextRequest"] = delay
        return 200, self._json({"GeneralResponse": general})

    def _record(self, ref: str, book: Book, plan: Plan, requested: int) -> bytes:
        if plan.says and plan.ref != "own":
            book = Book(plan.says, requested if plan.says == "approved" else 0)
        code = {"approved": "0000", "declined": "1015", "cancelled": "1012"}[book.kind]
        if book.kind == "approved" and book.cents < requested:
            code = "0001"
        result: object = "0" if code in ("0000", "0001") else "1"
        if plan.result_code == "Ok" and result == "0":
            result = "Ok"
        elif plan.result_code == "int":
            result = int(str(result))
        elif plan.result_code == "1":
            result = "1" if result == "0" else "0"  # contradicts the status code
        general = self._general(result, code, HostResponseCode=plan.host_code)
        body: dict[str, object] = {
            "GeneralResponse": general,
            "TransactionType": "Sale",
            "Voided": ref in self.voided,
        }
        if plan.ref == "own":
            body["ReferenceId"] = ref
        elif plan.ref == "other":
            body["ReferenceId"] = "ZZOTHER0001"
        if book.kind == "approved":
            amount: object = {
                "exact": f"{book.cents // 100}.{book.cents % 100:02d}",
                "more": f"{(book.cents + 100) // 100}.{(book.cents + 100) % 100:02d}",
                "fraction": f"{book.cents // 100}.{book.cents % 100:02d}5",
                "text": "twelve dollars",
                "float": book.cents / 100 + 0.001,
            }.get(plan.amount)
            if amount is not None:
                body["Amounts"] = {"Amount": amount}
            body["AuthCode"] = f"H{len(self.approvals):05d}"
            body["CardData"] = {"CardType": "Visa", "Last4": "1111", "EntryType": "Chip"}
        text = json.dumps(body)
        if plan.duplicate_keys:
            text = text[:-1] + ', "ReferenceId": "ZZOTHER0002"}'
        if plan.amount in ("exact", "more", "fraction"):
            # dollars go out as JSON numbers, as the proxy writes them
            text = re.sub(r'"Amount": "([0-9.]+)"', r'"Amount": \1', text)
        return text.encode()

    # ------------------------------------------------------------------ handling

    async def handle(self, path: str, body: bytes) -> tuple[int | str, bytes] | str:
        """(status, body); ("cut", body): half of it sent under the whole one's length; or
        "drop" / "hang"."""
        try:
            data = json.loads(body)
        except ValueError:
            return 200, self._json({"GeneralResponse": self._general("2", "2006")})
        ref = str(data.get("ReferenceId", ""))
        if data.get("Authkey") != KEY or data.get("Tpn") != TPN:
            return 200, self._json({"GeneralResponse": self._general("2", "2002")})
        if path.endswith("/Status"):
            left = self._status_busy.get(ref, 0)
            if left > 0:
                self._status_busy[ref] = left - 1
                return self._busy("0.01")
            book = self.books.get(ref)
            if book is None:
                return 200, self._json({"GeneralResponse": self._general("1", "1001")})
            honest = Plan(status_busy=0)
            return 200, self._record(ref, book, honest, self._requested.get(ref, book.cents))
        if path.endswith("/Void"):
            return self._void(ref, data)
        if not path.endswith(("/Sale", "/Return")):
            return 404, b"{}"
        if ref in self._answered:
            self.resent[ref] += 1
        if ref not in self._plan_of:
            plan = self.plans.pop(0) if self.plans else Plan()
            self._plan_of[ref] = plan
            self._busy_left[ref] = plan.busy
            self._status_busy[ref] = plan.status_busy
        plan = self._plan_of[ref]
        if self._busy_left[ref] > 0:
            self._busy_left[ref] -= 1
            return self._busy(plan.delay)
        self._answered.add(ref)
        try:
            requested = _cents(str(data["Amount"]))
        except (KeyError, ValueError):
            return 200, self._json({"GeneralResponse": self._general("1", "1007")})
        self._requested[ref] = requested
        if ref in self.books:  # a second processing of one reference: refused as the spec says
            return 200, self._json(
                {"GeneralResponse": self._general("1", "1011"), "ReferenceId": ref}
            )
        self.processed[ref] += 1
        if plan.outcome != "none":
            cents = requested // 2 if plan.outcome == "partial" else requested
            kind = {"approve": "approved", "partial": "approved", "decline": "declined"}.get(
                plan.outcome, "cancelled"
            )
            self.books[ref] = Book(kind, cents if kind == "approved" else 0)
            if kind == "approved":
                self.approvals.append((ref, cents))
        if plan.reply in ("drop", "hang"):
            return plan.reply
        if plan.reply == "timeout":
            return 200, self._json({"GeneralResponse": self._general("2", "2007")})
        if plan.reply == "duplicate":
            return 200, self._json(
                {"GeneralResponse": self._general("1", "1011"), "ReferenceId": ref}
            )
        if plan.reply == "garbage":
            return 200, b"<html>proxy error</html>"
        if plan.reply == "http500":
            return 500, b""
        if plan.reply == "empty":
            return 200, b""
        lying = bool(plan.says) and plan.ref != "own"
        if plan.outcome == "none" and not lying:
            return 200, self._json({"GeneralResponse": self._general("1", "1999")})
        text = self._record(ref, self.books.get(ref, Book("cancelled", 0)), plan, requested)
        if plan.reply == "cut":
            return "cut", text
        return 200, text

    def _void(self, ref: str, data: dict[str, object]) -> tuple[int | str, bytes] | str:
        """A Void of ``ref`` (the original): its own plan; busy first; then it voids (or not) and
        answers as the plan says."""
        if ref not in self._void_plans:
            self._void_plans[ref] = self.plans.pop(0) if self.plans else Plan()
            self._void_busy[ref] = self._void_plans[ref].busy
        plan = self._void_plans[ref]
        if self._void_busy[ref] > 0:
            self._void_busy[ref] -= 1
            return self._busy(plan.delay)
        book = self.books.get(ref)
        if book is None or book.kind != "approved" or ref in self.voided:
            return 200, self._json({"GeneralResponse": self._general("1", "1004")})
        if _cents(str(data.get("Amount", "x"))) != book.cents:
            return 200, self._json({"GeneralResponse": self._general("1", "1013")})
        if plan.outcome in ("approve", "partial"):
            self.voided.add(ref)
        if plan.reply in ("drop", "hang"):
            return plan.reply
        if plan.reply == "timeout":
            return 200, self._json({"GeneralResponse": self._general("2", "2007")})
        if plan.reply in ("garbage", "empty", "http500"):
            return (500 if plan.reply == "http500" else 200), b"<html>oops</html>"
        if ref not in self.voided:
            return 200, self._json({"GeneralResponse": self._general("1", "1004")})
        text = self._record(ref, book, plan, book.cents)
        return ("cut", text) if plan.reply == "cut" else (200, text)


def _cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or len(frac) > 2 or (frac and not frac.isdigit()):
        raise ValueError(text)
    return int(whole) * 100 + int((frac + "00")[:2])


async def _serve_one(
    server: HostileSpin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _method, target, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = await reader.readexactly(length)
        answer = await server.handle(target.split("?")[0], body)
        if answer == "drop":
            writer.transport.abort()
            return
        if answer == "hang":
            await reader.read()
            return
        assert isinstance(answer, tuple)
        status, payload = answer
        declared = len(payload)
        if status == "cut":  # the connection closes half-way through the body
            status, payload = 200, payload[: len(payload) // 2]
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {declared}"
            f"\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def hostile_spin(server: HostileSpin) -> AsyncIterator[str]:
    """Serve ``server`` on loopback; yields the driver URL (spin+http://127.0.0.1:PORT?tpn=…)."""
    srv = await asyncio.start_server(
        lambda r, w: _serve_one(server, r, w), "127.0.0.1", 0, reuse_address=True
    )
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"spin+http://127.0.0.1:{port}?tpn={TPN}"
    finally:
        srv.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(srv.wait_closed(), 1)
