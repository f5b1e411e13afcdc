"""The jobs API: poll (and long-poll), list, cancel, visibility."""

from __future__ import annotations

import time
import uuid

from tests.conftest import sql, token_for, wait_for_job
from tests.test_inquiries import VALID


def submit(client, **kwargs):
    response = client.post("/api/v1/inquiries", json=VALID, **kwargs)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def test_unknown_job_is_404(client):
    response = client.get(f"/api/v1/jobs/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "not_found"


def test_job_id_that_is_not_a_uuid_is_404(client):
    assert client.get("/api/v1/jobs/12345").status_code == 404
    assert client.post("/api/v1/jobs/not-a-uuid/cancel").status_code == 404


def test_wait_outside_0_to_30_seconds_is_422(client):
    job = submit(client)

    response = client.get(f"/api/v1/jobs/{job['id']}?wait=31")

    assert response.status_code == 422
    assert "wait" in response.get_json()["errors"]


def test_long_poll_returns_when_the_job_finishes(client, worker):
    job = submit(client)

    started = time.monotonic()
    finished = wait_for_job(client, f"/api/v1/jobs/{job['id']}")

    assert finished["status"] == "succeeded"
    assert finished["started_at"] is not None
    assert finished["finished_at"] >= finished["started_at"]
    assert time.monotonic() - started < 10


def test_long_poll_answers_after_the_wait_when_nothing_happens(client):
    job = submit(client)  # no worker: it stays queued

    started = time.monotonic()
    response = client.get(f"/api/v1/jobs/{job['id']}?wait=1")

    assert 0.9 < time.monotonic() - started < 3
    assert response.get_json()["status"] == "queued"


def test_cancel_a_queued_job_then_a_worker_does_not_run_it(app, client, tmp_path):
    job = submit(client)

    response = client.post(f"/api/v1/jobs/{job['id']}/cancel")

    assert response.status_code == 200
    assert response.get_json()["status"] == "canceled"
    assert response.get_json()["finished_at"] is not None
    from tests.conftest import running_worker

    with running_worker(app):
        time.sleep(2)
    assert client.get(f"/api/v1/jobs/{job['id']}").get_json()["status"] == "canceled"
    assert not list((tmp_path / "outbox").glob("*.eml"))


def test_cancel_a_finished_job_is_409(client, worker):
    job = submit(client)
    wait_for_job(client, f"/api/v1/jobs/{job['id']}")

    response = client.post(f"/api/v1/jobs/{job['id']}/cancel")

    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_signed_in_users_jobs_are_hidden_from_others(app, client):
    owner = token_for(app)
    job = submit(client, headers=owner)

    assert client.get(f"/api/v1/jobs/{job['id']}", headers=owner).status_code == 200
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 404
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=token_for(app)).status_code == 404
    assert (
        client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=token_for(app)).status_code == 404
    )
    admin = token_for(app, role="admin")
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=admin).status_code == 200


def test_anonymous_jobs_are_visible_to_whoever_holds_the_id(app, client):
    job = submit(client)

    assert client.get(f"/api/v1/jobs/{job['id']}", headers=token_for(app)).status_code == 200


def test_list_is_the_callers_jobs_newest_first_with_filters_and_pages(app, client):
    me, other = uuid.uuid4(), uuid.uuid4()
    mine = [submit(client, headers=token_for(app, me))["id"] for _ in range(3)]
    submit(client, headers=token_for(app, other))
    submit(client)
    client.post(f"/api/v1/jobs/{mine[0]}/cancel", headers=token_for(app, me))

    page = client.get("/api/v1/jobs?per_page=2", headers=token_for(app, me)).get_json()
    assert [job["id"] for job in page["items"]] == [mine[2], mine[1]]
    assert page["meta"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    second = client.get("/api/v1/jobs?per_page=2&page=2", headers=token_for(app, me)).get_json()
    assert [job["id"] for job in second["items"]] == [mine[0]]
    canceled = client.get("/api/v1/jobs?status=canceled", headers=token_for(app, me)).get_json()
    assert [job["id"] for job in canceled["items"]] == [mine[0]]
    by_kind = client.get("/api/v1/jobs?kind=email", headers=token_for(app, me)).get_json()
    assert by_kind["meta"]["total"] == 3


def test_list_needs_a_signed_in_caller_and_valid_filters(app, client):
    anonymous = client.get("/api/v1/jobs")
    assert anonymous.status_code == 401
    assert anonymous.content_type == "application/problem+json"
    bad = client.get("/api/v1/jobs?status=exploded&per_page=1000", headers=token_for(app))
    assert bad.status_code == 422
    assert {"status", "per_page"} <= set(bad.get_json()["errors"])


def test_tampered_token_is_401_not_anonymous(app, client):
    header = token_for(app)["Authorization"]

    response = client.get("/api/v1/jobs", headers={"Authorization": header[:-3] + "abc"})

    assert response.status_code == 401
    assert response.content_type == "application/problem+json"


def test_attempts_and_timestamps_are_recorded(app, client, worker):
    job = submit(client)
    done = wait_for_job(client, f"/api/v1/jobs/{job['id']}")

    rows = sql(app, "SELECT attempts, lease_until FROM jobs WHERE id = :id", id=job["id"])
    assert rows[0][0] == done["attempts"] == 1
    assert rows[0][1] is None  # the lease is released when the job finishes


def test_one_renewer_per_process_renews_the_leases_it_holds_and_only_those(app, client):
    from api.extensions import db
    from api.jobs import lifecycle

    job_id = uuid.UUID(submit(client)["id"])
    with app.app_context():
        run = lifecycle.claim(job_id)
        assert run is not None
        renewer = lifecycle.LeaseRenewer()
        expired = "UPDATE jobs SET lease_until = now() - interval '1 minute'"
        lapsed = "SELECT lease_until < now() FROM jobs WHERE id = :id"
        with renewer.held(db.engine, run, 60):
            sql(app, expired)
            renewer.renew_due(time.monotonic())  # not due yet: a third of the lease from now
            assert sql(app, lapsed, id=job_id)[0][0] is True
            renewer.renew_due(time.monotonic() + 21)
            assert sql(app, lapsed, id=job_id)[0][0] is False
            # An attempt that no longer holds the job (taken over) is fenced out.
            sql(app, expired + ", attempts = attempts + 1")
            renewer.renew_due(time.monotonic() + 42)
            assert sql(app, lapsed, id=job_id)[0][0] is True
            sql(app, "UPDATE jobs SET attempts = attempts - 1")
        renewer.renew_due(time.monotonic() + 100)  # released: never renewed again
        assert sql(app, lapsed, id=job_id)[0][0] is True


def test_a_poll_shows_every_field_of_the_job_as_stored(app, client):
    # The poll reads only the columns a client sees (api.jobs.service.SEEN_BY_CLIENTS): it must
    # show the same job as one loaded whole, for a failed job (error) and a succeeded one (result).
    from api.extensions import db
    from api.jobs.models import Job
    from api.jobs.schemas import JobSchema

    failed, succeeded = submit(client)["id"], submit(client)["id"]
    sql(
        app,
        "UPDATE jobs SET status = 'failed', error_code = 'boom', error_message = 'It broke.', "
        "finished_at = now() WHERE id = :id",
        id=failed,
    )
    sql(
        app,
        "UPDATE jobs SET status = 'succeeded', result = CAST(:result AS jsonb), "
        "finished_at = now() WHERE id = :id",
        id=succeeded,
        result='{"inquiry_id": "x"}',
    )

    for job_id in (failed, succeeded):
        polled = client.get(f"/api/v1/jobs/{job_id}").get_json()
        with app.app_context():
            whole = JobSchema().dump(db.session.get(Job, uuid.UUID(job_id)))
        assert polled == whole
    assert polled["result"] == {"inquiry_id": "x"}
