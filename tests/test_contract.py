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

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup

from tests.conftest import token_for

EXAMPLES = 6  # per operation and generation mode: enough to cross every schema, bounded time
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
    ("auth.change_password", "RejectedPositiveData", "current password is wrong"): SECRET,
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
    ("itineraries.email_itinerary", "RejectedPositiveData", "callback URL is not allowed"): (
        "callback hosts must resolve to public addresses (SSRF guard, documented)"
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
# Everywhere: text fields are trimmed before their length is checked, and a URL may not
# contain NUL (Werkzeug refuses it, 400): JSON Schema counts raw characters.
KNOWN_EVERYWHERE: dict[tuple[str, str], str] = {
    ("RejectedPositiveData", "Length must be between"): "lengths count the trimmed text",
    ("RejectedPositiveData", "Shorter than minimum length"): "lengths count the trimmed text",
    ("RejectedPositiveData", "may not contain NUL"): "NUL is refused in any URL",
}


def is_known(operation_id: str, kind: str, detail: str) -> bool:
    return any(
        (operation_id, kind) == (op, k) and text in detail for op, k, text in KNOWN
    ) or any(kind == k and text in detail for k, text in KNOWN_EVERYWHERE)


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId"))


def _failures(error: BaseException) -> Iterator[Failure]:
    if isinstance(error, FailureGroup):
        for inner in error.exceptions:
            yield from _failures(inner)
    elif isinstance(error, Failure):
        yield error


@pytest.fixture
def contract_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(METRICS_TOKEN="operator-secret-for-the-contract-test")


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
                    if not is_known(operation_id, kind, detail):
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
