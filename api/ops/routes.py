"""Health probes and Prometheus metrics (not under /api/v1, and never rate limited)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.errors import problem
from api.extensions import limiter
from api.ops import service
from api.ops.metrics import metrics_response
from api.security import require_role
from api.users.models import Role

blp = Blueprint("operations", __name__, description="Health, metrics and admin statistics.")
limiter.exempt(blp)  # probes and scrapes must never be refused


class HealthSchema(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded", "down"]})
    checks = fields.Dict(keys=fields.String(), values=fields.Dict())


@blp.route("/health")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="The database is unreachable.")
def health() -> tuple[dict[str, Any], int]:
    """Database, Redis, broker and workers."""
    return service.health()


@blp.route("/health/live")
@blp.response(200, HealthSchema)
def live() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok", "checks": {}}


@blp.route("/health/ready")
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="The database is unreachable.")
def ready() -> dict[str, Any] | Response:
    """Ready for traffic: the database answers."""
    if not service.database_ready():
        return problem(503, "service_unavailable", "The database is unreachable.")
    return {"status": "ok", "checks": {"database": {"status": "ok"}}}


@blp.route("/metrics")
@blp.doc(responses={200: {"description": "Prometheus text format."}})
def metrics() -> Response:
    """Prometheus metrics."""
    return metrics_response(current_app)


class StatsSchema(Schema):
    users = fields.Dict()
    jobs = fields.Dict()
    content = fields.Dict()


@blp.route("/api/v1/admin/stats")
@blp.response(200, StatsSchema)
@blp.alt_response(403, description="Administrators only.")
def stats() -> dict[str, Any]:
    """Users by role and verification, jobs by kind and status, content counts."""
    require_role(Role.ADMIN)
    return service.stats()
