"""Typed ServiceTitan failures, each with a ``title`` and a ``fix`` a clerk can act on.

The documented error body (``ApiErrorResponse``: type, title, status, traceId, errors, data) only
covers 400/404/409; the gateway answers 401/403/429/5xx in other shapes (``{message}``,
``{error, error_description}``, plain text, HTML). :func:`error_from_response` reads them all.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "AppKeyRejected",
    "AuthError",
    "NotFoundError",
    "OutcomeUnknown",
    "PermissionDenied",
    "RateLimited",
    "ScopeMissing",
    "ServerUnavailable",
    "ServiceTitanError",
    "TenantRefused",
    "ValidationError",
    "error_from_response",
    "parse_error_body",
]


class ServiceTitanError(Exception):
    """Base of every ServiceTitan failure: ``title`` says what happened, ``fix`` what to do."""

    default_title = "ServiceTitan reported a problem."
    default_fix = "Try again. If it keeps happening, note the time and contact support."
    #: The setting this failure points at, for Setup to name and focus: ``client_secret`` (the
    #: client id/secret pair), ``app_key``, ``tenant_id``, ``scope``, or "" when unknown.
    suspect = ""

    def __init__(
        self,
        title: str | None = None,
        fix: str | None = None,
        *,
        status: int | None = None,
        detail: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        self.title = title or self.default_title
        self.fix = fix or self.default_fix
        self.status = status
        self.detail = detail
        self.trace_id = trace_id
        super().__init__(f"{self.title} {self.fix}")


class AuthError(ServiceTitanError):
    """The client id/secret (or the token) was not accepted."""

    suspect = "client_secret"

    default_title = "ServiceTitan did not accept the sign-in for this app."
    default_fix = (
        "Check the Client ID and Client Secret in Settings → ServiceTitan; they belong to one "
        "tenant and can be regenerated in ServiceTitan under Settings → Integrations → API Application Access."
    )


class PermissionDenied(ServiceTitanError):
    """Signed in, but the app key, tenant or scopes do not allow the call."""

    default_title = "ServiceTitan refused access for this app."
    default_fix = (
        "Check the App Key (ST-App-Key) and the Tenant ID in Settings → ServiceTitan, and that the "
        "application is connected to this tenant with the accounting, CRM, jobs and settings scopes."
    )


class AppKeyRejected(PermissionDenied):
    """The ``ST-App-Key`` is missing or not the app's: the token was fine, so the client id and
    secret are not to blame."""

    suspect = "app_key"
    default_title = "ServiceTitan did not accept the App Key."
    default_fix = (
        "Copy the App Key (Application Key) again from developer.servicetitan.io → My Apps → "
        "your app → App Details into Setup. The client id and secret were accepted."
    )


class TenantRefused(PermissionDenied):
    """The credentials are good but do not cover this tenant id."""

    suspect = "tenant_id"
    default_title = "ServiceTitan refused this Tenant ID for these credentials."
    default_fix = (
        "Check the Tenant ID (ServiceTitan → Settings → Integrations → API Application Access "
        "shows it): the client id and secret belong to one tenant."
    )


class ScopeMissing(PermissionDenied):
    """The app was not granted the scope one call needs (``scope`` names it when known)."""

    suspect = "scope"
    default_title = "The app lacks a permission (API scope) in ServiceTitan."
    default_fix = (
        "In developer.servicetitan.io → My Apps, the app needs every scope of Accounting, CRM, "
        "Job Planning and Settings; scopes cannot be edited, so make a new app with them, then "
        "connect it to the tenant again and use its new keys."
    )

    def __init__(self, *args: Any, scope: str = "", **kwargs: Any) -> None:
        self.scope = scope
        super().__init__(*args, **kwargs)


class NotFoundError(ServiceTitanError):
    default_title = "ServiceTitan could not find that record."
    default_fix = "Check the number, or search again; it may have been deleted or merged."


class ValidationError(ServiceTitanError):
    """A 400/409 with the server's field messages in ``field_errors``."""

    default_title = "ServiceTitan rejected the request."
    default_fix = "Correct the values named above and try again."

    def __init__(
        self,
        title: str | None = None,
        fix: str | None = None,
        *,
        field_errors: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.field_errors: dict[str, list[str]] = dict(field_errors or {})
        if fix is None and self.field_errors:
            parts = [
                f"{name or 'request'}: {' '.join(msgs)}" for name, msgs in self.field_errors.items()
            ]
            fix = "; ".join(parts) + ". Correct this and try again."
        super().__init__(title, fix, **kwargs)


class RateLimited(ServiceTitanError):
    default_title = "ServiceTitan is asking the app to slow down (too many requests)."
    default_fix = "Wait a few seconds and try again; the app retries by itself when it can."

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class ServerUnavailable(ServiceTitanError):
    """ServiceTitan could not be reached or failed; nothing was changed (or it was a read)."""

    default_title = "ServiceTitan is not answering right now."
    default_fix = (
        "Check the internet connection and try again in a minute. Card payments are kept and "
        "will be posted when ServiceTitan is back."
    )


class OutcomeUnknown(ServiceTitanError):
    """A write (POST/PATCH) whose reply was lost: it may or may not have been saved.

    Never repeat the write blindly: read back (e.g. ``list_payments`` for the marker) first.
    """

    default_title = "ServiceTitan may or may not have saved this change (the reply was lost)."
    default_fix = (
        "Do not post it again by hand. The app will search ServiceTitan for it and post only if "
        "it is missing."
    )

    def __init__(self, *args: Any, operation: str = "", **kwargs: Any) -> None:
        self.operation = operation
        super().__init__(*args, **kwargs)


_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def parse_error_body(content: bytes, content_type: str | None = None) -> dict[str, Any]:
    """Normalise any error body to ``{message, title, errors, trace_id, code}`` (missing → None)."""
    out: dict[str, Any] = {
        "message": None,
        "title": None,
        "errors": {},
        "trace_id": None,
        "code": None,
    }
    text = content.decode("utf-8", errors="replace").strip() if content else ""
    if not text:
        return out
    data: Any = None
    if text[:1] in "{[":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, dict):
            out["errors"] = {
                str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
                for k, v in errors.items()
            }
        out["title"] = _str(data.get("title"))
        out["trace_id"] = _str(data.get("traceId"))
        out["code"] = _str(data.get("error")) or _str(data.get("type"))
        out["message"] = (
            _str(data.get("error_description"))
            or _str(data.get("message"))
            or _str(data.get("Message"))
            or out["title"]
            or _str(data.get("error"))
        )
        return out
    plain = _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()
    out["message"] = plain[:200] or None
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def error_from_response(
    status: int,
    content: bytes,
    content_type: str | None = None,
    *,
    operation: str = "",
    retry_after: float | None = None,
    challenge: str | None = None,
) -> ServiceTitanError:
    """The typed error for a non-2xx reply, carrying the server's own words in ``detail``.
    ``challenge`` is the reply's ``WWW-Authenticate`` header (it may name a missing scope)."""
    body = parse_error_body(content, content_type)
    detail = body["message"]
    kw: dict[str, Any] = {"status": status, "detail": detail, "trace_id": body["trace_id"]}
    what = f" while trying to {operation}" if operation else ""
    if status in (401, 403):
        refused = access_refusal(body, challenge, what, kw)
        if refused is not None:
            return refused
    if status == 401:
        return AuthError(f"ServiceTitan did not accept the app's sign-in{what}.", **kw)
    if status == 403:
        return PermissionDenied(
            f"ServiceTitan refused access{what} ({detail or 'forbidden'}).", **kw
        )
    if status == 404:
        return NotFoundError(f"ServiceTitan could not find what was asked for{what}.", **kw)
    if status in (400, 409, 422):
        title = f"ServiceTitan rejected the request{what}"
        if body["title"]:
            title += f": {body['title']}"
        errors = body["errors"]
        if not errors and detail:
            errors = {"": [detail]}
        return ValidationError(title + ".", field_errors=errors, **kw)
    if status == 429:
        return RateLimited(retry_after=retry_after, **kw)
    if status >= 500:
        return ServerUnavailable(
            f"ServiceTitan had a problem on its side (HTTP {status}){what}.", **kw
        )
    return ServiceTitanError(f"ServiceTitan answered HTTP {status}{what}.", **kw)


_SCOPE_IN_CHALLENGE = re.compile(r'scope="([^"]*)"')


def access_refusal(
    body: dict[str, Any], challenge: str | None, what: str, kw: dict[str, Any]
) -> ServiceTitanError | None:
    """Which value a 401/403 blames, when the reply says so: a missing scope (RFC 6750's
    ``insufficient_scope``), the app key, or the tenant. None when it does not say.

    The gateway's words are not documented [I]: these read the RFC 6750 challenge and the
    ``{error, error_description}`` / ``{message}`` shapes for the words "scope", "app key"
    and "tenant"; anything else stays a plain :class:`AuthError` / :class:`PermissionDenied`.
    """
    said = " ".join(str(x) for x in (body.get("code"), body.get("message")) if x).casefold()
    words = f"{said} {challenge or ''}".casefold()
    # A challenge may carry scope="…" on any refusal; only insufficient_scope, or the body's
    # own words, say that the scope is what is missing.
    if "insufficient_scope" in words or "scope" in said:
        found = _SCOPE_IN_CHALLENGE.search(challenge or "")
        scope = found.group(1) if found else ""
        named = f" ({scope})" if scope else ""
        return ScopeMissing(
            f"The app lacks a permission in ServiceTitan{named}{what}.", scope=scope, **kw
        )
    compact = words.replace("-", " ").replace("_", " ")
    if "app key" in compact or "appkey" in compact:
        return AppKeyRejected(f"ServiceTitan did not accept the App Key{what}.", **kw)
    if "tenant" in words:
        return TenantRefused(f"ServiceTitan refused the Tenant ID{what}.", **kw)
    return None
