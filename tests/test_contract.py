"""The OpenAPI document is a contract a frontend can generate a client from.

Schemathesis generates requests from `/openapi.json` (valid ones and, for operations that take
input, invalid ones) and sends them to the WSGI app, as a signed-in user or, for the
administrators' operations, an administrator; every response must pass all of its checks
(status codes, content types, headers and bodies as documented, valid data accepted, invalid
data rejected, no 5xx). Operations that end the caller's session or account (logout, account
deletion, password changes) run as a throwaway user of their own, so they only ever destroy
their own data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import flask_smorest
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup

from api import create_app
from api.contract import Blueprint, MissingAccessDeclaration
from api.extensions import api
from api.security import public, roles_required, signed_in
from tests.conftest import token_for

OPERATION_IDS = [
    *("auth.change_password", "auth.delete_me", "auth.export_me", "auth.forgot_password"),
    *("auth.login", "auth.logout", "auth.me", "auth.oauth_callback", "auth.oauth_exchange"),
    *("auth.oauth_login", "auth.refresh", "auth.register", "auth.resend_verification"),
    *("auth.reset_password", "auth.update_me", "auth.verify_email"),
    *("blog.create_post", "blog.delete_post", "blog.get_post", "blog.list_posts"),
    *("blog.update_post", "catalogue.get_destination", "catalogue.list_destinations"),
    *("chat.chat", "feeds.atom", "feeds.sitemap"),
    *("inquiries.list_inquiries", "inquiries.submit_inquiry", "inquiries.update_inquiry"),
    *("itineraries.as_markdown", "itineraries.as_text", "itineraries.calendar"),
    *("itineraries.delete_itinerary", "itineraries.email_itinerary"),
    *("itineraries.get_itinerary", "itineraries.list_itineraries"),
    *("itineraries.submit_itinerary", "jobs.cancel_job", "jobs.get_job", "jobs.job_events"),
    *("jobs.list_jobs", "media.delete_media", "media.get_media", "media.serve", "media.upload"),
    *("operations.cache_status", "operations.clear_cache", "operations.health"),
    *("operations.live", "operations.metrics", "operations.rate_limit_status"),
    *("operations.ready", "operations.stats"),
    *("reviews.create_review", "reviews.delete_review", "reviews.get_review"),
    *("reviews.list_reviews", "reviews.review_summary", "reviews.update_review"),
    *("users.create_user", "users.delete_user", "users.get_user", "users.list_users"),
    *("users.moderate_testimonial", "users.public_profile", "users.testimonials"),
    *("users.update_user", "webhooks.deliveries", "webhooks.rotate_secret"),
    "webhooks.show_secret",
]

EXAMPLES = 5  # per operation and generation mode: enough to cross every schema, bounded time
# Operations after which the caller's tokens stop working: each case gets a fresh user.
SESSION_ENDING = {
    "auth.logout",
    "auth.delete_me",
    "auth.change_password",
    "auth.refresh",
}
# What still fails, each with its reason (also in the README): (operationId, the failure's
# kind, text its response contains) -> why the spec cannot say it.
SECRET = "a value only the account holder or its email knows, which generated data never has"
UNKNOWN_ID = "an id of the caller's own data, which generated data never has"
KNOWN: dict[tuple[str, str, str], str] = {
    ("auth.delete_me", "RejectedPositiveData", "password is needed"): (
        "`password` is required only for an account that has one (not OAuth-only ones)"
    ),
    ("auth.oauth_exchange", "RejectedPositiveData", "invalid_code"): SECRET,
    ("auth.reset_password", "RejectedPositiveData", "invalid_token"): SECRET,
    ("auth.verify_email", "RejectedPositiveData", "invalid_token"): SECRET,
    ("auth.update_me", "RejectedPositiveData", "No media of yours"): UNKNOWN_ID,
    ("blog.create_post", "RejectedPositiveData", "No media of yours"): UNKNOWN_ID,
    ("blog.update_post", "RejectedPositiveData", "No media of yours"): UNKNOWN_ID,
    ("reviews.create_review", "RejectedPositiveData", "No media of yours"): UNKNOWN_ID,
    ("reviews.update_review", "RejectedPositiveData", "No media of yours"): UNKNOWN_ID,
    ("inquiries.submit_inquiry", "RejectedPositiveData", "Must be today or later"): (
        "dates must not be in the past: JSON Schema has no relative date bound (documented)"
    ),
    ("itineraries.submit_itinerary", "RejectedPositiveData", "Must be today or later"): (
        "dates must not be in the past: JSON Schema has no relative date bound (documented)"
    ),
    ("itineraries.submit_itinerary", "RejectedPositiveData", "is too low for"): (
        "the minimum budget depends on the party and the days (documented)"
    ),
    ("auth.login", "RejectedPositiveData", "account_locked"): (
        "the generated wrong passwords lock the account (423, documented): the lockout works"
    ),
    ("media.upload", "RejectedPositiveData", "unsupported_media_type"): (
        "files are judged by their content (a real image or video), not by the schema"
    ),
    ("reviews.create_review", "RejectedPositiveData", "Unknown review target"): (
        "`target` is `agency` or a destination slug: catalogue data, not a fixed enum"
    ),
    ("reviews.review_summary", "RejectedPositiveData", "Unknown review target"): (
        "`target` is `agency` or a destination slug: catalogue data, not a fixed enum"
    ),
}
# Rules of every operation with such a field: text is trimmed before its length is checked
# (JSON Schema counts raw characters), a URL may not contain NUL (Werkzeug refuses it, 400).
KNOWN_EVERYWHERE: dict[tuple[str, str], str] = {
    ("RejectedPositiveData", "Length must be between"): "lengths count the trimmed text",
    ("RejectedPositiveData", "Shorter than minimum length"): "lengths count the trimmed text",
    ("RejectedPositiveData", "may not contain NUL"): "NUL is refused in any URL",
    ("RejectedPositiveData", "callback URL is not allowed"): (
        "a callback host must resolve to a public address (SSRF guard; documented)"
    ),
    ("RejectedPositiveData", "current password is wrong"): SECRET,
    ("RejectedPositiveData", "This password is too common"): (
        "the blocklist of common passwords (said in the description)"
    ),
    ("RejectedPositiveData", "Do not use your email address or username"): (
        "a new password must not contain the email or username (said in the description)"
    ),
    ("RejectedPositiveData", "Age must be between 13 and 120"): (
        "a birth date's bound moves with today (said in the description)"
    ),
    ("RejectedPositiveData", "Not a known IANA time zone"): (
        "time zones are the server's IANA database: hundreds of names (documented)"
    ),
}


def _padded(value: Any) -> bool:
    """Some text in `value` has surrounding whitespace (which `Text` trims before checking)."""
    if isinstance(value, str):
        return value != value.strip()
    if isinstance(value, dict):
        return any(_padded(item) for item in value.values())
    if isinstance(value, list):
        return any(_padded(item) for item in value)
    return False


def _undeclared_query(case: Any) -> bool:
    """The query has a parameter the operation does not declare."""
    declared = {
        parameter["name"]
        for parameter in case.operation.definition.raw.get("parameters", [])
        if parameter.get("in") == "query"
    }
    return isinstance(case.query, dict) and bool(set(case.query) - declared)


def is_known(operation_id: str, kind: str, detail: str, case: Any) -> bool:
    if kind == "AcceptedNegativeData" and _padded(case.body):
        return True  # over maxLength only by whitespace, which is trimmed first
    if kind == "AcceptedNegativeData" and _undeclared_query(case):
        return True  # unknown query parameters are ignored (cache busters, utm_* tags)
    answer = detail.rsplit(" -> ", 1)[-1]  # the words of the response, not of the request
    if any((operation_id, kind) == (op, k) and text in answer for op, k, text in KNOWN):
        return True
    return any(kind == k and text in answer for k, text in KNOWN_EVERYWHERE)


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId"))


def _failures(error: BaseException) -> Iterator[Failure]:
    if isinstance(error, FailureGroup):
        for inner in error.exceptions:
            yield from _failures(inner)
    elif isinstance(error, Failure):
        yield error


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document /openapi.json serves (it depends only on the code: an offline app)."""
    data_dir = tmp_path_factory.mktemp("spec")
    app = create_app({"APP_ENV": "development", "DATA_DIR": str(data_dir)})
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _resolve(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    ref = response.get("$ref")
    if ref is None:
        return response
    resolved: dict[str, Any] = spec["components"]["responses"][ref.rsplit("/", 1)[1]]
    return resolved


# --- the document ---------------------------------------------------------------------------


def test_every_operation_has_a_stable_unique_operation_id(spec):
    ids = [operation["operationId"] for _, _, operation in _operations(spec)]

    assert sorted(ids) == sorted(OPERATION_IDS)  # renaming one breaks generated clients
    assert len(set(ids)) == len(ids)


def test_the_bearer_scheme_is_declared_and_every_operation_says_who_may_call_it(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearerAuth"]["description"],
    }
    by_id = {operation["operationId"]: operation for _, _, operation in _operations(spec)}

    assert by_id["catalogue.list_destinations"]["security"] == []  # public
    assert by_id["itineraries.submit_itinerary"]["security"] == [{}, {"bearerAuth": []}]
    assert by_id["auth.me"]["security"] == [{"bearerAuth": []}]
    assert by_id["users.list_users"]["security"] == [{"bearerAuth": []}]
    assert by_id["users.list_users"]["x-roles"] == ["admin"]
    assert by_id["operations.metrics"]["security"] == [{}, {"operatorToken": []}]
    for operation in by_id.values():
        assert "security" in operation, operation["operationId"]
        if {"bearerAuth": []} in operation["security"]:
            assert "401" in operation["responses"], operation["operationId"]
        if operation.get("x-roles"):
            assert "403" in operation["responses"], operation["operationId"]


def test_every_documented_error_is_problem_json(spec):
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    checked = 0
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if status != "default" and int(status) < 400:
                continue
            content = _resolve(spec, response).get("content", {})
            if path == "/health" and status == "503":  # the health report itself
                assert "application/json" in content
                continue
            assert content == {"application/problem+json": problem}, (method, path, status)
            checked += 1
    assert checked > 150
    fields = spec["components"]["schemas"]["Problem"]
    assert set(fields["required"]) == {"type", "title", "status", "code"}
    assert {"detail", "instance", "errors", "request_id"} <= set(fields["properties"])


def test_the_schemas_state_the_rules_the_api_enforces(spec):
    schemas = spec["components"]["schemas"]
    profile = schemas["ProfileUpdate"]
    itinerary = schemas["ItineraryRequest"]["properties"]

    assert profile["minProperties"] == 1
    assert profile["properties"]["bio"]["maxLength"] == 160
    assert profile["properties"]["website"]["format"] == "uri"
    assert profile["properties"]["website"]["pattern"].startswith("^(http|https)://")
    assert "pattern" in profile["properties"]["full_name"]  # no control characters
    assert itinerary["budget"]["enum"] == ["budget", "moderate", "luxury"]
    assert itinerary["duration_days"] == {"type": "integer", "minimum": 1, "maximum": 30}
    assert "Today or later" in itinerary["start_date"]["description"]
    assert schemas["Register"]["properties"]["password"]["minLength"] == 8


# --- the mechanism --------------------------------------------------------------------------


def test_a_view_without_an_access_declaration_cannot_be_registered():
    blp = Blueprint("example", __name__)

    with pytest.raises(MissingAccessDeclaration, match=r"example\.undeclared"):

        @blp.route("/undeclared")
        def undeclared() -> str:
            return "no"

    @blp.route("/declared")
    @public
    def declared() -> str:
        return "yes"


def test_a_view_declares_its_access_once():
    with pytest.raises(TypeError, match="twice"):

        @signed_in
        @roles_required("admin")
        def confused() -> None:
            return None


def test_only_contract_blueprints_are_registered():
    with pytest.raises(TypeError, match=r"api\.contract\.Blueprint"):
        api.register_blueprint(flask_smorest.Blueprint("plain", __name__))


def test_an_empty_or_missing_profile_change_is_422_problem_json(app):
    client = app.test_client()
    headers = token_for(app)

    for body in ({"json": {}}, {}):
        response = client.patch("/api/v1/auth/me", headers=headers, **body)
        assert response.status_code == 422
        assert response.content_type == "application/problem+json"
        assert response.get_json()["code"] == "validation_error"


def test_the_declared_roles_are_enforced_before_the_view(app):
    client = app.test_client()

    assert client.get("/api/v1/users").status_code == 401
    assert client.get("/api/v1/users", headers=token_for(app)).status_code == 403
    assert client.get("/api/v1/users", headers=token_for(app, role="admin")).status_code == 200


# --- schemathesis ---------------------------------------------------------------------------


@pytest.fixture
def contract_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(METRICS_TOKEN="operator-secret-for-the-contract-test")


@pytest.mark.timeout(300)  # about 60 s here; the margin is for a loaded CI machine
def test_the_api_keeps_its_openapi_contract(contract_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", contract_app)
    user = token_for(contract_app, role="user")
    admin = token_for(contract_app, role="admin")
    operator = {"Authorization": "Bearer operator-secret-for-the-contract-test"}
    seen: dict[tuple[str, str], list[str]] = {}

    def headers_for(operation: Any) -> dict[str, str]:
        raw = operation.definition.raw
        if raw.get("x-access") == "operator_token":
            return operator
        if _operation_id(operation) in SESSION_ENDING:
            return token_for(contract_app, uuid.uuid4())
        return admin if raw.get("x-roles") else user

    def explore(operation: Any, mode: GenerationMode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            headers = {**headers_for(operation), "Accept-Encoding": "identity"}
            response = case.call(headers=headers)
            try:
                case.validate_response(response, headers=headers)
            except (Failure, FailureGroup) as error:
                for failure in _failures(error):
                    operation_id, kind = _operation_id(operation), type(failure).__name__
                    detail = (
                        f"{failure.title} | sent {case.body!r:.300} {case.query!r:.200} -> "
                        f"{response.status_code} {response.text[:400]}"
                    )
                    if not is_known(operation_id, kind, detail, case):
                        seen.setdefault((operation_id, kind), []).append(detail)

        try:
            run()
        except Unsatisfiable:
            # Nothing to make invalid: the operation takes no input (e.g. GET /health/live).
            assert mode is GenerationMode.NEGATIVE, _operation_id(operation)

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            explore(operation, mode)

    report = [f"{op} {kind}: {details[0]}" for (op, kind), details in sorted(seen.items())]
    assert not report, "\n".join(report)


def test_remembered_query_parses_are_copies_and_refusals_are_never_remembered(client, monkeypatch):
    from api import contract
    from api.pagination import PageArgsSchema

    monkeypatch.setattr(contract, "QUERY_MEMO_ENTRIES", 2)
    parser = contract.ArgumentsParser()
    schema = PageArgsSchema()
    app = client.application

    def parse(query: str) -> dict[str, Any]:
        with app.test_request_context(f"/api/v1/posts?{query}"):
            return parser.parse(schema, location="query")

    first = parse("page=2&per_page=5")
    first.pop("page")  # a view pops what it reads
    assert parse("page=2&per_page=5") == {"page": 2, "per_page": 5}
    for query in ("page=3", "page=4", "page=5"):
        parse(query)
    assert len(parser._memo) == 2  # bounded

    # An invalid query string is refused every time it comes, never remembered as valid.
    refusals = [client.get("/api/v1/posts?per_page=100000") for _ in range(2)]
    assert [answer.status_code for answer in refusals] == [422, 422]
    assert client.get("/api/v1/posts?per_page=2").get_json()["meta"]["per_page"] == 2
