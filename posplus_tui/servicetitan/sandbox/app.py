"""The sandbox as a plain ASGI app: the token endpoint plus the v2 tenant routes the app uses.

Order of checks for an API call: route → injected faults → auth (token, app key, tenant) →
per-(app key, tenant) rate limit → the operation. Error bodies differ by source, as in real life:
``ApiErrorResponse`` for 400/404/409 from the API, gateway shapes for 401/403/429/5xx.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from posplus_tui.servicetitan import jsonwire
from posplus_tui.servicetitan.sandbox import wire
from posplus_tui.servicetitan.sandbox.faults import Faults
from posplus_tui.servicetitan.sandbox.scopes import ALL_SCOPES, scope_for
from posplus_tui.servicetitan.sandbox.store import ApiProblem, Store, bad_request, parse_ids

__all__ = ["Exchange", "ReplyDropped", "SandboxApp", "Stats"]

# The ASGI shapes as httpx's transport types them (mappings, not only dicts).
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_TENANT_PATH = re.compile(r"^/(?P<module>[a-z]+)/v2/tenant/(?P<tenant>[^/]+)/(?P<rest>.+?)/?$")
JSON = "application/json; charset=utf-8"
#: Trainer controls for a served sandbox (not part of ServiceTitan's API; needs the app key).
ADMIN_PREFIX = "/_sandbox/"


class ReplyDropped(Exception):
    """Raised after the work is done to cut the connection before the reply (commit-then-drop)."""


@dataclass
class Exchange:
    """One request/response pair, for the contract test's recorder."""

    method: str
    path: str
    query: dict[str, list[str]]
    request_body: Any
    status: int
    content_type: str
    body: bytes
    route: str | None


@dataclass
class Stats:
    token_requests: int = 0
    token_in_flight: int = 0
    max_token_in_flight: int = 0
    api_calls: int = 0
    rate_limited: int = 0
    payments_created: int = 0
    by_route: dict[str, int] = field(default_factory=dict)


@dataclass
class _Token:
    expires_at: float
    generation: int


class _Bucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 if allowed, else seconds until one call is allowed."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


Handler = Callable[["_Call"], Any]


@dataclass
class _Call:
    method: str
    module: str
    rest: str
    query: dict[str, list[str]]
    body: Any
    match: re.Match[str]

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


class SandboxApp:
    """ASGI callable. ``clock`` is wall time (token expiry, new records); tests may replace it."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        *,
        token_ttl: int = 900,
        rate_per_second: float | None = 60.0,
        token_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        self.store = store
        #: Seconds added before every response, as a wide-area network adds them (the real API
        #: is tens of milliseconds away; loopback is microseconds): ``--latency-ms``.
        self.latency = latency
        self.faults = faults
        self.token_ttl = token_ttl
        self.rate_per_second = rate_per_second
        self.token_delay = token_delay
        self.clock = clock
        self.stats = Stats()
        self.recorder: Callable[[Exchange], None] | None = None
        self.export_page_size = 1000
        self._tokens: dict[str, _Token] = {}
        self._buckets: dict[tuple[str, int], _Bucket] = {}
        self._lock = threading.Lock()
        seed = store.seed
        self.tenant_id = seed.tenant_id
        self.client_id = seed.client_id
        self.client_secret = seed.client_secret
        self.app_key = seed.app_key
        self._routes: list[tuple[str, str, re.Pattern[str], Handler, str]] = []
        r = self._route
        r("GET", "accounting", r"invoices", self._get_invoices)
        r("POST", "accounting", r"invoices", self._post_invoice)
        r("GET", "accounting", r"payments", self._get_payments)
        r("POST", "accounting", r"payments", self._post_payment)
        r("PATCH", "accounting", r"payments/(?P<id>\d+)", self._patch_payment)
        r("GET", "accounting", r"payment-types", self._get_payment_types)
        r("GET", "accounting", r"payment-types/(?P<id>\d+)", self._get_payment_type)
        r("GET", "accounting", r"export/invoices", self._export_invoices)
        r("GET", "accounting", r"export/payments", self._export_payments)
        r("GET", "crm", r"customers", self._get_customers)
        r("GET", "crm", r"customers/(?P<id>\d+)", self._get_customer)
        r("GET", "crm", r"customers/(?P<id>\d+)/contacts", self._get_contacts)
        r("GET", "crm", r"locations", self._get_locations)
        r("GET", "crm", r"locations/(?P<id>\d+)", self._get_location)
        r("GET", "jpm", r"jobs", self._get_jobs)
        r("GET", "jpm", r"jobs/(?P<id>\d+)", self._get_job)
        r("GET", "settings", r"employees", self._get_employees)
        r("GET", "settings", r"employees/(?P<id>\d+)", self._get_employee)
        r("GET", "settings", r"technicians", self._get_technicians)
        r("GET", "settings", r"technicians/(?P<id>\d+)", self._get_technician)

    def _route(self, method: str, module: str, pattern: str, handler: Handler) -> None:
        shown = re.sub(r"\(\?P<id>[^)]*\)", "{id}", pattern)
        name = f"{method} /{module}/v2/tenant/{{tenant}}/{shown}"
        self._routes.append((method, module, re.compile(f"^{pattern}$"), handler, name))

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        path = scope["path"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        status, ctype, body, extra, route, parsed = await self._dispatch(
            method, path, query, headers, raw
        )
        if self.recorder is not None:
            self.recorder(Exchange(method, path, query, parsed, status, ctype, body, route))
        drop = extra.pop("x-sandbox-drop", None) is not None
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        out_headers = [
            (b"content-type", ctype.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        out_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        if drop:
            raise ReplyDropped("commit-then-drop: the reply was cut off on purpose")
        await send({"type": "http.response.body", "body": body})

    async def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        raw: bytes,
    ) -> tuple[int, str, bytes, dict[str, str], str | None, Any]:  # fmt: skip
        if path.rstrip("/") == "/connect/token":
            if method != "POST":
                return 405, "text/plain", b"Method Not Allowed", {}, None, None
            status, body = await self._token(raw, headers)
            return status, JSON, jsonwire.dumps(body), {"cache-control": "no-store"}, "token", None
        if path.startswith(ADMIN_PREFIX):
            status, body = self._admin(method, path, headers, raw)
            return status, JSON, jsonwire.dumps(body), {}, "admin", None
        m = _TENANT_PATH.match(path)
        if not m:
            return 404, "text/plain", b"Not Found", {}, None, None
        module, tenant_text, rest = m["module"], m["tenant"], m["rest"]
        found = None
        for r_method, r_module, pattern, handler, name in self._routes:
            if r_module != module:
                continue
            rm = pattern.match(rest)
            if rm and r_method == method:
                found = (handler, name, rm)
                break
        if found is None or (
            name_is(found, "POST /accounting/v2/tenant/{tenant}/payments")
            and not self.faults.payments_post_enabled
        ):
            status = 404
            if found is not None:
                status = self.faults.payments_post_off_status
            return (
                status,
                "text/plain",
                b"Not Found" if status == 404 else b"Method Not Allowed",
                {},
                None,
                None,
            )
        handler, route, rm = found
        self.stats.api_calls += 1
        self.stats.by_route[route] = self.stats.by_route.get(route, 0) + 1
        fault = self.faults.take(method, path)
        drop = False
        if fault is not None:
            if fault.kind == "status":
                return self._fault_reply(fault.status, fault.retry_after, route)
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            if fault.kind in ("drop", "commit"):
                drop = True
        denied = self._check_auth(headers, tenant_text) or self._check_scope(method, module, rest)
        wait = 0.0 if denied is not None else self._throttle(
            headers.get("st-app-key", ""), int(tenant_text)
        )  # fmt: skip
        if drop and fault is not None and (denied is not None or wait):
            self.faults.give_back(fault)  # refused before any work: keep the drop for later
        if denied is not None:
            return (*denied, route, None)
        if wait:
            self.stats.rate_limited += 1
            return (
                429, "text/plain; charset=utf-8",
                b"Rate limit is exceeded. Try again later.",
                {"retry-after": str(max(1, int(wait + 0.999)))}, route, None,
            )  # fmt: skip
        parsed: Any = None
        try:
            if raw:
                try:
                    parsed = jsonwire.loads(raw)
                except ValueError as exc:
                    raise bad_request("request", "The request body is not valid JSON.") from exc
            elif method in ("POST", "PATCH"):
                raise bad_request("request", "A request body is required.")
            call = _Call(method, module, rest, query, parsed, rm)
            with self.store.lock:  # the served sandbox runs in its own thread
                status, body = 200, handler(call)
        except ApiProblem as exc:
            status, body = exc.status, _problem(exc)
        extra: dict[str, str] = {}
        if drop and fault is not None and status >= 300:
            self.faults.give_back(fault)  # nothing was saved: keep the fault for a later call
        elif drop and fault is not None and fault.kind == "commit":
            return (*_committed_reply(fault), route, parsed)
        elif drop:
            extra["x-sandbox-drop"] = "1"
        return status, JSON, jsonwire.dumps(body), extra, route, parsed

    def _fault_reply(
        self, status: int, retry_after: str | None, route: str
    ) -> tuple[int, str, bytes, dict[str, str], str | None, Any]:
        extra = {"retry-after": retry_after} if retry_after is not None else {}
        if status == 429:
            self.stats.rate_limited += 1
            return (
                status,
                "text/plain; charset=utf-8",
                b"Rate limit is exceeded.",
                extra,
                route,
                None,
            )
        if status in (502, 503, 504):
            html = f"<html><head><title>{status}</title></head><body><h1>{status} Bad Gateway</h1></body></html>"
            return status, "text/html", html.encode(), extra, route, None
        if status in (400, 404, 409, 422):
            # A refusal before any work, in the API's documented error form (ApiErrorResponse):
            # the client may believe it ("nothing was done").
            body = jsonwire.dumps(
                {
                    "type": "https://httpstatuses.com/" + str(status),
                    "title": "The request was refused (fault injected by the sandbox).",
                    "status": status,
                    "traceId": "sandbox-fault",
                    "errors": {},
                }
            )
            return status, JSON, body, extra, route, None
        body = jsonwire.dumps({"message": "An error has occurred."})
        return status, JSON, body, extra, route, None

    # -- trainer controls -------------------------------------------------------------------------

    def _admin(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        """``GET /_sandbox/state`` and ``POST /_sandbox/faults`` for a sandbox in another
        process (``posplus sandbox fault``). Guarded by the sandbox's app key."""
        if headers.get("st-app-key") != self.app_key:
            return 403, {"message": "Send the sandbox's app key in ST-App-Key."}
        if method == "GET" and path == f"{ADMIN_PREFIX}state":
            return 200, {
                "faultsPending": self.faults.pending,
                "paymentsPostEnabled": self.faults.payments_post_enabled,
                "stats": {
                    "tokenRequests": self.stats.token_requests,
                    "apiCalls": self.stats.api_calls,
                    "rateLimited": self.stats.rate_limited,
                    "paymentsCreated": self.stats.payments_created,
                },
            }
        if method != "POST" or path != f"{ADMIN_PREFIX}faults":
            return 404, {"message": "Use GET /_sandbox/state or POST /_sandbox/faults."}
        try:
            order = jsonwire.loads(raw) if raw else {}
            return 200, {"applied": apply_fault(self.faults, order)}
        except (ValueError, TypeError, KeyError) as exc:
            return 400, {"message": str(exc)}

    # -- auth -----------------------------------------------------------------------------------

    async def _token(self, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.stats.token_requests += 1
            self.stats.token_in_flight += 1
            self.stats.max_token_in_flight = max(
                self.stats.max_token_in_flight, self.stats.token_in_flight
            )
        try:
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            form = {k: v[-1] for k, v in parse_qs(raw.decode("latin-1")).items()}
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            if (
                form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
            ):
                return 400, {"error": "invalid_client"}
            token = "sbx." + secrets.token_urlsafe(24)
            with self._lock:
                self._tokens[token] = _Token(
                    self.clock() + self.token_ttl, self.faults.token_generation
                )
            return 200, {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": " ".join(sorted(ALL_SCOPES - self.faults.revoked_scopes)),
            }
        finally:
            with self._lock:
                self.stats.token_in_flight -= 1

    def _check_auth(
        self, headers: dict[str, str], tenant_text: str
    ) -> tuple[int, str, bytes, dict[str, str]] | None:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return _gateway(
                401, "Authorization has been denied for this request.", "invalid_request"
            )
        token = self._tokens.get(auth[7:].strip())
        if token is None:
            return _gateway(401, "The access token is not valid.", "invalid_token")
        if token.expires_at <= self.clock() or token.generation != self.faults.token_generation:
            return _gateway(401, "The access token expired.", "invalid_token")
        app_key = headers.get("st-app-key")
        if not app_key:
            return 401, JSON, jsonwire.dumps({"message": "The ST-App-Key header is missing."}), {}
        if app_key != self.app_key:
            return 403, JSON, jsonwire.dumps({"message": "The ST-App-Key is not valid."}), {}
        if not tenant_text.isdigit() or int(tenant_text) != self.tenant_id:
            return (
                403, JSON,
                jsonwire.dumps({"message": f"The application has no access to tenant {tenant_text}."}),
                {},
            )  # fmt: skip
        return None

    def _check_scope(
        self, method: str, module: str, rest: str
    ) -> tuple[int, str, bytes, dict[str, str]] | None:
        """403 for a call whose scope the app was not granted. The reply's shape is inferred
        [I]: RFC 6750's ``insufficient_scope`` challenge naming the scope, in a gateway body."""
        needed = scope_for(method, module, rest)
        if not needed or needed not in self.faults.revoked_scopes:
            return None
        status, ctype, body, extra = _gateway(
            403, f"The application was not granted the scope {needed}.", "insufficient_scope"
        )
        extra["www-authenticate"] = f'Bearer error="insufficient_scope", scope="{needed}"'
        return status, ctype, body, extra

    def _throttle(self, app_key: str, tenant: int) -> float:
        if not self.rate_per_second:
            return 0.0
        with self._lock:
            bucket = self._buckets.get((app_key, tenant))
            if bucket is None or bucket.rate != self.rate_per_second:
                bucket = self._buckets[(app_key, tenant)] = _Bucket(self.rate_per_second)
            return bucket.take()

    # -- operations -----------------------------------------------------------------------------

    def _get_invoices(self, c: _Call) -> dict[str, Any]:
        rows = self.store.query_invoices(c.query)
        return _page(c, rows, self.store.invoice_wire)

    def _post_invoice(self, c: _Call) -> int:
        return self.store.create_adjustment(c.body)

    def _get_payments(self, c: _Call) -> dict[str, Any]:
        rows = self.store.query_payments(c.query)
        return _page(c, rows, self.store.payment_wire)

    def _post_payment(self, c: _Call) -> dict[str, Any]:
        p = self.store.create_payment(c.body)
        self.stats.payments_created += 1
        return wire.payment_response(p)

    def _patch_payment(self, c: _Call) -> dict[str, Any]:
        p = self.store.update_payment(int(c.match["id"]), c.body)
        return wire.payment_response(p)

    def _get_payment_types(self, c: _Call) -> dict[str, Any]:
        active = _active(c)
        ids = parse_ids(c.one("ids"))
        rows = [
            t for t in self.store.payment_types.values()
            if (active is None or t.active == active) and (ids is None or t.id in ids)
        ]  # fmt: skip
        rows.sort(key=lambda t: t.id)
        return _page(c, rows, wire.payment_type)

    def _get_payment_type(self, c: _Call) -> dict[str, Any]:
        t = self.store.payment_types.get(int(c.match["id"]))
        if t is None:
            raise ApiProblem(404, f"Payment type with id {c.match['id']} was not found.")
        return wire.payment_type(t)

    def _export(self, c: _Call, kind: str) -> dict[str, Any]:
        recent = (c.one("includeRecentChanges") or "").lower() == "true"
        rows, token, more = self.store.export(kind, c.one("from"), recent, self.export_page_size)
        if kind == "invoices":
            data = [self.store.invoice_wire(r, with_active=True) for r in rows]
        else:
            data = [self.store.payment_wire(r) for r in rows]
        return {"hasMore": more, "continueFrom": token, "data": data}

    def _export_invoices(self, c: _Call) -> dict[str, Any]:
        return self._export(c, "invoices")

    def _export_payments(self, c: _Call) -> dict[str, Any]:
        return self._export(c, "payments")

    def _get_customers(self, c: _Call) -> dict[str, Any]:
        ids = parse_ids(c.one("ids"))
        name = (c.one("name") or "").strip().lower()
        phone = "".join(ch for ch in (c.one("phone") or "") if ch.isdigit())
        active = _active(c)
        if (c.one("phone") or "").strip() and not phone:
            raise bad_request("phone", "A phone number needs digits.")
        src = (
            [self.store.customers[i] for i in sorted(set(ids)) if i in self.store.customers]
            if ids is not None
            else self.store.customer_list
        )
        rows = [
            cu for cu in src
            if (not name or name in cu.name.lower())
            and (not phone or phone in cu.phone_digits)
            and (active is None or cu.active == active)
        ]  # fmt: skip
        return _page(c, rows, self.store.customer_wire)

    def _get_customer(self, c: _Call) -> dict[str, Any]:
        cu = self.store.customers.get(int(c.match["id"]))
        if cu is None:
            raise ApiProblem(404, f"Customer with id {c.match['id']} was not found.")
        return self.store.customer_wire(cu)

    def _get_contacts(self, c: _Call) -> dict[str, Any]:
        cu = self.store.customers.get(int(c.match["id"]))
        if cu is None:
            raise ApiProblem(404, f"Customer with id {c.match['id']} was not found.")
        return _page(c, cu.contacts, wire.contact)

    def _get_locations(self, c: _Call) -> dict[str, Any]:
        ids = parse_ids(c.one("ids"))
        customer_id = c.one("customerId")
        if customer_id:
            cu = self.store.customers.get(int(customer_id)) if customer_id.isdigit() else None
            src = [self.store.locations[i] for i in cu.location_ids] if cu else []
        else:
            src = self.store.location_list
        rows = [loc for loc in src if ids is None or loc.id in ids]
        return _page(c, rows, wire.location)

    def _get_location(self, c: _Call) -> dict[str, Any]:
        loc = self.store.locations.get(int(c.match["id"]))
        if loc is None:
            raise ApiProblem(404, f"Location with id {c.match['id']} was not found.")
        return wire.location(loc)

    def _get_jobs(self, c: _Call) -> dict[str, Any]:
        ids = parse_ids(c.one("ids"))
        number = (c.one("number") or "").strip()
        customer_id = c.one("customerId")
        invoice_id = c.one("invoiceId")
        status = (c.one("jobStatus") or "").strip().lower()
        if number:
            src = [self.store.jobs[j] for j in self.store.jobs_by_number.get(number, [])]
        elif invoice_id:
            inv = self.store.invoices.get(int(invoice_id)) if invoice_id.isdigit() else None
            src = [self.store.jobs[inv.job_id]] if inv and inv.job_id in self.store.jobs else []
        else:
            src = self.store.job_list
        rows = [
            j for j in src
            if (ids is None or j.id in ids)
            and (not customer_id or str(j.customer_id) == customer_id)
            and (not status or j.status.lower() == status)
        ]  # fmt: skip
        return _page(c, rows, wire.job)

    def _get_job(self, c: _Call) -> dict[str, Any]:
        job = self.store.jobs.get(int(c.match["id"]))
        if job is None:
            raise ApiProblem(404, f"Job with id {c.match['id']} was not found.")
        return wire.job(job)

    def _people(
        self, c: _Call, rows: list[Any], fmt: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        active = _active(c)
        ids = parse_ids(c.one("ids"))
        name = (c.one("name") or "").lower()
        picked = [
            e for e in rows
            if (active is None or e.active == active)
            and (ids is None or e.id in ids)
            and (not name or name in e.name.lower())
        ]  # fmt: skip
        return _page(c, picked, fmt)

    def _get_employees(self, c: _Call) -> dict[str, Any]:
        return self._people(c, self.store.employees, wire.employee)

    def _get_technicians(self, c: _Call) -> dict[str, Any]:
        return self._people(c, self.store.technicians, wire.technician)

    def _get_employee(self, c: _Call) -> dict[str, Any]:
        return _by_id(self.store.employees, int(c.match["id"]), wire.employee, "Employee")

    def _get_technician(self, c: _Call) -> dict[str, Any]:
        return _by_id(self.store.technicians, int(c.match["id"]), wire.technician, "Technician")


def _by_id(
    rows: list[Any], wanted: int, fmt: Callable[[Any], dict[str, Any]], what: str
) -> dict[str, Any]:
    for row in rows:
        if row.id == wanted:
            return fmt(row)
    raise ApiProblem(404, f"{what} with id {wanted} was not found.")


def name_is(found: tuple[Handler, str, re.Match[str]], route: str) -> bool:
    return found[1] == route


def _active(c: _Call) -> bool | None:
    raw = (c.one("active") or "True").strip().lower()
    if raw not in ("true", "false", "any"):
        raise bad_request("active", "Use True, False or Any.")
    return None if raw == "any" else raw == "true"


def _page(c: _Call, rows: Any, fmt: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    page_raw, size_raw = c.one("page"), c.one("pageSize")
    try:
        page = int(page_raw) if page_raw else 1
        size = int(size_raw) if size_raw else 50
    except ValueError as exc:
        raise bad_request("page", "page and pageSize must be whole numbers.") from exc
    if page < 1:
        raise bad_request("page", "page starts at 1.")
    if not 1 <= size <= 5000:
        raise bad_request("pageSize", "pageSize must be between 1 and 5000.")
    start = (page - 1) * size
    chunk = rows[start : start + size]
    include_total = (c.one("includeTotal") or "").lower() == "true"
    return {
        "page": page,
        "pageSize": size,
        "hasMore": len(rows) > start + size,
        "totalCount": len(rows) if include_total else None,
        "data": [fmt(r) for r in chunk],
    }


def _problem(exc: ApiProblem) -> dict[str, Any]:
    kinds = {400: "6.5.1", 404: "6.5.4", 409: "6.5.8"}
    return {
        "type": f"https://tools.ietf.org/html/rfc7231#section-{kinds.get(exc.status, '6.5.1')}",
        "title": exc.title,
        "status": exc.status,
        "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
        "errors": exc.errors,
        "data": {},
    }


def _committed_reply(rule: Any) -> tuple[int, str, bytes, dict[str, str]]:
    """What a ``commit`` fault answers after the work was done."""
    if rule.reply == "empty":
        return rule.status, JSON, b"", {}
    if rule.reply == "malformed":
        return rule.status, JSON, b'{"id": 12', {}
    if rule.status in (502, 503, 504):
        page = f"<html><body><h1>{rule.status} Gateway error</h1></body></html>"
        return rule.status, "text/html", page.encode(), {}
    return rule.status, JSON, jsonwire.dumps({"message": "An error has occurred."}), {}


def _gateway(status: int, message: str, code: str) -> tuple[int, str, bytes, dict[str, str]]:
    body = jsonwire.dumps({"error": code, "error_description": message})
    return status, JSON, body, {"www-authenticate": f'Bearer error="{code}"'}


def apply_fault(faults: Faults, order: dict[str, Any]) -> str:
    """Apply one fault order (the JSON a trainer posts); returns what was done, in words."""
    kind = str(order.get("kind", ""))
    count = int(order.get("count", 1))
    match = {
        k: str(order[k]) for k in ("method", "path_contains") if order.get(k) not in (None, "")
    }
    if (
        kind.isdigit()
        and 100 <= int(kind) <= 599
        and kind not in ("429", "500", "502", "503", "504")
    ):
        faults.fail_next(count, int(kind), **match)
        return f"next {count} call(s) answer {kind}"
    if kind in ("commit-status", "commit-empty", "commit-malformed"):
        reply = kind.removeprefix("commit-")
        status = int(order.get("status") or (500 if reply == "status" else 200))
        faults.commit_then_reply(
            count,
            reply,  # type: ignore[arg-type]
            status=status,
            method=match.get("method", "POST"),
            path_contains=match.get("path_contains", "/payments"),
        )
        shown = {"status": f"HTTP {status}", "empty": f"an empty {status}",
                 "malformed": f"a malformed {status}"}[reply]  # fmt: skip
        return f"next {count} matching write(s) are saved, then answered with {shown}"
    if kind == "late-visibility":
        seconds = float(order.get("seconds", 5))
        faults.payments_visible_after(seconds)
        return f"new payments show in lists and exports {seconds:g}s after they are saved"
    if kind in ("429", "500", "502", "503", "504"):
        retry = order.get("retry_after")
        faults.fail_next(count, int(kind), retry_after=retry, **match)
        return f"next {count} call(s) answer {kind}"
    if kind == "slow":
        seconds = float(order.get("seconds", 5))
        faults.slow_next(count, seconds, **match)
        return f"next {count} call(s) wait {seconds:g}s"
    if kind == "drop":
        if match:
            faults.drop_next_reply(count, **match)
            return f"next {count} matching call(s) done, then the reply is cut"
        faults.drop_next_payment_reply(count)
        return f"next {count} payment post(s) saved, then the reply is cut"
    if kind == "post-off":
        faults.disable_payment_posting(int(order.get("status") or 404))
        return "POST /payments switched off"
    if kind == "post-on":
        faults.enable_payment_posting()
        return "POST /payments switched on"
    if kind == "revoke-scope":
        scope = str(order.get("scope", ""))
        faults.revoke_scope(scope)
        return f"calls needing {scope} now answer 403 (scope not granted)"
    if kind == "expire-tokens":
        faults.expire_tokens()
        return "every token issued so far now gets 401"
    if kind == "delete-invoice":
        invoice_id = int(order["invoice_id"])
        try:
            faults.delete_invoice(invoice_id)
        except KeyError:
            raise KeyError(f"no invoice with id {invoice_id}") from None
        return f"invoice {invoice_id} deleted"
    if kind == "clear":
        faults.clear()
        return "all faults cleared"
    raise ValueError(
        f"unknown fault {kind!r}: use an HTTP status (e.g. 408, 429, 500), slow, drop, "
        "commit-status, commit-empty, commit-malformed, late-visibility, post-off, post-on, "
        "revoke-scope, expire-tokens, delete-invoice or clear"
    )
