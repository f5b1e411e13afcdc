"""Fuzz every route that reads a body, enumerated from the app's URL map and described by its
OpenAPI spec: hostile JSON (wrong types, 1 MB strings, deep nesting, NUL, lone surrogates,
huge numbers, NaN), bytes that are not JSON or not UTF-8, and hostile files for the multipart
upload. Whatever arrives, the answer is below 500 and every 4xx is problem+json; afterwards
the same app still serves a normal request.

Seeded (`derandomize`) and bounded (FUZZ_EXAMPLES examples per route), so a failure reruns
identically and the directory stays within its time budget on a loaded machine."""

from __future__ import annotations

import io
import json
import math
import os
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage

from tests.abuse.routes import Route, body_routes, field_names, request_schema, routes
from tests.abuse.spec_app import collection_app, spec
from tests.conftest import create_user, sql, token_for

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
ADMIN = uuid.UUID("0000a0a0-0000-4000-8000-00000000ad01")
PROBLEM = "application/problem+json"
MEGABYTE_STRING = "x" * 1_000_000

FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,  # seeded: the same examples on every run and every machine
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

BODY_ROUTES = body_routes(collection_app())
JSON_ROUTES = [r for r in BODY_ROUTES if request_schema(spec(), r)[0] != "multipart/form-data"]
MULTIPART_ROUTES = [r for r in BODY_ROUTES if request_schema(spec(), r)[0] == "multipart/form-data"]


def assert_answered_well(response: Any, what: str) -> None:
    """The property every hostile request must keep: no 5xx, and 4xx are problem+json."""
    assert response.status_code < 500, (what, response.status_code, response.get_data()[:300])
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == PROBLEM, (what, response.status_code)
        body = response.get_json()
        assert body["status"] == response.status_code, (what, body)
        assert body["code"], (what, body)


def assert_still_healthy(app: Flask) -> None:
    """A normal request by a normal user still succeeds on the same app."""
    client = app.test_client()
    assert client.get("/api/v1/destinations").status_code == 200
    me = client.get("/api/v1/auth/me", headers=token_for(app, uuid.uuid4()))
    assert me.status_code == 200, me.get_json()


def url_of(app: Flask, route: Route) -> str:
    """The route's URL naming real resources the admin made (so a body reaches the code that
    updates a real row, where a stored value could fail), or strangers for other parameters."""
    if "<" not in route.rule:
        return route.url()
    from tests.abuse.test_idor import make_resources

    owned = make_resources(app, ADMIN, role="admin")
    inquiry = sql(app, "SELECT id FROM inquiries LIMIT 1")[0][0]
    return route.url(
        slug=owned.ids["post"],
        review_id=owned.ids["review"],
        itinerary_id=owned.ids["itinerary"],
        job_id=owned.ids["job"],
        media_id=owned.ids["media"],
        inquiry_id=inquiry,
        user_id=create_user(app, username="fuzzed"),
    )


def admin_headers(app: Flask) -> dict[str, str]:
    """A fresh admin token each time: an example may have deleted the account or ended its
    sessions (DELETE /auth/me, a password change), and the next should still get past auth."""
    return token_for(app, ADMIN, role="admin")


# --- hostile values ---------------------------------------------------------------------------

NASTY_SCALARS: list[Any] = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "tail\udfff",
    "\u202egnp.exe",
    "😀" * 300,
    "../../../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00%ff",
    "http://127.0.0.1:6379/",
    "a@b",
    "x" * 5000 + "@example.com",
    "2026-02-30",
    "0000-00-00",
    "9999-12-31T23:59:59Z",
    MEGABYTE_STRING,
    0,
    -1,
    2**31,
    2**63,
    -(2**63) - 1,
    10**400,
    -(10**400),
    1e308,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    None,
    [],
    {},
]

scalars = st.one_of(
    st.sampled_from(NASTY_SCALARS),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int) -> Any:
    node: Any = "bottom"
    for level in range(depth):
        node = [node] if level % 2 else {"k": node}
    return node


def bodies_for(route: Route) -> st.SearchStrategy[Any]:
    """Objects whose keys are the route's documented fields (so each gets past "unknown
    field" and reaches its own validation) or strangers, holding hostile values; and
    top-level values that are not objects at all."""
    names = field_names(request_schema(spec(), route)[1]) or ["name"]
    keys = st.sampled_from(names) | st.text(max_size=12)
    return st.one_of(
        st.dictionaries(keys, values, max_size=len(names) + 1),
        st.dictionaries(st.sampled_from(names), st.just(deep(40)), min_size=1, max_size=1),
        values,
    )


def encode(body: Any, how: str) -> bytes:
    """JSON text as a client might send it: escaped (lone surrogates become \\udXXX escapes,
    NaN becomes the non-standard NaN token) or raw, surrogates passed through as invalid
    UTF-8."""
    try:
        if how == "escaped":
            return json.dumps(body, allow_nan=True).encode()
        return json.dumps(body, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except ValueError:  # an int too long to print: send the digits anyway
        return b'{"n": ' + b"9" * 5000 + b"}"


headers = st.fixed_dictionaries(
    {},
    optional={
        "Idempotency-Key": st.sampled_from(["", "k" * 5000, "a b", "é", "key"]),
        "Accept-Language": st.sampled_from(["*" * 3000, "xx;q=NaN"]),
        "If-Match": st.sampled_from(['"\x7f"', "W/", "*" * 500]),
    },
)


@pytest.mark.parametrize("route", JSON_ROUTES, ids=str)
def test_hostile_json_and_raw_bodies_get_a_4xx_problem_never_a_500(app, route):
    client = app.test_client()
    url = url_of(app, route)

    @FUZZ
    @given(
        body=bodies_for(route),
        how=st.sampled_from(["escaped", "raw"]),
        extra=headers,
        signed_in=st.booleans(),  # anonymous callers take other paths (inquiries, chat)
    )
    def send(body: Any, how: str, extra: dict[str, str], signed_in: bool) -> None:
        auth = admin_headers(app) if signed_in else {}
        response = client.open(
            url,
            method=route.method,
            data=encode(body, how),
            content_type="application/json",
            headers={**auth, **extra},
        )
        assert_answered_well(response, f"{route} {how}")

    send()
    send_raw_bodies(app, route, url)
    assert_still_healthy(app)


RAW_BODIES: dict[str, tuple[bytes, str]] = {
    "truncated": (b'{"email": "a@b.c", ', "application/json"),
    "not json": (b"hello", "application/json"),
    "invalid utf-8": (b'{"name": "\xff\xfe\xc3\x28"}', "application/json"),
    "utf-8 bom": (b'\xef\xbb\xbf{"name": "x"}', "application/json"),
    "utf-16 declared": ('{"name": "x"}'.encode("utf-16"), "application/json; charset=utf-16"),
    "nan tokens": (b'{"a": NaN, "b": Infinity, "c": -Infinity}', "application/json"),
    "5000 digits": (b'{"n": ' + b"9" * 5000 + b"}", "application/json"),
    "deep array": (b"[" * 50_000 + b"]" * 50_000, "application/json"),
    "deep object": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "application/json"),
    "megabyte string": (json.dumps({"name": MEGABYTE_STRING}).encode(), "application/json"),
    "over the limit": (b'{"name": "' + b"x" * 1_100_000 + b'"}', "application/json"),
    "duplicate keys": (b'{"name": "a", "name": {"b": 1}}', "application/json"),
    "null": (b"null", "application/json"),
    "empty": (b"", "application/json"),
    "escaped nul": (b'{"\\u0000": "\\u0000"}', "application/json"),
    "json as text/plain": (b'{"name": "x"}', "text/plain"),
    "form": (b"name=x&name=y&%00=%ff", "application/x-www-form-urlencoded"),
    "multipart without boundary": (b"--x\r\n\r\n", "multipart/form-data"),
    "xml": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        "application/xml",
    ),
}


def send_raw_bodies(app: Flask, route: Route, url: str) -> None:
    """Each of RAW_BODIES once: bytes no generator of JSON values would produce."""
    client = app.test_client()
    for name, (data, content_type) in RAW_BODIES.items():
        response = client.open(
            url,
            method=route.method,
            data=data,
            content_type=content_type,
            headers=admin_headers(app),
        )
        assert_answered_well(response, f"{route} {name}")


# --- hostile files ------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def hostile_files() -> dict[str, bytes]:
    import zipfile

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("bomb.txt", b"\0" * 5_000_000)
    return {
        "empty": b"",
        "one byte": b"\xff",
        "truncated jpeg": jpeg[: len(jpeg) // 2],
        "jpeg header only": jpeg[:20],
        "png claiming 100k x 100k": png_header(100_000, 100_000),
        "png claiming 0 x 0": png_header(0, 0),
        "zip bomb": archive.getvalue(),
        "jpeg+zip polyglot": jpeg + archive.getvalue(),
        "gif+js polyglot": b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1)//;",
        "svg with script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "html": b"<!doctype html><script>alert(1)</script>",
        "elf": b"\x7fELF" + b"\0" * 60,
        "mp4 box of 4 GB": b"\xff\xff\xff\xffftypisom" + b"\0" * 16,
        "random": os.urandom(4096),
    }


def multipart(
    form: dict[str, Any], data: bytes, filename: str, content_type: str
) -> tuple[bytes, str]:
    """A multipart body written by hand: the test client cannot send what a hostile client
    can (lone surrogates as raw bytes, NUL in a file name)."""
    boundary = "fuzz-" + uuid.uuid4().hex
    parts = []
    for key, value in form.items():
        text = str(value).encode("utf-8", "surrogatepass")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode() + text
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '.encode()
        + f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode(
            "utf-8", "surrogatepass"
        )
        + data
    )
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


file_names = st.sampled_from(
    ["photo.jpg", "", "../../../etc/passwd", "a\x00b.jpg", "x" * 2000 + ".png", "ünï.gif", "."]
)
content_types = st.sampled_from(
    ["image/jpeg", "image/png", "application/octet-stream", "text/html", "", "image/svg+xml"]
)


@pytest.mark.parametrize("route", MULTIPART_ROUTES, ids=str)
def test_hostile_files_get_a_4xx_problem_or_an_accepted_job_never_a_500(app, route):
    client: FlaskClient = app.test_client()
    files = hostile_files()
    schema = request_schema(spec(), route)[1]
    text_fields = [name for name in field_names(schema) if name != "file"]

    @FUZZ
    @given(
        name=st.sampled_from(sorted(files)),
        filename=file_names,
        content_type=content_types,
        form=st.dictionaries(st.sampled_from([*text_fields, "file", "extra"]), scalars, max_size=3),
    )
    def send(name: str, filename: str, content_type: str, form: dict[str, Any]) -> None:
        body, body_type = multipart(form, files[name], filename, content_type)
        response = client.open(
            route.url(),
            method=route.method,
            data=body,
            content_type=body_type,
            headers=admin_headers(app),
        )
        assert_answered_well(response, f"{route} {name} {filename!r} {content_type}")

    send()
    send_raw_bodies(app, route, route.url())
    for name, data in files.items():  # every hostile file at least once, under a normal name
        response = client.open(
            route.url(),
            method=route.method,
            data={"file": FileStorage(io.BytesIO(data), "upload.jpg", content_type="image/jpeg")},
            content_type="multipart/form-data",
            headers=admin_headers(app),
        )
        assert_answered_well(response, f"{route} {name}")
    assert_still_healthy(app)


# --- query strings --------------------------------------------------------------------------

GET_ROUTES = [r for r in routes(collection_app()) if r.method == "GET"]


def query_names(route: Route) -> list[str]:
    operation = spec()["paths"].get(route.spec_path, {}).get("get", {})
    names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    return names or ["page"]


query_values = st.one_of(
    st.sampled_from(
        ["", "-1", "0", "1e9", "9" * 5000, "NaN", "null", "[]", "%ff", "\ud800", "a" * 10_000]
    ),
    st.text(max_size=20),
    st.integers().map(str),
)


def percent(text: str) -> str:
    """Percent-encoded as a hostile client would: a lone surrogate as its raw bytes."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def test_hostile_query_strings_on_every_read_get_a_4xx_problem_never_a_500(app):
    """Every GET route (one app, routes drawn by hypothesis), with its documented query
    parameters or strangers set to hostile values; path parameters hostile too."""
    client = app.test_client()
    names = {str(route): query_names(route) for route in GET_ROUTES}

    @settings(FUZZ, max_examples=max(FUZZ_EXAMPLES * 8, len(GET_ROUTES)))
    @given(data=st.data())
    def send(data: st.DataObject) -> None:
        route = data.draw(st.sampled_from(GET_ROUTES))
        query = data.draw(
            st.dictionaries(st.sampled_from(names[str(route)]) | st.text(max_size=8), query_values)
        )
        segment = data.draw(st.sampled_from(["x", "%00", "é", "a" * 3000, "..", "%2e%2e%2f"]))
        url = route.url(slug=segment, username=segment, key=segment, name=segment)
        raw = "&".join(f"{percent(key)}={percent(value)}" for key, value in query.items())
        response = client.get(url, query_string=raw, headers=admin_headers(app))
        assert_answered_well(response, f"{route} {query!r}")

    send()
    assert_still_healthy(app)
