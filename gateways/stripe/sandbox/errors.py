"""Stripe-shaped API errors raised inside the sandbox and rendered as ``{"error": {...}}``."""

from __future__ import annotations

from typing import Any

__all__ = ["StripeProblem", "missing", "unknown_param"]


class StripeProblem(Exception):
    """An error reply: HTTP ``status`` and Stripe's error object (``type``, ``message``, …)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self, request_id: str) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        err.update(self.extra)
        err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": err}


def missing(kind: str, object_id: str, param: str = "id") -> StripeProblem:
    """404 for an unknown id, worded as Stripe words it."""
    return StripeProblem(
        404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def unknown_param(name: str) -> StripeProblem:
    return StripeProblem(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
    )
