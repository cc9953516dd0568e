"""The API's routes, read from its own OpenAPI document, so that tests which walk "every
route" cover a route the day it is added."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

WRITE_METHODS = ("post", "put", "patch", "delete")

# Routes of mailbox users (webmail, signatures, contacts, live events): a mailbox user's
# token addresses that one mailbox, so the walks with operators' and tenant admins'
# credentials (isolation, bad input, audit) do not apply; an admin's token is refused
# there (403 not_a_mailbox_token). tests/mailstack/webmail walks them as mailbox users.
MAILBOX_USER_PATHS = (
    "/api/v1/mail/webmail",
    "/api/v1/mail/signatures",
    "/api/v1/mail/contacts",
    "/api/v1/mail/events",
    "/api/v1/auth/mail-tokens",
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    path_params: tuple[str, ...]
    body_schema: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def url(self, values: dict[str, Any]) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), self.path)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def operations(app: FastAPI, *, mailbox_user_routes: bool = False) -> list[Operation]:
    document = app.openapi()
    result = []
    for path, methods in document["paths"].items():
        if path.startswith(MAILBOX_USER_PATHS) and not mailbox_user_routes:
            continue
        for method, spec in methods.items():
            params = tuple(p["name"] for p in spec.get("parameters", []) if p["in"] == "path")
            body = spec.get("requestBody", {}).get("content", {}).get("application/json")
            schema = _resolve(document, body["schema"]) if body else None
            result.append(Operation(method, path, params, schema))
    return result


def _variants(prop: dict[str, Any]) -> list[dict[str, Any]]:
    if "anyOf" not in prop:
        return [prop]
    return [v for sub in prop["anyOf"] for v in _variants(sub)]


def string_fields(schema: dict[str, Any]) -> list[str]:
    """Body fields that accept a string (alone, in a union, or in a list)."""
    names = []
    for name, prop in schema.get("properties", {}).items():
        variants = _variants(prop)
        if any(
            v.get("type") == "string" or v.get("items", {}).get("type") == "string"
            for v in variants
        ):
            names.append(name)
    return names


def field_types(schema: dict[str, Any], name: str) -> set[str]:
    return {str(v.get("type")) for v in _variants(schema["properties"][name])}
