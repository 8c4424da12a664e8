"""The sandbox as a plain ASGI app: Stripe's ``/v1`` API (the operations of the subset), the
hosted payment page (``/b/…`` for links, ``/c/pay/…`` for sessions) and trainer controls under
``/_sandbox/`` (they need the secret key too).

Order for an API call: route → secret key → parameters → faults → idempotency → the operation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import string
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from gateways.stripe.sandbox import page
from gateways.stripe.sandbox.errors import StripeProblem
from gateways.stripe.sandbox.faults import Fault, Faults
from gateways.stripe.sandbox.forms import FormError, decode_form
from gateways.stripe.sandbox.store import API_VERSION, Store

__all__ = ["ReplyDropped", "StripeSandboxApp", "new_secret_key"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Json = dict[str, Any]
JSON_TYPE = b"application/json"
HTML_TYPE = b"text/html; charset=utf-8"
MAX_BODY = 256 * 1024


class ReplyDropped(Exception):
    """Raised after the work is done, to cut the connection mid-reply (``commit-drop``)."""


def new_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk_test_" + "".join(secrets.choice(alphabet) for _ in range(32))


@dataclass
class _Saved:
    """One idempotent result (Stripe keeps them ≥24 h; the sandbox for its lifetime)."""

    fingerprint: str
    endpoint: str
    status: int
    body: bytes
    request_id: str


_Op = Callable[[Store, dict[str, str], Json, Json], Json]

# (method, pattern, operation); every one is an operation of the OpenAPI subset.
_ROUTES: list[tuple[str, re.Pattern[str], str, _Op]] = [
    (m, re.compile(p), name, op)
    for m, p, name, op in [
        ("POST", r"^/v1/products$", "PostProducts", lambda s, a, p, r: s.create_product(p, r)),
        ("GET", r"^/v1/products/(?P<id>[^/]+)$", "GetProductsId", lambda s, a, p, r: s.get_product(a["id"])),
        ("POST", r"^/v1/prices$", "PostPrices", lambda s, a, p, r: s.create_price(p, r)),
        ("GET", r"^/v1/prices/(?P<id>[^/]+)$", "GetPricesPrice", lambda s, a, p, r: s.get_price(a["id"])),
        ("POST", r"^/v1/payment_links$", "PostPaymentLinks", lambda s, a, p, r: s.create_payment_link(p, r)),
        ("GET", r"^/v1/payment_links$", "GetPaymentLinks", lambda s, a, p, r: s.list_payment_links(p)),
        ("GET", r"^/v1/payment_links/(?P<id>[^/]+)$", "GetPaymentLinksPaymentLink", lambda s, a, p, r: s.get_payment_link(a["id"], p)),
        ("POST", r"^/v1/payment_links/(?P<id>[^/]+)$", "PostPaymentLinksPaymentLink", lambda s, a, p, r: s.update_payment_link(a["id"], p, r)),
        ("POST", r"^/v1/checkout/sessions$", "PostCheckoutSessions", lambda s, a, p, r: s.create_checkout_session(p, r)),
        ("GET", r"^/v1/checkout/sessions$", "GetCheckoutSessions", lambda s, a, p, r: s.list_checkout_sessions(p)),
        ("GET", r"^/v1/checkout/sessions/(?P<id>[^/]+)$", "GetCheckoutSessionsSession", lambda s, a, p, r: s.get_checkout_session(a["id"], p)),
        ("POST", r"^/v1/checkout/sessions/(?P<id>[^/]+)/expire$", "PostCheckoutSessionsSessionExpire", lambda s, a, p, r: s.expire_checkout_session(a["id"], r)),
        ("GET", r"^/v1/events$", "GetEvents", lambda s, a, p, r: s.list_events(p)),
        ("GET", r"^/v1/events/(?P<id>[^/]+)$", "GetEventsId", lambda s, a, p, r: s.get_event(a["id"])),
        ("GET", r"^/v1/payment_intents/(?P<id>[^/]+)$", "GetPaymentIntentsIntent", lambda s, a, p, r: s.get_payment_intent(a["id"], p)),
        ("POST", r"^/v1/refunds$", "PostRefunds", lambda s, a, p, r: s.create_refund(p, r)),
        ("GET", r"^/v1/refunds/(?P<id>[^/]+)$", "GetRefundsRefund", lambda s, a, p, r: s.get_refund(a["id"])),
    ]
]  # fmt: skip
OPERATIONS = tuple(name for _m, _p, name, _op in _ROUTES)


def _fingerprint(method: str, path: str, params: Json) -> str:
    return hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()


class StripeSandboxApp:
    """One sandbox account served over ASGI. ``secret_key`` is the only key it accepts."""

    def __init__(
        self, store: Store | None = None, *, secret_key: str | None = None, seed: int | None = None
    ) -> None:
        self.store = store or Store(seed=seed)
        self.secret_key = secret_key or new_secret_key()
        self.faults = Faults()
        self._saved: dict[str, _Saved] = {}
        self._in_flight: set[str] = set()
        self.calls: list[tuple[str, str]] = []  # (method, path) of every API call, for tests
        self.exchanges: list[tuple[str, str, Json, int, bytes]] | None = None  # contract recorder

    # ---------------------------------------------------------------- ASGI plumbing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = str(scope["method"]).upper()
        path = str(scope["path"])
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if len(body) > MAX_BODY:
                await self._send(send, 413, b"{}", JSON_TYPE)
                return
            if not msg.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        if path.startswith("/v1/"):
            await self._api(method, path, query, headers, body, send)
        elif path.startswith("/_sandbox/"):
            await self._admin(method, path, query, headers, body, send)
        elif path.startswith("/b/") or path.startswith("/c/pay/"):
            await self._page(method, path, body, send)
        else:
            await self._send(
                send,
                404,
                page.message_page("Not found", "There is no page here.").encode(),
                HTML_TYPE,
            )

    @staticmethod
    async def _send(
        send: Send,
        status: int,
        body: bytes,
        ctype: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
        headers += extra or []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _request_id(self) -> str:
        return self.store.new_id("req", 14)

    def _error(self, problem: StripeProblem, request_id: str) -> tuple[int, bytes]:
        return problem.status, json.dumps(problem.body(request_id), indent=2).encode()

    def _authorised(self, headers: dict[str, str]) -> StripeProblem | None:
        auth = headers.get("authorization", "")
        key = ""
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            try:
                key = base64.b64decode(auth[6:].strip()).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            return StripeProblem(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if not secrets.compare_digest(key, self.secret_key):
            shown = key[:8] + "*" * 8 + key[-4:] if len(key) > 12 else "****"
            return StripeProblem(401, f"Invalid API Key provided: {shown}")
        return None

    # ---------------------------------------------------------------- the API

    async def _api(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, send: Send
    ) -> None:
        request_id = self._request_id()
        base_headers = [
            (b"request-id", request_id.encode()),
            (b"stripe-version", headers.get("stripe-version", API_VERSION).encode()),
        ]
        route = next(
            (
                (m, rx.match(path), name, op)
                for m, rx, name, op in _ROUTES
                if rx.match(path) and m == method
            ),
            None,
        )
        if route is None:
            problem = StripeProblem(
                404,
                f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                "or we can help at https://support.stripe.com/.",
            )
            status, out = self._error(problem, request_id)
            await self._send(send, status, out, JSON_TYPE, base_headers)
            return
        _m, match, name, op = route
        assert match is not None
        self.calls.append((method, path))
        denied = self._authorised(headers)
        if denied is not None:
            status, out = self._error(denied, request_id)
            await self._send(send, status, out, JSON_TYPE, base_headers)
            return
        try:
            params = decode_form(query if method == "GET" else body.decode("utf-8"))
        except (FormError, UnicodeDecodeError) as exc:
            status, out = self._error(StripeProblem(400, str(exc)), request_id)
            await self._send(send, status, out, JSON_TYPE, base_headers)
            return

        fault = self.faults.take(method, path)
        if fault is not None and fault.kind == "status":
            problem = StripeProblem(
                fault.status,
                "An unknown error occurred (sandbox fault).",
                type="api_error" if fault.status >= 500 else "invalid_request_error",
            )
            status, out = self._error(problem, request_id)
            await self._send(send, status, out, JSON_TYPE, base_headers)
            return

        key = headers.get("idempotency-key") if method == "POST" else None
        fingerprint = _fingerprint(method, path, params)
        if key is not None:
            if len(key) > 255:
                status, out = self._error(
                    StripeProblem(400, "Idempotency keys may be at most 255 characters long.", type="idempotency_error"),
                    request_id,
                )  # fmt: skip
                await self._send(send, status, out, JSON_TYPE, base_headers)
                return
            saved = self._saved.get(key)
            if saved is not None:
                status, out = self._replay(saved, key, method, path, fingerprint, request_id)
                extra = [*base_headers, (b"idempotency-key", key.encode())]
                if status == saved.status and out is saved.body:
                    extra.append((b"idempotent-replayed", b"true"))
                await self._send(send, status, out, JSON_TYPE, extra)
                return
            if key in self._in_flight:
                problem = StripeProblem(
                    409,
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    "going through): " + key + ". Please try again later.",
                    type="idempotency_error",
                    code="idempotency_key_in_use",
                )
                status, out = self._error(problem, request_id)
                await self._send(send, status, out, JSON_TYPE, base_headers)
                return

        request_meta = {"id": request_id, "idempotency_key": key}
        if key is not None:
            self._in_flight.add(key)
        try:
            if fault is not None and fault.kind == "slow":  # slow while working: the key is busy
                await asyncio.sleep(fault.seconds)
                fault = None
            with self.store.lock:
                result = op(self.store, match.groupdict(), params, request_meta)
            status, out = 200, json.dumps(result, indent=2).encode()
            saved_ok = True
        except StripeProblem as problem:
            status, out = self._error(problem, request_id)
            saved_ok = False  # validation failures are not saved [T4]
        finally:
            if key is not None:
                self._in_flight.discard(key)

        if fault is not None and fault.kind == "commit-500" and status == 200:
            after = StripeProblem(
                500, "An unknown error occurred (sandbox fault, after saving).", type="api_error"
            )
            status, out = self._error(after, request_id)
        if key is not None and saved_ok:
            self._saved[key] = _Saved(fingerprint, f"{method} {path}", status, out, request_id)
        if self.exchanges is not None:
            self.exchanges.append((method, name, params, status, out))
        extra = [*base_headers] + ([(b"idempotency-key", key.encode())] if key else [])
        if fault is not None and fault.kind == "commit-empty":
            await self._send(send, 200, b"", JSON_TYPE, extra)
            return
        if fault is not None and fault.kind == "commit-truncated":
            await self._send(send, 200, out[: max(1, len(out) // 2)], JSON_TYPE, extra)
            return
        if fault is not None and fault.kind == "commit-drop":
            headers_out = [
                (b"content-type", JSON_TYPE),
                (b"content-length", str(len(out)).encode()),
                *extra,
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers_out})
            await send(
                {"type": "http.response.body", "body": out[: len(out) // 2], "more_body": True}
            )
            raise ReplyDropped("sandbox fault: reply cut after saving")
        await self._send(send, status, out, JSON_TYPE, extra)

    def _replay(
        self, saved: _Saved, key: str, method: str, path: str, fingerprint: str, request_id: str
    ) -> tuple[int, bytes]:
        if saved.endpoint != f"{method} {path}":
            problem = StripeProblem(
                400,
                f"Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{saved.endpoint}' vs '{method} {path}'). Try using a key other "
                f"than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
            return self._error(problem, request_id)
        if saved.fingerprint != fingerprint:
            problem = StripeProblem(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
            return self._error(problem, request_id)
        return saved.status, saved.body

    # ---------------------------------------------------------------- hosted page

    async def _page(self, method: str, path: str, body: bytes, send: Send) -> None:
        status, html = self.render_page(method, path, body)
        await self._send(
            send, status, html.encode(), HTML_TYPE,
            [(b"cache-control", b"no-store"), (b"x-frame-options", b"DENY")],
        )  # fmt: skip

    def render_page(self, method: str, path: str, body: bytes) -> tuple[int, str]:
        store = self.store
        with store.lock:
            if path.startswith("/b/"):
                link = store.link_for_token(path[3:])
                if link is None:
                    return 404, page.message_page(
                        "Link not found", "This payment link does not exist."
                    )
                refusal = store.link_refusal(link)
                if refusal is not None:
                    title = "Link already paid" if "already" in refusal else "Link no longer active"
                    return 410, page.message_page(title, refusal)
                if method != "GET":
                    return 405, page.message_page("Not allowed", "Open the link to pay.")
                return 200, page.checkout_form(store.session_for_link(link))
            cs_id = path[len("/c/pay/") :]
            found = store.session(cs_id)
            if found is None:
                return 404, page.message_page(
                    "Page not found", "This checkout page does not exist."
                )
            session = found
            if method == "GET":
                if session["status"] == "expired":
                    return 410, page.message_page("Page expired", "This checkout page has expired.")
                if session["status"] == "complete":
                    return 200, page.message_page(
                        "Payment complete", "This payment is already complete."
                    )
                return 200, page.checkout_form(session)
            if method != "POST":
                return 405, page.message_page("Not allowed", "Use the form to pay.")
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            outcome = store.attempt_payment(
                cs_id,
                form.get("card_number", ""),
                form.get("exp", ""),
                form.get("cvc", ""),
                form.get("name", "")[:100],
            )
            form.clear()  # the card number goes no further
            if outcome.approved:
                link = store.link(session["payment_link"] or "")
                custom = None
                if link is not None:
                    custom = link["after_completion"]["hosted_confirmation"]["custom_message"]
                return 200, page.paid_page(session, outcome.brand, outcome.last4, custom)
            link = store.link(session["payment_link"] or "")
            if session["status"] != "open" or (link is not None and store.link_refusal(link)):
                return 410, page.message_page("Payment not taken", outcome.message)
            return 402, page.checkout_form(session, outcome.message)

    # ---------------------------------------------------------------- trainer controls

    async def _admin(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, send: Send
    ) -> None:
        request_id = self._request_id()
        denied = self._authorised(headers)
        if denied is not None:
            status, out = self._error(denied, request_id)
            await self._send(send, status, out, JSON_TYPE)
            return
        try:
            params = decode_form(query if method == "GET" else body.decode("utf-8"))
            result = self.admin(method, path[len("/_sandbox/") :], params)
            status, out = 200, json.dumps(result, indent=2).encode()
        except (FormError, ValueError) as exc:
            status, out = self._error(StripeProblem(400, str(exc)), request_id)
        except StripeProblem as problem:
            status, out = self._error(problem, request_id)
        await self._send(send, status, out, JSON_TYPE)

    def admin(self, method: str, action: str, params: Json) -> Json:
        """Trainer controls (also used in-process by tests):

        ``POST faults`` (kind, count, seconds, status, method, path) · ``POST faults/clear`` ·
        ``GET state`` · ``GET refunds`` (every refund, oldest first) · ``POST late_events`` (seconds: events become listable that much later;
        0 turns it off) · ``POST clock`` (advance: seconds) ·
        ``POST payment_links/{id}/pay`` (outcome: approve | decline; no card number needed) ·
        ``POST refunds/pending`` (count: the next refunds start ``pending``) ·
        ``POST refunds/{id}/settle`` (outcome: succeeded | failed) ·
        ``POST payment_links/{id}/allow_another`` (lift the one-payment restriction and
        reactivate it: the provider bug that lets a link be paid twice)."""
        store = self.store
        if method == "GET" and action == "state":
            return self._state()
        if method == "GET" and action == "refunds":
            with store.lock:
                return {"data": store.refunds()}
        if method != "POST":
            raise ValueError(f"unknown sandbox control: {method} {action}")
        if action == "faults":
            self.faults.add(
                Fault(
                    kind=str(params.get("kind", "")),
                    count=int(params.get("count", 1)),
                    seconds=float(params.get("seconds", 5.0)),
                    status=int(params.get("status", 500)),
                    method=params.get("method") or None,
                    path=params.get("path") or None,
                )
            )
            return self._state()
        if action == "faults/clear":
            self.faults.clear()
            store.late_events_seconds = 0.0
            return self._state()
        if action == "late_events":
            store.late_events_seconds = max(0.0, float(params.get("seconds", 0)))
            return self._state()
        if action == "clock":
            store.offset += float(params.get("advance", 0))
            return self._state()
        if action == "refunds/pending":
            with store.lock:
                store.pending_refunds = max(0, int(params.get("count", 1)))
            return self._state()
        m = re.fullmatch(r"refunds/([^/]+)/settle", action)
        if m:
            with store.lock:
                return store.settle_refund(m.group(1), str(params.get("outcome", "")))
        m = re.fullmatch(r"payment_links/([^/]+)/allow_another", action)
        if m:
            with store.lock:
                link = store.link(m.group(1))
                if link is None:
                    raise StripeProblem(
                        404, f"No such payment_link: '{m.group(1)}'", code="resource_missing"
                    )
                link["restrictions"] = None
                link["active"] = True
            return self._state()
        m = re.fullmatch(r"payment_links/([^/]+)/pay", action)
        if m:
            outcome_name = params.get("outcome", "approve")
            if outcome_name not in ("approve", "decline"):
                raise ValueError("outcome must be approve or decline")
            with store.lock:
                link = store.link(m.group(1))
                if link is None:
                    raise StripeProblem(
                        404, f"No such payment_link: '{m.group(1)}'", code="resource_missing"
                    )
                session = store.session_for_link(link)
                card = "4242424242424242" if outcome_name == "approve" else "4000000000000002"
                outcome = store.attempt_payment(
                    session["id"], card, "12/40", "123", "Sandbox Payer"
                )
            return {
                "approved": outcome.approved,
                "message": outcome.message,
                "checkout_session": outcome.session_id,
                "payment_intent": outcome.payment_intent,
            }
        raise ValueError(f"unknown sandbox control: {method} {action}")

    def _state(self) -> Json:
        return {
            "faults": [f.__dict__ for f in self.faults.pending()],
            "late_events_seconds": self.store.late_events_seconds,
            "clock_offset": self.store.offset,
            "pending_refunds": self.store.pending_refunds,
        }
