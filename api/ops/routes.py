"""Health probes and Prometheus metrics (not under /api/v1, and never rate limited)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from marshmallow import Schema, fields

from api import response_cache
from api.contract import Blueprint
from api.errors import problem
from api.ops import service, warmup
from api.ops.metrics import cache_counts, metrics_response
from api.ratelimits import exempt
from api.responses import ApiResponse
from api.security import operator_token, public, roles_required
from api.users.models import Role

blp = Blueprint("operations", __name__, description="Health, metrics and admin statistics.")


class HealthSchema(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded", "down"]})
    checks = fields.Dict(keys=fields.String(), values=fields.Dict())


@blp.route("/health")
@operator_token
@exempt  # probes, scrapes and operators are never refused
@blp.response(200, HealthSchema)
@blp.alt_response(401, description="METRICS_TOKEN is set and the bearer token is not it.")
@blp.alt_response(503, schema=HealthSchema, description="The database is unreachable.")
def health() -> tuple[dict[str, Any], int]:
    """Database, Redis, broker and workers (needs `Bearer <METRICS_TOKEN>` when it is set)."""
    return service.health()


LIVE = b'{"status":"ok","checks":{}}'
# Answered before the app by `api.edge.ConstantAnswers` (the route below serves the rest: a
# HEAD, a request with an Origin, and the spec).
CONSTANT_ANSWERS = {"/health/live": LIVE}


@blp.route("/health/live")
@public
@exempt  # probes, scrapes and operators are never refused
@blp.response(200, HealthSchema)
def live() -> Response:
    """The process is up (answered from a constant: probes come often)."""
    return ApiResponse(LIVE, mimetype="application/json")


@blp.route("/health/ready")
@public
@exempt  # probes, scrapes and operators are never refused
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="The database is unreachable.")
def ready() -> dict[str, Any] | Response:
    """Ready for traffic: the database answers."""
    if not service.database_ready():
        return problem(503, "service_unavailable", "The database is unreachable.")
    return {"status": "ok", "checks": {"database": {"status": "ok"}}}


@blp.route("/metrics")
@operator_token
@exempt  # probes, scrapes and operators are never refused
@blp.doc(responses={200: {"description": "Prometheus text format."}})
def metrics() -> Response:
    """Prometheus metrics (needs `Bearer <METRICS_TOKEN>` when it is set)."""
    return metrics_response(current_app)


class StatsSchema(Schema):
    users = fields.Dict()
    jobs = fields.Dict()
    content = fields.Dict()


class CacheStatusSchema(Schema):
    backend = fields.String()
    hits = fields.Integer()
    misses = fields.Integer()
    last_warm_up = fields.Dict(allow_none=True)


class RateLimitStatusSchema(Schema):
    storage = fields.String()
    healthy = fields.Boolean()
    default_limit = fields.String()


@blp.route("/api/v1/admin/cache")
@roles_required(Role.ADMIN)
@exempt  # probes, scrapes and operators are never refused
@blp.response(200, CacheStatusSchema)
@blp.alt_response(403, description="Administrators only.")
def cache_status() -> dict[str, Any]:
    """The cache backend, cached-read hits and misses, and the last warm-up."""
    return {
        "backend": current_app.config["CACHE_TYPE"],
        **cache_counts(),
        "last_warm_up": warmup.last_run(),
    }


@blp.route("/api/v1/admin/cache", methods=["DELETE"])
@roles_required(Role.ADMIN)
@exempt  # probes, scrapes and operators are never refused
@blp.response(204)
@blp.alt_response(403, description="Administrators only.")
def clear_cache() -> None:
    """Invalidate every cached public read (sessions and lockouts are kept)."""
    response_cache.invalidate_all()


@blp.route("/api/v1/admin/rate-limits")
@roles_required(Role.ADMIN)
@exempt  # probes, scrapes and operators are never refused
@blp.response(200, RateLimitStatusSchema)
@blp.alt_response(403, description="Administrators only.")
def rate_limit_status() -> dict[str, Any]:
    """Which storage the rate limiter uses, and whether it answers."""
    return service.rate_limit_status()


@blp.route("/api/v1/admin/stats")
@roles_required(Role.ADMIN)
@exempt  # probes, scrapes and operators are never refused
@blp.response(200, StatsSchema)
@blp.alt_response(403, description="Administrators only.")
def stats() -> dict[str, Any]:
    """Users by role and verification, jobs by kind and status, content counts."""
    return service.stats()
