"""The API's routes, read from the app itself, so a new endpoint is covered (or, for the
IDOR table, refused until classified) without anyone remembering to add it here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Flask

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # Werkzeug's form: /api/v1/reviews/<uuid:review_id>
    endpoint: str

    @property
    def spec_path(self) -> str:
        """The OpenAPI form: /api/v1/reviews/{review_id}."""
        return PARAM.sub(lambda m: "{" + m.group(2) + "}", self.rule)

    def url(self, **values: Any) -> str:
        """The rule with its parameters filled: given values, else a well-formed stranger."""

        def fill(match: re.Match[str]) -> str:
            converter, name = match.group(1), match.group(2)
            if name in values:
                return str(values[name])
            if converter == "uuid":
                return str(uuid.UUID(int=0x5EED))
            if converter == "any":
                return match.group(0).split("(")[1].split(",")[0].strip()
            return "no-such-thing"

        return PARAM.sub(fill, self.rule)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def routes(app: Flask) -> Iterator[Route]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield Route(method, rule.rule, rule.endpoint)


def body_routes(app: Flask) -> list[Route]:
    """Every route that reads a request body."""
    return [route for route in routes(app) if route.method in BODY_METHODS]


def request_schema(spec: dict[str, Any], route: Route) -> tuple[str | None, dict[str, Any]]:
    """The documented body of a route: its media type and schema ($refs resolved), if any."""
    operation = spec["paths"].get(route.spec_path, {}).get(route.method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    for media_type, body in content.items():
        return media_type, resolve(spec, body.get("schema", {}))
    return None, {}


def resolve(spec: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    if depth > 8:
        return schema
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            return resolve(spec, spec["components"]["schemas"][name], depth + 1)
        return {key: resolve(spec, value, depth + 1) for key, value in schema.items()}
    if isinstance(schema, list):
        return [resolve(spec, item, depth + 1) for item in schema]
    return schema


def field_names(schema: dict[str, Any]) -> list[str]:
    """Every property name in the schema, nested ones included (dotted paths are not needed:
    the fuzzer puts hostile values at any level)."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, child in (node.get("properties") or {}).items():
                names.append(name)
                walk(child)
            walk(node.get("items"))
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(schema)
    return sorted(set(names))
