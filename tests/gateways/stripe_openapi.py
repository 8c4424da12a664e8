"""The Stripe OpenAPI subset (``../shared/reference/stripe-openapi/``) as jsonschema validators.

OpenAPI 3.0 is not JSON Schema: ``nullable: true`` becomes "or null". The spec's schemas refer to
each other in cycles (charge → invoice → charge), so ``$ref`` stays a reference resolved inside
one root document instead of being inlined. Form bodies arrive as strings; :func:`coerce` turns
them into the types the schema names before validation.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

from tests.reference import reference_path

SPEC = "reference/stripe-openapi/stripe-openapi-subset.json"

#: Request parameters of Stripe's current API that the 2023-08-16 subset lacks; the provider
#: sends them (``restrictions``) or may (``inactive_message``). See gateways/README.md.
EXTENSIONS: dict[str, dict[str, Any]] = {
    "PostPaymentLinks": {
        "restrictions": {
            "type": "object",
            "properties": {
                "completed_sessions": {
                    "type": "object",
                    "properties": {"limit": {"type": "integer"}},
                    "required": ["limit"],
                }
            },
        },
        "inactive_message": {"type": "string"},
    },
    "PostPaymentLinksPaymentLink": {"inactive_message": {"type": "string"}},
}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: ({n: _convert(s) for n, s in v.items()} if k == "properties" else _convert(v))
        for k, v in node.items()
        if k not in ("description", "x-expandableFields", "x-resourceId", "x-stripeBypassValidation", "x-expansionResources", "title")
    }  # fmt: skip
    if out.pop("nullable", False):
        return {"anyOf": [{"type": "null"}, out]}
    return out


@functools.cache
def spec() -> dict[str, Any]:
    raw = json.loads(reference_path(SPEC).read_text())
    raw["components"]["schemas"] = _convert(raw["components"]["schemas"])
    return dict(raw)


def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (method, path, operation)."""
    out = {}
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "delete"):
                out[op["operationId"]] = (method.upper(), path, op)
    return out


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    root = {"allOf": [_convert(schema)], "components": spec()["components"]}
    return jsonschema.Draft202012Validator(root)


def response_validator(op_id: str, status: int) -> jsonschema.Draft202012Validator:
    _m, _p, op = operations()[op_id]
    resp = op["responses"].get(str(status)) or op["responses"]["default"]
    return validator(resp["content"]["application/json"]["schema"])


def request_schema(op_id: str) -> dict[str, Any]:
    """The operation's parameters as one object schema (query parameters for GET, the form body
    for POST), with :data:`EXTENSIONS` added and nothing else allowed at the top level."""
    method, _path, op = operations()[op_id]
    props: dict[str, Any] = {}
    if method == "GET":
        for p in op.get("parameters", []):
            if p["in"] == "query":
                props[p["name"]] = p["schema"]
    else:
        body = op.get("requestBody", {}).get("content", {})
        form = body.get("application/x-www-form-urlencoded", {}).get("schema", {})
        props.update(form.get("properties", {}))
    props.update(EXTENSIONS.get(op_id, {}))
    return {"type": "object", "properties": props, "additionalProperties": False}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Form strings → the types ``schema`` names (``"12"`` → 12, ``"true"`` → True)."""
    schema = _resolve(schema)
    for alt in schema.get("anyOf", []):
        alt = _resolve(alt)
        if isinstance(value, str) and alt.get("enum") == [""] and value == "":
            return value
        converted = coerce(value, alt)
        if converted is not value or alt.get("type") == "string":
            return converted
    kind = schema.get("type")
    if isinstance(value, str):
        if kind == "integer" and value.lstrip("-").isdigit():
            return int(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: coerce(v, props.get(k) or (extra if isinstance(extra, dict) else {}))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [coerce(v, schema.get("items", {})) for v in value]
    return value


def errors_of(v: jsonschema.Draft202012Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in sorted(v.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    ][:5]
