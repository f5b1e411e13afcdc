"""Operating the web answers: security headers by environment, the docs pages served offline
under a strict Content-Security-Policy, and gzip for large JSON answers.

The last test loads /docs and /redoc in headless Chromium (Debian's package, installed by
.ci/run) from the Procfile's web command, and proves they render with nothing from any host
but the app's."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, Response

from api import compression, create_app
from api.docs import REDOC_CSP, SWAGGER_UI_CSP, assets_version
from api.extensions import db
from tests.conftest import REDIS_DB_BROKER, REDIS_DB_CACHE, REDIS_HOST_URL
from tests.test_config import PRODUCTION
from tests.test_inquiries import VALID
from tests.test_job_events import gunicorn, read_events

HSTS = "max-age=31536000; includeSubDomains"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def production_app(postgres_url: str, tmp_path: Path) -> Iterator[Flask]:
    """A complete production environment (tests/test_config.py), on the test servers."""
    app = create_app(
        {
            **PRODUCTION,
            "DATABASE_URL": postgres_url,
            "REDIS_URL": f"{REDIS_HOST_URL}/{REDIS_DB_CACHE}",
            "CELERY_BROKER_URL": f"{REDIS_HOST_URL}/{REDIS_DB_BROKER}",
            "DATA_DIR": str(tmp_path / "var"),
            "LOG_LEVEL": "WARNING",
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


# --- security headers ---------------------------------------------------------------------


def assert_common_headers(response: Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("app_env", ["testing", "development"])
def test_outside_production_answers_carry_no_hsts(make_app, app_env):
    client = make_app(APP_ENV=app_env).test_client()

    for path in ("/health/live", "/api/v1/destinations", "/no-such-page", "/docs"):
        response = client.get(path)
        assert_common_headers(response)
        assert "Strict-Transport-Security" not in response.headers, path


def test_production_answers_carry_hsts(production_app):
    client = production_app.test_client()

    for path in ("/health/live", "/api/v1/destinations", "/no-such-page", "/docs", "/redoc"):
        response = client.get(path)
        assert_common_headers(response)
        assert response.headers.getlist("Strict-Transport-Security") == [HSTS], path
    assert client.get("/docs").headers["Content-Security-Policy"] == SWAGGER_UI_CSP


def test_api_answers_may_load_run_or_frame_nothing(client):
    for response in (
        client.get("/health/live"),
        client.get("/api/v1/destinations"),
        client.post("/api/v1/inquiries", json={}),  # a 422 problem
        client.get("/openapi.json"),
        client.get("/no-such-page"),
    ):
        assert response.headers.getlist("Content-Security-Policy") == [API_CSP]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parsed}


@pytest.mark.parametrize(("path", "policy"), [("/docs", SWAGGER_UI_CSP), ("/redoc", REDOC_CSP)])
def test_docs_pages_have_a_strict_policy_of_their_own(client, path, policy):
    response = client.get(path)

    assert response.headers.getlist("Content-Security-Policy") == [policy]
    found = directives(policy)
    assert found["default-src"] == ["'none'"]
    assert found["script-src"] == ["'self'"]  # no inline script, no hash, no eval
    assert found["frame-ancestors"] == ["'none'"]
    assert found["base-uri"] == ["'none'"]
    assert found["object-src"] == ["'none'"]
    assert found["connect-src"] == ["'self'"]
    every_source = [source for sources in found.values() for source in sources]
    assert "'unsafe-inline'" not in every_source
    assert "'unsafe-eval'" not in every_source
    # No outside host: only 'self', 'none', hashes, and the schemes data: (images) and blob:
    # (ReDoc's search worker), which name no host.
    assert {
        source
        for source in every_source
        if not re.fullmatch(r"'(self|none|sha256-[A-Za-z0-9+/=]+)'|data:|blob:", source)
    } == set()


# --- the docs pages, offline --------------------------------------------------------------


class PageParts(HTMLParser):
    """Every URL a page refers to, and any inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "spec-url", "data-spec-url", "action", "srcset"):
            if found.get(name):
                self.urls.append(found[name] or "")
        if "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(f"<{tag}> attribute")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = "src" if "src" in found else found.get("type") or "text/javascript"

    def handle_data(self, data: str) -> None:
        if self._in_script not in {None, "src", "application/json"} and data.strip():
            self.inline.append(f"<script>{data[:40]}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_refer_only_to_this_app(client, path):
    response = client.get(path)
    page = PageParts()
    page.feed(response.get_data(as_text=True))

    assert response.status_code == 200
    assert page.inline == []
    assert page.urls  # the parser found the page's files
    for url in page.urls:
        assert re.match(r"/[^/]", url), url  # a path on this origin, never //host
        loaded = client.get(url)
        assert loaded.status_code == 200, url
    assets = [url for url in page.urls if url.startswith("/docs/assets/")]
    assert len(assets) >= 2  # the bundle and a stylesheet, at least
    for url in assets:
        assert url.endswith(f"?v={assets_version()}"), url
    assert "cdn" not in response.get_data(as_text=True).lower()


def test_docs_assets_are_immutable_under_their_version_and_revalidated_otherwise(client):
    name = "/docs/assets/swagger-ui/swagger-ui-bundle.js"

    current = client.get(f"{name}?v={assets_version()}")
    stale = client.get(f"{name}?v=an-old-release")
    unversioned = client.get(name)
    again = client.get(
        f"{name}?v={assets_version()}", headers={"If-None-Match": current.headers["ETag"]}
    )

    assert current.status_code == 200
    assert current.mimetype == "text/javascript"
    assert current.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "no-cache" in stale.headers["Cache-Control"]
    assert "no-cache" in unversioned.headers["Cache-Control"]
    assert stale.data == current.data
    assert again.status_code == 304
    assert client.get("/docs/assets/swagger-ui/../../../config/__init__.py").status_code == 404
    assert client.get("/docs/assets/swagger-ui/index.html").status_code == 404  # listed only


# --- compression --------------------------------------------------------------------------


def vary(response: Response) -> set[str]:
    return {value.strip() for value in response.headers.get("Vary", "").split(",")}


def test_large_json_is_gzipped_when_the_client_accepts_it(client):
    plain = client.get("/openapi.json")
    zipped = client.get("/openapi.json", headers={"Accept-Encoding": "gzip, deflate, br"})
    refused = client.get("/openapi.json", headers={"Accept-Encoding": "gzip;q=0, identity"})
    anything = client.get("/openapi.json", headers={"Accept-Encoding": "*"})

    assert len(plain.data) > 50_000
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert int(zipped.headers["Content-Length"]) == len(zipped.data) < len(plain.data) / 4
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()
    assert "Content-Encoding" not in refused.headers
    assert anything.headers["Content-Encoding"] == "gzip"
    for response in (plain, zipped, refused):  # a shared cache keeps the forms apart
        assert "Accept-Encoding" in vary(response)
        assert "Origin" in vary(response)  # CORS's Vary is kept


def test_small_answers_are_never_compressed(client):
    response = client.get("/health/live", headers={"Accept-Encoding": "gzip"})

    assert len(response.data) < compression.MIN_BYTES
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" not in vary(response)
    assert response.get_json()["status"] == "ok"


def test_a_cached_read_keeps_its_etag_and_304_when_compressed(client):
    """The gzip form's ETag is the weak form of the plain one: revalidating either gets 304."""
    url = "/api/v1/destinations"
    plain = client.get(url)
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    tag = plain.headers["ETag"]

    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert tag.startswith('"')
    assert zipped.headers["ETag"] == f"W/{tag}"
    assert zipped.headers["Cache-Control"] == plain.headers["Cache-Control"]
    for response in (plain, zipped):  # the prepared headers of a cache hit, each once
        assert vary(response) == {"Accept-Encoding", "Origin"}
        names = [name for name, _ in response.headers]
        for name in ("Vary", "ETag", "Cache-Control", "Content-Length", "X-Request-ID"):
            assert names.count(name) == 1, (name, names)

    weak = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": f"W/{tag}"})
    strong = client.get(url, headers={"If-None-Match": tag})

    assert weak.status_code == 304
    assert weak.data == b""
    assert weak.headers["ETag"] == f"W/{tag}"
    assert "Accept-Encoding" in vary(weak)
    assert strong.status_code == 304
    assert strong.headers["ETag"] == tag
    for response in (weak, strong):  # a 304 varies as its 200 does, each header once
        assert vary(response) == {"Accept-Encoding", "Origin"}
        names = [name for name, _ in response.headers]
        assert names.count("Vary") == names.count("ETag") == 1, names


def test_event_streams_are_never_compressed(make_app):
    client = make_app(SSE_MAX_SECONDS="1").test_client()
    location = client.post("/api/v1/inquiries", json=VALID).headers["Location"]

    stream = client.get(f"{location}/events", headers={"Accept-Encoding": "gzip"})

    assert stream.mimetype == "text/event-stream"
    assert "Content-Encoding" not in stream.headers
    assert [event["job"]["status"] for event in read_events(stream)] == ["queued"]


@pytest.mark.parametrize(
    "make_response",
    [
        lambda: Response(b"\x89PNG" + b"\0" * 4096, mimetype="image/png"),  # a media file
        lambda: Response(b"<p>" + b"x" * 4096, mimetype="text/html"),
        lambda: Response(
            gzip.compress(b"[" + b"1," * 4096 + b"1]"),
            mimetype="application/json",
            headers={"Content-Encoding": "gzip"},  # compressed already: not twice
        ),
        lambda: Response(iter([b"{}"] * 1024), mimetype="application/json"),  # streamed
    ],
)
def test_what_is_not_json_or_is_already_encoded_passes_untouched(app, make_response):
    response = make_response()
    before = (dict(response.headers), response.response)
    with app.test_request_context(headers={"Accept-Encoding": "gzip"}):
        after = compression._compress(response)

    assert (dict(after.headers), after.response) == before


# --- in a browser -------------------------------------------------------------------------


def run_chromium(url: str, workdir: Path, *extra: str) -> tuple[str, str]:
    """Load `url` in headless Chromium; (rendered DOM, console log). Names resolve to nothing
    but 127.0.0.1, so neither the page nor the browser's own services can reach any host."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={workdir / 'profile'}",
            f"--log-net-log={workdir / 'net-log.json'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
            "--virtual-time-budget=10000",
            *extra,
            "--dump-dom",
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        dom, log = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, log[-2000:]
    return dom, log


def read_net_log(net_log: Path, origin: str) -> tuple[list[str], list[str]]:
    """From Chromium's net log: the URLs the page asked for (the document and everything it
    loaded; the browser's own background requests have no initiator and are left out), and
    the address of every TCP connection the browser made, for any reason."""
    log = json.loads(net_log.read_text())
    types = log["constants"]["logEventTypes"]
    requests, addresses = [], []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == types["URL_REQUEST_START_JOB"] and "url" in params:
            if params.get("initiator") == origin or params.get("request_type") == "main frame":
                requests.append(params["url"])
        elif event["type"] == types["TCP_CONNECT_ATTEMPT"] and "address" in params:
            addresses.append(params["address"])
    return requests, addresses


def csp_violations(console: str) -> list[str]:
    return [line for line in console.splitlines() if "Content Security Policy" in line]


def colours(png: Path) -> list[tuple[int, tuple[int, ...]]]:
    from PIL import Image

    with Image.open(png) as image:
        return image.convert("RGB").getcolors(maxcolors=1 << 24) or []


@pytest.mark.timeout(240)
def test_the_docs_render_offline_in_a_browser(base_env, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium (.ci/run does)")
    with gunicorn(base_env, WEB_CONCURRENCY="1") as port:
        origin = f"http://127.0.0.1:{port}"
        screenshot = tmp_path / "docs.png"
        dom, console = run_chromium(
            f"{origin}/docs", tmp_path / "docs", f"--screenshot={screenshot}"
        )
        docs_requests, docs_connections = read_net_log(tmp_path / "docs" / "net-log.json", origin)
        redoc_dom, redoc_console = run_chromium(f"{origin}/redoc", tmp_path / "redoc")
        redoc_requests, redoc_connections = read_net_log(
            tmp_path / "redoc" / "net-log.json", origin
        )

    # Swagger UI rendered the operations from the spec, styled by its stylesheet.
    assert "opblock-summary-path" in dom
    assert "/api/v1/inquiries" in dom
    assert "/api/v1/jobs/{job_id}" in dom
    assert screenshot.stat().st_size > 10_000
    found = colours(screenshot)
    assert len(found) > 1  # not blank
    assert any(colour == (0x61, 0xAF, 0xFE) for _, colour in found)  # the GET badges' blue
    assert csp_violations(console) == []  # the policy allowed all it needed, nothing else
    for requests in (docs_requests, redoc_requests):
        assert [url for url in requests if not url.startswith(origin + "/")] == []
        assert f"{origin}/openapi.json" in requests
    # Nor did anything else leave the machine: the only connections were to the app.
    for connections in (docs_connections, redoc_connections):
        assert connections
        assert set(connections) == {f"127.0.0.1:{port}"}
    assert any("/docs/assets/swagger-ui/swagger-ui-bundle.js" in url for url in docs_requests)

    # ReDoc rendered too; the one thing its policy stopped is the bundle's outside logo.
    assert "BaliBlissed API" in redoc_dom
    assert "/health/live" in redoc_dom
    assert any("/docs/assets/redoc/redoc.standalone.js" in url for url in redoc_requests)
    for line in csp_violations(redoc_console):
        assert re.search(r"Loading the image 'https://", line), line
