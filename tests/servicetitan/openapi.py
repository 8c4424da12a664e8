"""Load the official OpenAPI 3.0 files and validate JSON against them with jsonschema.

OpenAPI 3.0 is not JSON Schema: ``nullable: true`` becomes "or null", and ``$ref`` points into
``components/schemas`` of the same file. Additions documented by the 2026 catalog (see
``servicetitan-api.md``) are added explicitly, so nothing else slips through
``additionalProperties: false``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

import jsonschema
import yaml

from tests.reference import reference_path

SPEC_DIR = "reference/servicetitan-openapi"  # inside ../shared/, found by tests.reference
FILES = {
    "accounting": "tenant-accounting-v2.yml",
    "crm": "tenant-crm-v2.yml",
    "jpm": "tenant-jpm-v2.yml",
    "settings": "tenant-settings-v2.yml",
}

_DT = {"type": "string", "format": "date-time"}
#: Fields the 2026 catalog adds (reference §2: SPEC26). Only these extras are allowed.
SPEC26_ADDITIONS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "accounting": {
        "Accounting.V2.DetailedPaymentResponse": {
            "active": {"type": "boolean"},
            "createdOn": _DT,
            "modifiedOn": _DT,
            "refundedPaymentId": {"type": "integer", "nullable": True},
        },
    },
}
#: Export rows (not in the 2024 files at all): the list row plus ``active``.
EXPORT_INVOICE_EXTRA = {"active": {"type": "boolean"}}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: ({n: _convert(sub) for n, sub in v.items()} if k == "properties" else _convert(v))
        for k, v in node.items()
        if k not in ("example", "x-enumNames", "description", "format")
    }
    if out.pop("nullable", False):
        if isinstance(out.get("type"), str) and not {"enum", "oneOf", "$ref"} & out.keys():
            out["type"] = [out["type"], "null"]
            return out
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _inline(node: Any, schemas: dict[str, Any], depth: int = 0) -> Any:
    """Replace every ``$ref`` by the schema it names (the files have no cycles we touch)."""
    if depth > 40:
        raise RecursionError("schema references nest too deep")
    if isinstance(node, list):
        return [_inline(n, schemas, depth) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = _inline(schemas[ref.rsplit("/", 1)[-1]], schemas, depth + 1)
        if len(node) == 1:
            return target
        return {"allOf": [target, {k: v for k, v in node.items() if k != "$ref"}]}
    out = {k: _inline(v, schemas, depth) for k, v in node.items()}
    if len(out.get("oneOf", [])) == 1 and len(out) == 1:
        return out["oneOf"][0]
    return out


@functools.cache
def spec(module: str) -> dict[str, Any]:
    raw = yaml.safe_load(reference_path(f"{SPEC_DIR}/{FILES[module]}").read_text())
    doc = copy.deepcopy(raw)
    for name, extra in SPEC26_ADDITIONS.get(module, {}).items():
        doc["components"]["schemas"][name]["properties"].update(copy.deepcopy(extra))
    doc["components"]["schemas"] = _convert(doc["components"]["schemas"])
    return doc


def validator(module: str, schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    return _validator(module, json.dumps(schema, sort_keys=True))


@functools.cache
def _validator(module: str, schema_json: str) -> jsonschema.Draft7Validator:
    schemas = spec(module)["components"]["schemas"]
    fixed = _inline(_convert(json.loads(schema_json)), schemas)
    return jsonschema.Draft7Validator(fixed)


def component(module: str, name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def operation(module: str, method: str, route: str) -> dict[str, Any] | None:
    """The OpenAPI operation for a sandbox route name like ``GET /crm/v2/tenant/{tenant}/…``."""
    path = route.split(" ", 1)[1]
    path_item = spec(module)["paths"].get(path)
    if path_item is None:
        # path parameters may be named differently (e.g. {invoiceId})
        pattern = re.sub(r"\\\{[^}]+\\\}", r"\\{[^}]+\\}", re.escape(path))
        for candidate, item in spec(module)["paths"].items():
            if re.fullmatch(pattern, candidate):
                path_item = item
                break
    if path_item is None:
        return None
    return path_item.get(method.lower())


def response_schema(op: dict[str, Any], status: int) -> dict[str, Any] | None:
    resp = op["responses"].get(str(status))
    if resp is None:
        return None
    return resp.get("content", {}).get("application/json", {}).get("schema")


def request_schema(op: dict[str, Any]) -> dict[str, Any] | None:
    body = op.get("requestBody")
    if not body:
        return None
    return body["content"]["application/json"]["schema"]


def errors_of(v: jsonschema.Draft7Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in sorted(v.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    ][:5]
