"""Checking Stripe-style parameters: unknown names refused, integers and booleans parsed from
form strings, and Stripe's metadata rules."""

from __future__ import annotations

from typing import Any

from gateways.stripe.sandbox.errors import StripeProblem, unknown_param

__all__ = ["Json", "bool_param", "check_keys", "int_param", "metadata_of"]

Json = dict[str, Any]


def int_param(params: Json, name: str, *, lo: int = 0, hi: int = 99_999_999) -> int | None:
    if name not in params:
        return None
    raw = params[name]
    if not isinstance(raw, str) or not raw.lstrip("-").isdigit():
        raise StripeProblem(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        )
    value = int(raw)
    if not lo <= value <= hi:
        raise StripeProblem(
            400,
            f"Invalid {name}: must be between {lo} and {hi}",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def bool_param(params: Json, name: str) -> bool | None:
    if name not in params:
        return None
    raw = params[name]
    if raw not in ("true", "false"):
        raise StripeProblem(400, f"Invalid boolean: {raw}", param=name)
    return bool(raw == "true")


def check_keys(params: Json, allowed: set[str], prefix: str = "") -> None:
    for key in params:
        if key not in allowed:
            raise unknown_param(f"{prefix}{key}")


def metadata_of(params: Json, current: dict[str, str] | None = None) -> dict[str, str]:
    """Stripe's metadata rules: ≤50 keys, keys ≤40 chars, values ≤500; "" unsets a key."""
    out = dict(current or {})
    raw = params.get("metadata")
    if raw is None:
        return out
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeProblem(400, "Invalid metadata: must be a hash", param="metadata")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise StripeProblem(400, f"Invalid metadata[{key}]", param=f"metadata[{key}]")
        if len(key) > 40:
            raise StripeProblem(
                400, "Metadata keys can have up to 40 characters", param=f"metadata[{key}]"
            )
        if len(value) > 500:
            raise StripeProblem(
                400, "Metadata values can have up to 500 characters", param=f"metadata[{key}]"
            )
        if value == "":
            out.pop(key, None)
        else:
            out[key] = value
    if len(out) > 50:
        raise StripeProblem(400, "Metadata can have up to 50 keys", param="metadata")
    return out
