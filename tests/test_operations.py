"""/health, /health/live, /health/ready, /metrics and the API documentation."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.conftest import PROJECT_ROOT, free_port, wait_for_job
from tests.test_inquiries import VALID


def test_health_reports_every_dependency(client, worker):
    response = client.get("/health")

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
        "workers": "ok",
    }


def test_health_is_degraded_without_workers_or_redis(make_app):
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()

    body = client.get("/health").get_json()

    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["workers"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"


def test_health_is_503_when_the_database_is_down(make_app):
    client = make_app(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    ).test_client()

    health = client.get("/health")
    ready = client.get("/health/ready")
    live = client.get("/health/live")

    assert health.status_code == 503
    assert health.get_json()["status"] == "down"
    assert health.get_json()["checks"]["database"]["status"] == "down"
    assert ready.status_code == 503
    assert ready.content_type == "application/problem+json"
    assert live.status_code == 200


def test_submitting_while_the_database_is_down_is_a_503_not_a_500(make_app):
    client = make_app(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    ).test_client()

    response = client.post("/api/v1/inquiries", json=VALID)

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.content_type == "application/problem+json"
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_metrics_count_requests_and_jobs(client, worker):
    response = client.post("/api/v1/inquiries", json=VALID)
    wait_for_job(client, response.headers["Location"])
    client.post("/api/v1/inquiries", json={})

    metrics = client.get("/metrics")

    text = metrics.get_data(as_text=True)
    assert metrics.content_type.startswith("text/plain")
    assert (
        'baliblissed_http_requests_total{method="POST",route="/api/v1/inquiries",status="202"}'
        in text
    )
    assert 'route="/api/v1/inquiries",status="422"' in text
    assert 'baliblissed_http_request_duration_seconds_bucket{le="0.005",method="POST"' in text
    assert 'baliblissed_jobs{kind="email",status="succeeded"} 1.0' in text
    assert 'baliblissed_queue_depth{queue="email"} 0.0' in text


def test_openapi_spec_and_documentation_pages(client):
    spec = client.get("/openapi.json").get_json()

    assert spec["openapi"].startswith("3.")
    assert "/api/v1/inquiries" in spec["paths"]
    assert "/api/v1/jobs/{job_id}" in spec["paths"]
    assert "Problem" in str(spec["components"])
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200


def test_flower_metrics_need_the_same_credentials_as_its_ui(base_env):
    port = free_port()
    flower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
            "--basic-auth=ops:s3cret",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, **base_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/healthcheck", timeout=1)
                break
            except OSError:
                time.sleep(0.3)

        def status(path: str, credentials: str | None = None) -> int:
            request = urllib.request.Request(f"{url}{path}")
            if credentials:
                token = base64.b64encode(credentials.encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            try:
                return urllib.request.urlopen(request, timeout=5).status
            except urllib.error.HTTPError as error:
                return error.code

        assert status("/metrics") == 401
        assert status("/metrics", "ops:wrong") == 401
        assert status("/metrics", "ops:s3cret") == 200
        assert status("/", "ops:s3cret") == 200
    finally:
        flower.terminate()
        flower.wait(10)


def test_each_job_kind_is_published_to_its_own_queue(client):
    client.post("/api/v1/inquiries", json=VALID)  # no worker: the message waits

    text = client.get("/metrics").get_data(as_text=True)

    assert 'baliblissed_queue_depth{queue="email"} 1.0' in text
    assert 'baliblissed_queue_depth{queue="maintenance"} 0.0' in text


def _probe_count(client) -> float:
    line = 'baliblissed_http_requests_total{method="GET",route="/health/live",status="200"} '
    text = client.get("/metrics").get_data(as_text=True)
    return next((float(row[len(line) :]) for row in text.splitlines() if row.startswith(line)), 0)


def test_the_liveness_probe_answered_before_the_app_is_the_apps_own_answer(make_app, capfd):
    # A probe (no Origin) is answered by api.edge.ConstantAnswers; a browser's request (with
    # an Origin) and a HEAD go through the app's route. Same body, headers, metrics and log.
    app = make_app(LOG_LEVEL="INFO", CORS_ORIGINS="https://baliblissed.com")
    client = app.test_client()
    before = _probe_count(client)

    probe = client.get("/health/live", headers={"X-Request-ID": "probe-1"})
    routed = client.get("/health/live", headers={"Origin": "https://elsewhere.example"})
    browser = client.get("/health/live", headers={"Origin": "https://baliblissed.com"})
    head = client.head("/health/live")

    assert probe.status_code == routed.status_code == browser.status_code == head.status_code
    assert probe.status_code == 200
    assert probe.get_json() == routed.get_json() == {"status": "ok", "checks": {}}
    assert probe.data == routed.data
    assert head.data == b""
    assert probe.headers["X-Request-ID"] == "probe-1"
    assert len(routed.headers["X-Request-ID"]) == 16
    unlike = {"X-Request-ID"}
    assert sorted((k, v) for k, v in probe.headers if k not in unlike) == sorted(
        (k, v) for k, v in routed.headers if k not in unlike
    )
    assert "Access-Control-Allow-Origin" not in routed.headers
    assert browser.headers["Access-Control-Allow-Origin"] == "https://baliblissed.com"
    assert _probe_count(client) - before == 3  # the HEAD is counted as a HEAD
    logged = [line for line in capfd.readouterr().err.splitlines() if "probe-1" in line]
    assert len(logged) == 1
    assert "/health/live" in logged[0]
    assert "200" in logged[0]


def test_the_liveness_probe_layer_leaves_every_other_request_to_the_app(client):
    assert client.post("/health/live").status_code == 405
    assert client.get("/health/live/").status_code == 404
    assert client.get("/health/ready").get_json()["checks"] == {"database": {"status": "ok"}}
    assert client.get("/health/live?verbose=1").get_json() == {"status": "ok", "checks": {}}
    assert client.get("/health/live?%00").status_code == 400  # the app's bounds see the query
