"""An app built at collection time, only to read its routes and OpenAPI spec (it never
connects to anything), so tests can be parametrized by route."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Flask

from api import create_app
from tests.conftest import PG_ADMIN_URL


@cache
def collection_app() -> Flask:
    return create_app(
        {
            "APP_ENV": "testing",
            "DATABASE_URL": PG_ADMIN_URL,
            "DATA_DIR": "/tmp/bb-abuse-collect",
            "LOG_LEVEL": "WARNING",
        }
    )


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = collection_app().test_client().get("/openapi.json").get_json()
    return document
