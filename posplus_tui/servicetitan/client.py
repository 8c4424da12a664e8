"""The async ServiceTitan client: one connection pool, tokens, limits, retries, typed results.

Reads (GET) are retried on 5xx and timeouts with backoff. Writes (POST/PATCH) are never repeated
blindly: a write is certain only when its reply is complete and readable, or when the server gives
one of the documented "nothing was done" answers (:data:`NOTHING_DONE`). Anything else — a lost
reply, an empty or unreadable body, a 408, a 5xx, any other status — raises
:class:`OutcomeUnknown`, and the caller reads back (``list_payments`` for its marker) before
trying again. A 429 or a refused connection means nothing was done, so those are retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx

from posplus_tui.domain.money import Money
from posplus_tui.servicetitan import jsonwire
from posplus_tui.servicetitan.auth import TokenManager
from posplus_tui.servicetitan.environments import Environment, resolve
from posplus_tui.servicetitan.errors import (
    AppKeyRejected,
    AuthError,
    NotFoundError,
    OutcomeUnknown,
    PermissionDenied,
    ServerUnavailable,
    ServiceTitanError,
    error_from_response,
)
from posplus_tui.servicetitan.models import (
    Contact,
    Customer,
    Employee,
    ExportPage,
    Invoice,
    Job,
    Location,
    Payment,
    PaymentSplit,
    PaymentType,
    Technician,
)
from posplus_tui.servicetitan.ratelimit import RateLimiter, shared_limiter
from posplus_tui.servicetitan.retry import backoff_delay, parse_retry_after

__all__ = ["DEFAULT_RATE_PER_SECOND", "ServiceTitanClient"]

log = logging.getLogger(__name__)

#: ServiceTitan allows 60 requests/s per app per tenant.
DEFAULT_RATE_PER_SECOND = 60.0
#: The answers to a write that mean "nothing was done": the documented refusals (400/404/409 with
#: an ``ApiErrorResponse`` body, 422 likewise [I]) and the gateway's 401/403/429 (any body).
NOTHING_DONE = frozenset({400, 401, 403, 404, 409, 422, 429})
#: Of those, the ones that must carry the documented JSON error body to be believed: a bare 400
#: from something in between (a proxy, a load balancer) says nothing about the API's work.
NEEDS_ERROR_BODY = frozenset({400, 409, 422})
#: ``Retry-After: 0`` (or a date in the past) still waits this long: retrying at once only adds
#: to the load that caused the 429.
MIN_RETRY_AFTER = 0.25
#: ``ids`` filters take at most 50 ids.
MAX_IDS = 50
MAX_PAGE_SIZE = 5000

T = TypeVar("T")
SplitLike = PaymentSplit | tuple[int, Money]


def _iso(value: datetime | date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _fresh(err: ServiceTitanError) -> ServiceTitanError:
    """A 401 on a token issued for this very call: the sign-in worked, so name what else the
    call carries (the app key and the tenant id), not the client id and secret."""
    return PermissionDenied(
        "ServiceTitan refused a call made with a token it had just issued.",
        "The client id and secret were accepted. Check the App Key (developer.servicetitan.io "
        "→ My Apps → App Details) and the Tenant ID in Setup.",
        status=err.status,
        detail=err.detail,
        trace_id=err.trace_id,
    )


def _chunks(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


class ServiceTitanClient:
    """One tenant of the ServiceTitan v2 API. Use as ``async with ServiceTitanClient(...) as st``."""

    def __init__(
        self,
        environment: str,
        tenant_id: int | str,
        client_id: str,
        client_secret: str,
        app_key: str,
        *,
        base_url: str | None = None,
        auth_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_per_second: float | None = DEFAULT_RATE_PER_SECOND,
        rate_burst: float | None = None,
        timeout: float = 30.0,
        max_read_retries: int = 3,
        max_429_retries: int = 4,
        max_retry_after: float = 30.0,
        backoff_base: float = 0.25,
        backoff_cap: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = 500,
        page_concurrency: int = 4,
        limiter: Any = None,
        min_retry_after: float = MIN_RETRY_AFTER,
    ) -> None:
        try:
            self.tenant_id = int(tenant_id)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"The ServiceTitan Tenant ID must be a number, not “{tenant_id}”."
            ) from exc
        self.environment: Environment = resolve(environment, base_url, auth_url)
        self._app_key = app_key
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )
        self._tokens = TokenManager(
            self._http,
            self.environment.token_url,
            client_id,
            client_secret,
            clock=clock,
            timeout=timeout,
        )
        self._rate = (rate_per_second, rate_burst)
        #: A shared budget (e.g. the ledger's, shared by every station) replaces the local one.
        self._limiter: RateLimiter | None = limiter
        self.min_retry_after = min_retry_after
        self.max_read_retries = max_read_retries
        self.max_429_retries = max_429_retries
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.page_size = page_size
        #: Pages of one list fetched at once (1: one after another). Export feeds are always
        #: one after another: each page's token names the next.
        self.page_concurrency = max(1, page_concurrency)
        self._api = self.environment.api_base

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> ServiceTitanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def rate_per_second(self) -> float | None:
        """The configured request rate (None: not limited)."""
        return self._rate[0]

    @property
    def app_key_fingerprint(self) -> str:
        """Names the app without showing its key (a secret): a short SHA-256."""
        return hashlib.sha256(self._app_key.encode()).hexdigest()[:16]

    def share_budget(self, limiter: Any) -> None:
        """Spend a budget shared with other stations (anything with ``async acquire()``)
        instead of this process's own limiter."""
        self._limiter = limiter

    @property
    def token_requests(self) -> int:
        """How many token grants this client has made (for diagnostics and tests)."""
        return self._tokens.requests_made

    def url(self, module: str, resource: str) -> str:
        """``{api}/{module}/v2/tenant/{tenant}/{resource}``."""
        return f"{self._api}/{module}/v2/tenant/{self.tenant_id}/{resource.lstrip('/')}"

    # -- the one place requests go through --------------------------------------------------------

    async def request(
        self,
        method: str,
        module: str,
        resource: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        body: Any = None,
        operation: str = "",
    ) -> Any:
        """Send one call with auth, limits and the retry rules; return the decoded JSON body."""
        url = self.url(module, resource)
        safe_to_repeat = method == "GET"
        content = jsonwire.dumps(body) if body is not None else None
        headers_extra = {"Content-Type": "application/json"} if content is not None else {}
        clean_params = _clean_params(params)
        auth_retried = False
        tries_429 = 0
        tries_fail = 0
        what = operation or f"{method} {resource}"
        if not self._app_key.strip():
            # Every call needs ST-App-Key: without one, asking would only earn a 401 that reads
            # like a bad sign-in (and a second token to prove it).
            raise AppKeyRejected("No App Key is set, so ServiceTitan cannot be called.")
        if self._limiter is None:
            key = (self._api, self.tenant_id, self._app_key)
            self._limiter = shared_limiter(key, *self._rate)
        while True:
            await self._limiter.acquire()
            grants = self._tokens.requests_made
            token = await self._tokens.get()
            fresh = self._tokens.requests_made != grants
            headers = {
                "Authorization": f"Bearer {token}",
                "ST-App-Key": self._app_key,
                **headers_extra,
            }
            sent = time.perf_counter()
            try:
                resp = await self._http.request(
                    method, url, params=clean_params, content=content, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the server: safe to try again, even for a write.
                tries_fail += 1
                if tries_fail <= self.max_read_retries:
                    await self._backoff(tries_fail)
                    continue
                raise ServerUnavailable(
                    f"Could not connect to ServiceTitan to {what}.", detail=str(exc)
                ) from exc
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if not safe_to_repeat:
                    raise OutcomeUnknown(
                        f"ServiceTitan may or may not have done this: {what} (the reply was lost).",
                        operation=what,
                        detail=f"{type(exc).__name__}: {exc}",
                    ) from exc
                tries_fail += 1
                if tries_fail <= self.max_read_retries:
                    await self._backoff(tries_fail)
                    continue
                raise ServerUnavailable(
                    f"ServiceTitan did not answer in time to {what}.", detail=str(exc)
                ) from exc
            status = resp.status_code
            log.debug(
                "%s %s → %s in %.0f ms", method, resource, status,
                (time.perf_counter() - sent) * 1000,
            )  # fmt: skip
            if not safe_to_repeat and _outcome_unknown(status, resp.content):
                raise OutcomeUnknown(
                    _unknown_title(status, what, resp.content),
                    operation=what,
                    status=status,
                    detail=error_from_response(status, resp.content).detail,
                )
            if status < 300:
                if not resp.content:
                    return None
                try:
                    return jsonwire.loads(resp.content)
                except ValueError as exc:
                    if not safe_to_repeat:
                        raise OutcomeUnknown(
                            f"ServiceTitan's reply to {what} could not be read; it may or "
                            "may not have been saved.",
                            operation=what,
                            detail=resp.text[:200],
                        ) from exc
                    raise ServiceTitanError(
                        f"ServiceTitan sent a reply the app cannot read ({what}).",
                        detail=resp.text[:200],
                    ) from exc
            if status == 401:
                challenge = resp.headers.get("WWW-Authenticate")
                err = error_from_response(status, resp.content, operation=what, challenge=challenge)
                if fresh and isinstance(err, AuthError):
                    # A token issued a moment ago is not stale: the client id and secret were
                    # just accepted, so the refusal is about the call (the app key, the tenant).
                    raise _fresh(err)
                if auth_retried or not isinstance(err, AuthError):
                    raise err  # it named what it refused (app key, tenant, scope), or 2nd time
                auth_retried = True
                self._tokens.invalidate(token)
                continue
            if status == 429:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                tries_429 += 1
                if tries_429 <= self.max_429_retries and (wait or 0) <= self.max_retry_after:
                    pause = self._delay(tries_429) if wait is None else wait
                    await asyncio.sleep(max(pause, self.min_retry_after))
                    continue
                err = error_from_response(status, resp.content, operation=what, retry_after=wait)
                raise err
            if status >= 500:  # a read (a write's 5xx left the outcome open, above)
                tries_fail += 1
                if tries_fail <= self.max_read_retries:
                    await self._backoff(tries_fail, resp.headers.get("Retry-After"))
                    continue
            raise error_from_response(
                status,
                resp.content,
                operation=what,
                challenge=resp.headers.get("WWW-Authenticate"),
            )

    def _delay(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap)

    async def _backoff(self, attempt: int, retry_after: str | None = None) -> None:
        wait = parse_retry_after(retry_after)
        delay = self._delay(attempt)
        if wait is not None:
            delay = max(delay, min(wait, self.max_retry_after))
        await asyncio.sleep(delay)

    # -- pagination ------------------------------------------------------------------------------

    async def pages(
        self,
        module: str,
        resource: str,
        params: dict[str, Any] | None = None,
        *,
        page_size: int | None = None,
        operation: str = "",
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield each page's ``data`` list in order, following ``hasMore`` until the end.

        The first page asks for ``totalCount``; when it says more pages follow, up to
        ``page_concurrency`` of them are in flight at once (each still waits for the rate
        limiter, so the tenant's budget holds), and they are yielded in page order. Where a
        count is missing, or the list grew meanwhile, the rest is read one page at a time; a
        list that shrank ends at the first page that says there is no more."""
        size = max(1, min(MAX_PAGE_SIZE, page_size or self.page_size))

        async def fetch(page: int, *, total: bool = False) -> dict[str, Any]:
            query = dict(params or {})
            query["page"] = page
            query["pageSize"] = size
            if total:
                query["includeTotal"] = "true"
            body = await self.request("GET", module, resource, params=query, operation=operation)
            return body if isinstance(body, dict) else {}

        def check(body: dict[str, Any]) -> list[dict[str, Any]]:
            data = body.get("data") or []
            if body.get("hasMore") and not data:
                raise ServiceTitanError(
                    f"ServiceTitan said there were more results but sent none ({resource})."
                )
            return data

        first = await fetch(1, total=self.page_concurrency > 1)
        yield check(first)
        if not first.get("hasMore"):
            return
        page = 2
        total = first.get("totalCount")
        if isinstance(total, int) and not isinstance(total, bool) and total > size:
            last = -(-total // size)
            window: deque[asyncio.Task[dict[str, Any]]] = deque()
            try:
                while page <= last or window:
                    while page <= last and len(window) < self.page_concurrency:
                        window.append(asyncio.ensure_future(fetch(page)))
                        page += 1
                    body = await window.popleft()
                    yield check(body)
                    if not body.get("hasMore"):
                        return  # the list shrank: later pages would be empty
                page = last + 1  # the list grew past the count: go on one page at a time
            finally:
                for task in window:
                    task.cancel()
                if window:
                    await asyncio.gather(*window, return_exceptions=True)
        while True:
            body = await fetch(page)
            yield check(body)
            if not body.get("hasMore"):
                return
            page += 1

    async def items(
        self,
        module: str,
        resource: str,
        params: dict[str, Any] | None = None,
        *,
        page_size: int | None = None,
        operation: str = "",
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row of a paged list, one at a time."""
        async for data in self.pages(
            module, resource, params, page_size=page_size, operation=operation
        ):
            for row in data:
                yield row

    async def _all(
        self,
        module: str,
        resource: str,
        params: dict[str, Any] | None,
        parse: Callable[[dict[str, Any]], T],
        *,
        operation: str,
        page_size: int | None = None,
    ) -> list[T]:
        out: list[T] = []
        async for data in self.pages(
            module, resource, params, page_size=page_size, operation=operation
        ):
            out.extend(parse(row) for row in data)
        return out

    # -- invoices --------------------------------------------------------------------------------

    async def get_invoices(self, ids: Iterable[int]) -> list[Invoice]:
        """Invoices by API id (not number), 50 ids per call; missing ids are simply absent."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        if not wanted:
            return []
        batches = await asyncio.gather(
            *(
                self._all(
                    "accounting",
                    "invoices",
                    {"ids": ",".join(map(str, chunk))},
                    Invoice.from_api,
                    operation="read invoices",
                    page_size=MAX_IDS,
                )
                for chunk in _chunks(wanted, MAX_IDS)
            )
        )
        by_id = {inv.id: inv for batch in batches for inv in batch}
        return [by_id[i] for i in wanted if i in by_id]

    async def get_invoice(self, invoice_id: int) -> Invoice:
        """One invoice by id (the API has no ``/invoices/{id}``: this uses ``?ids=``)."""
        found = await self.get_invoices([invoice_id])
        if not found:
            raise NotFoundError(
                f"Invoice id {invoice_id} was not found in ServiceTitan.",
                "It may have been deleted; search by invoice number instead.",
            )
        return found[0]

    async def find_invoices(
        self,
        *,
        number: str | None = None,
        job_number: str | None = None,
        job_id: int | None = None,
        customer_id: int | None = None,
        adjustment_to_id: int | None = None,
        **filters: Any,
    ) -> list[Invoice]:
        """Invoices matching the filters (all pages). Expect 0–n results for a number."""
        params = {
            "number": number,
            "jobNumber": job_number,
            "jobId": job_id,
            "customerId": customer_id,
            "adjustmentToId": adjustment_to_id,
            **filters,
        }
        if all(v is None for v in params.values()):
            raise ValueError("find_invoices needs a filter (number, job_number, customer_id …)")
        return await self._all(
            "accounting", "invoices", params, Invoice.from_api, operation="search invoices"
        )

    async def iter_invoices(
        self, *, page_size: int | None = None, **filters: Any
    ) -> AsyncIterator[Invoice]:
        """Every invoice matching the API filters (camelCase names), page by page."""
        async for data in self.pages(
            "accounting", "invoices", filters, page_size=page_size, operation="read invoices"
        ):
            for row in data:
                yield Invoice.from_api(row)

    async def create_adjustment_invoice(
        self,
        adjustment_to_id: int,
        *,
        items: Sequence[tuple[str, Money]] = (),
        number: str | None = None,
        summary: str | None = None,
        invoiced_on: datetime | None = None,
        export_id: str | None = None,
    ) -> int:
        """Create an adjustment invoice (e.g. for a refund); returns the new invoice id.

        A lost reply raises :class:`OutcomeUnknown`: look for ``adjustment_to_id`` invoices.
        """
        body: dict[str, Any] = {"adjustmentToId": int(adjustment_to_id)}
        if number is not None:
            body["number"] = number
        if summary is not None:
            body["summary"] = summary
        if invoiced_on is not None:
            body["invoicedOn"] = _iso(invoiced_on)
        if export_id is not None:
            body["exportId"] = export_id
        if items:
            body["items"] = [
                {"description": desc, "quantity": 1, "unitPrice": amount.to_decimal()}
                for desc, amount in items
            ]
        result = await self.request(
            "POST", "accounting", "invoices", body=body, operation="create an adjustment invoice"
        )
        if (
            isinstance(result, bool)
            or not isinstance(result, int | str)
            or not str(result).isdigit()
        ):
            raise OutcomeUnknown(
                "ServiceTitan's reply to create an adjustment invoice has no invoice id; it may "
                "or may not have been created.",
                operation="create an adjustment invoice",
                detail=repr(result)[:200],
            )
        return int(result)

    # -- customers, locations, jobs ------------------------------------------------------------------

    async def find_customers(
        self,
        *,
        name: str | None = None,
        phone: str | None = None,
        with_contacts: bool = False,
        limit: int | None = None,
        **filters: Any,
    ) -> list[Customer]:
        """Customers by name (contains) or phone (any contact number)."""
        params = {"name": name, "phone": phone, **filters}
        if all(v is None for v in params.values()):
            raise ValueError("find_customers needs name= or phone=")
        rows: list[dict[str, Any]] = []
        async for row in self.items("crm", "customers", params, operation="search customers"):
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
        if not with_contacts:
            return [Customer.from_api(r) for r in rows]
        contacts = await asyncio.gather(*(self.customer_contacts(int(r["id"])) for r in rows))
        return [Customer.from_api(r, c) for r, c in zip(rows, contacts, strict=True)]

    async def customer_contacts(self, customer_id: int) -> tuple[Contact, ...]:
        return tuple(
            await self._all(
                "crm",
                f"customers/{int(customer_id)}/contacts",
                None,
                Contact.from_api,
                operation="read customer contacts",
            )
        )

    async def get_customer(self, customer_id: int, *, with_contacts: bool = True) -> Customer:
        row = await self.request(
            "GET", "crm", f"customers/{int(customer_id)}", operation="read a customer"
        )
        contacts = await self.customer_contacts(customer_id) if with_contacts else ()
        return Customer.from_api(row, contacts)

    async def get_location(self, location_id: int) -> Location:
        row = await self.request(
            "GET", "crm", f"locations/{int(location_id)}", operation="read a location"
        )
        return Location.from_api(row)

    async def find_locations(self, *, customer_id: int) -> list[Location]:
        return await self._all(
            "crm",
            "locations",
            {"customerId": customer_id},
            Location.from_api,
            operation="read locations",
        )

    async def get_job(self, job_id: int) -> Job:
        row = await self.request("GET", "jpm", f"jobs/{int(job_id)}", operation="read a job")
        return Job.from_api(row)

    async def find_jobs(
        self, *, number: str | None = None, customer_id: int | None = None, **filters: Any
    ) -> list[Job]:
        params = {"number": number, "customerId": customer_id, **filters}
        return await self._all("jpm", "jobs", params, Job.from_api, operation="search jobs")

    # -- payment types and payments --------------------------------------------------------------

    async def list_payment_types(self, *, include_inactive: bool = False) -> list[PaymentType]:
        """Payment types (ids differ per tenant: map them by name). With ``include_inactive``
        the inactive ones come too, marked ``active=False``."""
        active = await self._all(
            "accounting",
            "payment-types",
            {"active": "True"},
            PaymentType.from_api,
            operation="read payment types",
        )
        if not include_inactive:
            return active
        active_ids = {t.id for t in active}
        every = await self._all(
            "accounting",
            "payment-types",
            {"active": "Any"},
            lambda d: PaymentType.from_api(d, active=int(d["id"]) in active_ids),
            operation="read payment types",
        )
        return every

    async def create_payment(
        self,
        type_id: int,
        splits: Sequence[SplitLike],
        memo: str | None = None,
        export_id: str | None = None,
        auth_code: str | None = None,
        paid_on: datetime | None = None,
        *,
        check_number: str | None = None,
        status: str | None = None,
        transaction_status: str | None = None,
    ) -> Payment:
        """Post a payment. Put a unique marker in ``memo``/``export_id``: the API has no
        idempotency key, and a lost reply raises :class:`OutcomeUnknown` (search, then decide)."""
        body: dict[str, Any] = {"typeId": int(type_id), "splits": _splits(splits)}
        for key, value in (
            ("memo", memo),
            ("exportId", export_id),
            ("authCode", auth_code),
            ("paidOn", _iso(paid_on)),
            ("checkNumber", check_number),
            ("status", status),
            ("transactionStatus", transaction_status),
        ):
            if value is not None:
                body[key] = value
        row = await self.request(
            "POST", "accounting", "payments", body=body, operation="post the payment"
        )
        return _written_payment(row, "post the payment")

    async def list_payments(
        self,
        *,
        applied_to_invoice_ids: Iterable[int] | None = None,
        paid_on_after: datetime | date | str | None = None,
        paid_on_before: datetime | date | str | None = None,
        ids: Iterable[int] | None = None,
        customer_id: int | None = None,
        active_state: str = "All",
        **filters: Any,
    ) -> list[Payment]:
        """Payments by invoice and date (all pages). ``active_state``: ActiveOnly | InactiveOnly
        | All — All by default so a read-back also sees voided payments. More than 50 invoice
        ids or payment ids are split into several calls (the API's limit)."""
        params: dict[str, Any] = {
            "paidOnAfter": _iso(paid_on_after),
            "paidOnBefore": _iso(paid_on_before),
            "customerId": customer_id,
            "activeState": active_state,
            **filters,
        }
        invoice_ids = None if applied_to_invoice_ids is None else list(applied_to_invoice_ids)
        payment_ids = None if ids is None else list(ids)
        if invoice_ids is not None and payment_ids is not None:
            raise ValueError("list_payments takes applied_to_invoice_ids or ids, not both")
        key, wanted = ("appliedToInvoiceIds", invoice_ids) if invoice_ids is not None else (
            "ids", payment_ids
        )  # fmt: skip
        if wanted is None:
            return await self._all(
                "accounting", "payments", params, Payment.from_api, operation="read payments"
            )
        if not wanted:
            return []
        batches = await asyncio.gather(
            *(
                self._all(
                    "accounting",
                    "payments",
                    {**params, key: _csv(chunk)},
                    Payment.from_api,
                    operation="read payments",
                )
                for chunk in _chunks(list(dict.fromkeys(int(i) for i in wanted)), MAX_IDS)
            )
        )
        merged = {p.id: p for batch in batches for p in batch}
        return sorted(merged.values(), key=lambda p: p.id)

    async def iter_payments(
        self, *, page_size: int | None = None, **filters: Any
    ) -> AsyncIterator[Payment]:
        """Every payment matching the API filters (camelCase names), page by page."""
        async for data in self.pages(
            "accounting", "payments", filters, page_size=page_size, operation="read payments"
        ):
            for row in data:
                yield Payment.from_api(row)

    async def find_payments_with_marker(
        self,
        marker: str,
        *,
        invoice_ids: Iterable[int],
        paid_on_after: datetime | date | str | None = None,
    ) -> list[Payment]:
        """Payments on these invoices whose memo / auth code / export id holds ``marker``:
        the read-back after :class:`OutcomeUnknown`."""
        found = await self.list_payments(
            applied_to_invoice_ids=invoice_ids, paid_on_after=paid_on_after
        )
        return [p for p in found if p.mentions(marker)]

    async def get_payment(self, payment_id: int) -> Payment:
        found = await self.list_payments(ids=[payment_id])
        if not found:
            raise NotFoundError(f"Payment id {payment_id} was not found in ServiceTitan.")
        return found[0]

    async def update_payment(
        self,
        payment_id: int,
        *,
        type_id: int | None = None,
        splits: Sequence[SplitLike] | None = None,
        active: bool | None = None,
        memo: str | None = None,
        paid_on: datetime | None = None,
        auth_code: str | None = None,
        export_id: str | None = None,
        status: str | None = None,
        check_number: str | None = None,
    ) -> Payment:
        """PATCH a payment (only allowed while it is Pending). ``typeId`` and ``splits`` are
        required by the API; when not given they are read from the current payment."""
        if type_id is None or splits is None:
            current = await self.get_payment(payment_id)
            if type_id is None:
                type_id = current.type_id
            if splits is None:
                splits = current.splits
        body: dict[str, Any] = {"typeId": int(type_id or 0), "splits": _splits(splits)}
        for key, value in (
            ("active", active),
            ("memo", memo),
            ("paidOn", _iso(paid_on)),
            ("authCode", auth_code),
            ("exportId", export_id),
            ("status", status),
            ("checkNumber", check_number),
        ):
            if value is not None:
                body[key] = value
        row = await self.request(
            "PATCH",
            "accounting",
            f"payments/{int(payment_id)}",
            body=body,
            operation="update the payment",
        )
        return _written_payment(row, "update the payment")

    async def void_payment(self, payment_id: int) -> Payment:
        """Void a Pending payment (``active=false``); ServiceTitan restores the balance."""
        return await self.update_payment(payment_id, active=False)

    # -- export feeds ------------------------------------------------------------------------------

    async def export_invoices(
        self, continue_from: str | None = None, *, include_recent_changes: bool = False
    ) -> ExportPage[Invoice]:
        """One page of the invoice change feed; pass ``.continue_from`` to the next call."""
        return await self._export("invoices", continue_from, include_recent_changes, Invoice)

    async def export_payments(
        self, continue_from: str | None = None, *, include_recent_changes: bool = False
    ) -> ExportPage[Payment]:
        """One page of the payment change feed (includes voided payments)."""
        return await self._export("payments", continue_from, include_recent_changes, Payment)

    async def follow_export(
        self,
        what: str,
        continue_from: str | None = None,
        *,
        include_recent_changes: bool = False,
    ) -> AsyncIterator[ExportPage[Any]]:
        """Pages of ``invoices`` or ``payments`` changes until the feed is caught up
        (``has_more`` false). Store the last page's ``continue_from`` for the next poll."""
        if what not in ("invoices", "payments"):
            raise ValueError("follow_export takes 'invoices' or 'payments'")
        fetch = self.export_invoices if what == "invoices" else self.export_payments
        token = continue_from
        while True:
            page = await fetch(token, include_recent_changes=include_recent_changes)
            yield page
            if not page.has_more:
                return
            token = page.continue_from

    async def _export(
        self, what: str, continue_from: str | None, recent: bool, model: Any
    ) -> ExportPage[Any]:
        params: dict[str, Any] = {"from": continue_from}
        if recent:
            params["includeRecentChanges"] = "true"
        body = await self.request(
            "GET", "accounting", f"export/{what}", params=params, operation=f"follow {what}"
        )
        rows = tuple(body.get("data") or ())
        return ExportPage(
            items=tuple(model.from_api(r) for r in rows),
            continue_from=body.get("continueFrom") or continue_from,
            has_more=bool(body.get("hasMore")),
            raw=rows,
        )

    # -- people ------------------------------------------------------------------------------------

    async def list_employees(self, *, active: str = "True") -> list[Employee]:
        """Office staff with their ``loginName`` (operators are mapped by it, case-insensitively)."""
        return await self._all(
            "settings", "employees", {"active": active}, Employee.from_api,
            operation="read employees",
        )  # fmt: skip

    async def list_technicians(self, *, active: str = "True") -> list[Technician]:
        return await self._all(
            "settings", "technicians", {"active": active}, Technician.from_api,
            operation="read technicians",
        )  # fmt: skip


def _splits(splits: Sequence[SplitLike]) -> list[dict[str, Any]]:
    out = []
    for s in splits:
        split = s if isinstance(s, PaymentSplit) else PaymentSplit(int(s[0]), s[1])
        if not isinstance(split.amount, Money):
            raise TypeError("payment split amounts must be Money")
        out.append(split.to_api())
    if not out:
        raise ValueError("a payment needs at least one split (invoice id and amount)")
    return out


def _csv(values: Iterable[int] | None) -> str | None:
    if values is None:
        return None
    items = [str(int(v)) for v in values]
    return ",".join(items) if items else None


#: What httpx accepts as one query parameter's value (ours are always strings).
Param = str | int | float | bool | None


def _clean_params(params: dict[str, Any] | list[tuple[str, Any]] | None) -> list[tuple[str, Param]]:
    if not params:
        return []
    pairs = params.items() if isinstance(params, dict) else params
    out: list[tuple[str, Param]] = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, list | tuple | set | frozenset):
            out.extend((key, str(v)) for v in value)  # repeated param, e.g. statuses
        elif isinstance(value, datetime | date):
            out.append((key, _iso(value) or ""))
        else:
            out.append((key, str(value)))
    return out


def _outcome_unknown(status: int, content: bytes) -> bool:
    """Whether a write's reply leaves its outcome open (see :data:`NOTHING_DONE`)."""
    if 200 <= status < 300:
        return not content.strip()
    if status not in NOTHING_DONE:
        return True  # 1xx/3xx, 408, 5xx and every status the API does not document
    if status in NEEDS_ERROR_BODY:
        try:
            body = jsonwire.loads(content) if content else None
        except ValueError:
            return True
        return not (isinstance(body, dict) and ({"title", "errors", "status"} & body.keys()))
    return False


def _unknown_title(status: int, what: str, content: bytes) -> str:
    if 200 <= status < 300:
        return (
            f"ServiceTitan answered {what} with an empty reply (HTTP {status}); it may or may "
            "not have been saved."
        )
    if status in NEEDS_ERROR_BODY:
        return (
            f"ServiceTitan answered {what} with HTTP {status} but not in its documented error "
            "form; it may or may not have been saved."
        )
    if status >= 500:
        return (
            f"ServiceTitan failed while doing this: {what} (HTTP {status}); it may or may not "
            "have been saved."
        )
    return f"ServiceTitan answered {what} with HTTP {status}; it may or may not have been saved."


def _written_payment(row: Any, what: str) -> Payment:
    """The payment a write answered with; a reply that is not one leaves the outcome open."""
    try:
        if not isinstance(row, dict) or row.get("id") is None:
            raise ValueError("no payment id")
        return Payment.from_api(row)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OutcomeUnknown(
            f"ServiceTitan's reply to {what} is not a payment; it may or may not have been saved.",
            operation=what,
            detail=repr(row)[:200],
        ) from exc
