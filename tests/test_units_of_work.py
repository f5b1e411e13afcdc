"""One transaction per request and per job outcome: what the integrity review found, black-box.

* A rejected request writes nothing, anywhere, and leaves every cache as it was.
* A submit whose feature rows fail leaves no job and publishes nothing.
* A worker that dies after its handler ran but before the outcome was written leaves nothing
  behind: the next attempt makes exactly one itinerary (and ready media).
* Media used by an avatar, a post and a review survive the orphan purge.
* The mechanisms themselves: after-commit callbacks, the SELECT-only lean read, refused commits,
  and start-up refusing lifecycle settings that cannot work.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from api.database import insert_new, on_commit, on_end, read_row, unit_of_work
from api.extensions import db
from api.inquiries.models import Inquiry, InquiryStatus
from api.inquiries.service import INQUIRY_READ
from api.jobs.lifecycle import claim, complete, write_with_outcome
from api.jobs.models import Job
from api.maintenance import BY_NAME
from config import ConfigError
from tests.conftest import (
    REDIS_DB_BROKER,
    REDIS_HOST_URL,
    WorkerProcess,
    create_user,
    sql,
    token_for,
    wait_for_job,
)
from tests.support.fake_gemini import FakeGemini
from tests.test_blog import write
from tests.test_inquiries import VALID
from tests.test_itineraries import REQUEST as TRIP
from tests.test_media import jpeg_with_exif, png_with_alpha, process, upload
from tests.test_reviews import review

UNKNOWN_MEDIA = "00000000-0000-4000-8000-000000000000"


# --- rejected requests write nothing --------------------------------------------------------


def test_a_rejected_post_edit_changes_nothing_and_the_cache_stays_true(app, client):
    author = token_for(app, create_user(app, username="writer"))
    post = write(client, author, title="Tirta Empul at dawn", tags=["temples"])
    url = f"/api/v1/posts/{post['slug']}"
    client.get(url)  # the published post is now cached

    rejected = client.patch(
        url,
        headers=author,
        json={"title": "Vandalised", "tags": ["spam"], "cover_media_id": UNKNOWN_MEDIA},
    )

    assert rejected.status_code == 422
    assert rejected.get_json()["errors"]["cover_media_id"]
    assert sql(app, "SELECT title FROM posts") == [("Tirta Empul at dawn",)]
    assert sql(app, "SELECT name FROM tags") == [("temples",)]
    assert client.get(url).get_json()["title"] == "Tirta Empul at dawn"
    # A later valid edit shows the old title and tags with it, not the rejected ones.
    assert client.patch(url, headers=author, json={"summary": "Holy springs."}).status_code == 200
    shown = client.get(url).get_json()
    assert (shown["title"], shown["tags"], shown["summary"]) == (
        "Tirta Empul at dawn",
        ["temples"],
        "Holy springs.",
    )


def test_a_rejected_review_edit_changes_nothing(app, client):
    me = token_for(app, create_user(app, username="ketut"))
    created = review(client, me).get_json()
    url = f"/api/v1/reviews/{created['id']}"

    rejected = client.patch(
        url,
        headers=me,
        json={"content": "Rewritten by a rejected edit.", "media_ids": [UNKNOWN_MEDIA]},
    )

    assert rejected.status_code == 422
    assert client.patch(url, headers=me, json={"rating": 4}).status_code == 200
    listed = client.get("/api/v1/reviews?target=tanah-lot-temple").get_json()["items"]
    assert [(item["rating"], item["content"]) for item in listed] == [(4, created["content"])]


def test_a_submit_whose_feature_rows_fail_leaves_no_job_and_publishes_nothing(app, client):
    """A database refusal of the inquiry row (a trigger standing in for any failing insert)
    after the job row was written, by a signed-in caller (the path that used to autocommit)."""
    database = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_inquiry() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'inquiries are refused'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_inquiry BEFORE INSERT ON inquiries "
            "FOR EACH ROW EXECUTE FUNCTION refuse_inquiry()"
        )
    try:
        response = client.post("/api/v1/inquiries", json=VALID, headers=token_for(app))
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DROP TRIGGER refuse_inquiry ON inquiries")
            conn.execute("DROP FUNCTION refuse_inquiry()")

    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert sql(app, "SELECT count(*) FROM jobs") == [(0,)]
    assert sql(app, "SELECT count(*) FROM inquiries") == [(0,)]
    broker = redis.Redis.from_url(f"{REDIS_HOST_URL}/{REDIS_DB_BROKER}")
    assert broker.llen("email") == 0  # no message for a job that does not exist


def test_a_rejected_registration_leaves_no_user_and_no_email_job(app, client):
    create_user(app, username="taken")
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "new@example.com", "username": "TAKEN", "password": "Sunny-Ubud-Rice-2026"},
    )

    assert response.status_code == 409
    assert sql(app, "SELECT count(*) FROM users WHERE email = 'new@example.com'") == [(0,)]
    assert sql(app, "SELECT count(*) FROM jobs") == [(0,)]


# --- a worker dying between its handler and the outcome -----------------------------------


def hold_job_row_once_running(app: Flask, job_id: str) -> psycopg.Connection:
    """Lock the job's row as soon as a worker has claimed it, so the worker's outcome write
    waits (NO KEY: rows pointing at the job may still be inserted); returns the connection
    holding the lock (closing it releases the row)."""
    database = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")
    conn = psycopg.connect(database)
    for _ in range(400):
        row = conn.execute(
            "SELECT status FROM jobs WHERE id = %s FOR NO KEY UPDATE", (job_id,)
        ).fetchone()
        if row and row[0] == "running":
            return conn
        conn.rollback()
        conn.execute("SELECT pg_sleep(0.02)")
        conn.rollback()
    conn.close()
    raise AssertionError("no worker claimed the job")


def wait_until_blocked_on_the_job_row(app: Flask) -> None:
    """The signal that the handler has run: the worker waits on the row lock to write."""
    for _ in range(500):
        waiting = sql(
            app,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE jobs SET%'",
        )[0][0]
        if waiting:
            return
        sql(app, "SELECT pg_sleep(0.02)")
    raise AssertionError("the worker never reached the outcome write")


def run_killed_then_rerun(app: Flask, env: dict[str, str], client, location: str, headers):
    job_id = location.rsplit("/", 1)[1]
    first = WorkerProcess(env)
    try:
        lock = hold_job_row_once_running(app, job_id)
        wait_until_blocked_on_the_job_row(app)
        first.kill()  # died after its handler, before the outcome was committed
        lock.close()
    finally:
        first.stop()
    sql(app, "UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = :id", id=job_id)
    with app.app_context():
        assert BY_NAME["sweep-jobs"].run().expired_leases == 1
    second = WorkerProcess(env)
    try:
        return wait_for_job(client, location, headers=headers)
    finally:
        second.stop()


def test_an_itinerary_job_rerun_after_its_worker_died_makes_one_itinerary(make_app, base_env):
    with FakeGemini() as gemini:
        gemini.delay = 1.0  # the handler is still working when the test locks the job row
        env = {**base_env, "GEMINI_API_KEY": "test-key", "GEMINI_BASE_URL": gemini.url}
        gemini.default = 503  # unavailable: the local planner writes the plan
        env["GEMINI_MAX_ATTEMPTS"] = "1"
        app = make_app(**env)
        client = app.test_client()
        headers = token_for(app)
        response = client.post("/api/v1/itineraries", json=TRIP, headers=headers)

        job = run_killed_then_rerun(app, env, client, response.headers["Location"], headers)

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert sql(app, "SELECT count(*) FROM itineraries") == [(1,)]
    assert client.get(job["links"]["result"], headers=headers).status_code == 200


def test_a_media_job_rerun_after_its_worker_died_ends_ready(make_app, base_env):
    app = make_app()
    client = app.test_client()
    headers = token_for(app)
    response = upload(client, headers, png_with_alpha((2400, 1800)), filename="big.png")
    assert response.status_code == 202

    job = run_killed_then_rerun(app, base_env, client, response.headers["Location"], headers)

    assert job["status"] == "succeeded", job
    media = client.get(f"/api/v1/media/{job['result']['media_id']}", headers=headers).get_json()
    assert media["status"] == "ready"
    assert sql(app, "SELECT count(*) FROM media_blobs") == [(0,)]


# --- the orphan purge ------------------------------------------------------------------------


def test_media_used_by_an_avatar_a_post_and_a_review_survive_the_orphan_purge(app, client, worker):
    me = token_for(app, create_user(app, username="ayu"))
    _, avatar = process(client, me, jpeg_with_exif(80, 80), purpose="avatar")
    _, cover = process(client, me, jpeg_with_exif(80, 80), purpose="post")
    _, attached = process(client, me, jpeg_with_exif(80, 80), purpose="post")
    _, photo = process(client, me, jpeg_with_exif(80, 80), purpose="review")
    _, unused = process(client, me, jpeg_with_exif(80, 80), purpose="review")
    assert client.patch("/api/v1/auth/me", headers=me, json={"avatar_media_id": avatar["id"]})
    write(client, me, cover_media_id=cover["id"], media_ids=[attached["id"]])
    assert review(client, me, media_ids=[photo["id"]]).status_code == 201
    old = (sql(app, "SELECT now()")[0][0] - timedelta(days=2)).isoformat()
    sql(app, "UPDATE media SET created_at = :old", old=old)

    result = app.test_cli_runner().invoke(args=["media", "purge-orphans"])

    assert result.output == "removed 1 orphaned uploads\n"
    remaining = {str(row[0]) for row in sql(app, "SELECT id FROM media")}
    assert remaining == {avatar["id"], cover["id"], attached["id"], photo["id"]}
    assert unused["id"] not in remaining


# --- the mechanisms --------------------------------------------------------------------------


def test_after_commit_callbacks_run_after_a_commit_and_never_after_a_rollback(app):
    ran: list[str] = []
    with app.app_context():
        with unit_of_work():
            on_commit(lambda: ran.append("committed"))
            on_end(lambda: ran.append("ended"))
            assert ran == []

        def failing_unit() -> None:
            with unit_of_work():
                on_commit(lambda: ran.append("published by a failed unit"))
                on_end(lambda: ran.append("ended again"))
                db.session.execute(db.select(Job.id)).all()
                raise RuntimeError("the unit of work fails")

        with pytest.raises(RuntimeError):
            failing_unit()
    assert ran == ["committed", "ended", "ended again"]


def test_rows_written_together_read_back_as_written_and_later_changes_are_kept(app):
    """`insert_new` (every job submission): one statement, Python defaults on the objects as
    in the rows, and the objects tracked afterwards like any loaded row."""
    statements: list[str] = []
    with app.app_context():
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listen)
        try:
            with unit_of_work():
                job = Job(id=uuid.uuid4(), kind="email", payload={"to": "ayu"})
                inquiry = Inquiry(name="Ayu", email="ayu@example.com", subject="Hi", message="m")
                inquiry.job_id = job.id
                insert_new(job, inquiry)
                assert len(statements) == 1  # both rows, one round trip
                seen = (job.status, job.attempts, job.version, job.created_at, inquiry.status)
                assert len(statements) == 1  # defaults were set here, not read back
                inquiry.status = InquiryStatus.ANSWERED  # a change after the write
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listen)
    assert seen[:3] == ("queued", 0, 0)
    assert seen[4] == "new"
    assert sql(app, "SELECT kind, status, attempts, version, created_at, payload FROM jobs") == [
        ("email", "queued", 0, 0, seen[3], {"to": "ayu"})
    ]
    assert sql(app, "SELECT id, job_id, status FROM inquiries") == [
        (inquiry.id, job.id, "answered")
    ]


def test_rows_written_together_are_refused_together(app):
    """A row that breaks a constraint (here: a job that does not exist) takes the other rows of
    its statement with it."""
    job = Job(id=uuid.uuid4(), kind="email")
    inquiry = Inquiry(name="Ayu", email="a@example.com", subject="Hi", message="m")
    inquiry.job_id = uuid.uuid4()  # not the job's id
    with app.app_context(), pytest.raises(sa.exc.IntegrityError), unit_of_work():
        insert_new(job, inquiry)
    assert sql(app, "SELECT count(*) FROM jobs") == [(0,)]
    assert sql(app, "SELECT count(*) FROM inquiries") == [(0,)]


def test_a_write_made_with_the_outcome_happens_only_while_the_attempt_holds_the_job(app, client):
    """`write_with_outcome` (the inquiry email's analysis): written with the outcome when the
    fence holds, not at all when the job was canceled meanwhile."""
    mark = (
        sa.update(Inquiry)
        .where(Inquiry.id == sa.bindparam("marked_id"))
        .values(status=sa.bindparam("marked_status", type_=sa.String()))
    )
    held, canceled = (
        uuid.UUID(client.post("/api/v1/inquiries", json=VALID).get_json()["id"]) for _ in "ab"
    )
    with app.app_context():
        for job_id in (held, canceled):
            run = claim(job_id)
            assert run is not None
            if job_id == canceled:  # cancelled while its handler ran
                sql(app, f"UPDATE jobs SET status = 'canceled' WHERE id = '{job_id}'")
            (inquiry_id,) = sql(app, f"SELECT id FROM inquiries WHERE job_id = '{job_id}'")[0]
            write_with_outcome(run, mark, {"marked_id": inquiry_id, "marked_status": "answered"})
            assert complete(run, {"done": True}) is (job_id == held)
    rows = sql(
        app,
        "SELECT j.id, j.status, j.result, i.status FROM jobs j JOIN inquiries i ON i.job_id = j.id",
    )
    assert sorted(rows) == sorted(
        [(held, "succeeded", {"done": True}, "answered"), (canceled, "canceled", None, "new")]
    )


def test_the_lean_read_path_runs_selects_only(app):
    with app.app_context(), pytest.raises(TypeError):
        read_row(db.update(Job).values(attempts=1), {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"JOB_LEASE_SECONDS": "5"}, "JOB_LEASE_SECONDS (5) must be at least"),
        (
            {"BROKER_VISIBILITY_TIMEOUT_SECONDS": "1800"},
            "BROKER_VISIBILITY_TIMEOUT_SECONDS (1800) must be at least",
        ),
    ],
)
def test_start_up_refuses_lifecycle_settings_that_cannot_work(make_app, settings, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_app(**settings)


def _statements_while(app: Flask, work):
    """What `work()` returns and the SQL statements it ran."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        return work(), statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def test_a_claim_fetches_the_row_its_handler_reads_in_the_same_statement(app, client):
    """An inquiry's email job reads its inquiry with its claim (`claim_read`): the handler's
    read costs no statement of its own, answers the row as it was, and is served once."""
    job_id = uuid.UUID(client.post("/api/v1/inquiries", json=VALID).get_json()["id"])
    (inquiry_id,) = sql(app, f"SELECT id FROM inquiries WHERE job_id = '{job_id}'")[0]

    with app.app_context():
        (run, fetched), claiming = _statements_while(
            app, lambda: (claim(job_id), INQUIRY_READ.read(inquiry_id))
        )
        again, reading = _statements_while(app, lambda: INQUIRY_READ.read(inquiry_id))

    assert run is not None
    assert run.attempt == 1
    assert len(claiming) == 1
    assert "inquiries" in claiming[0]
    assert len(reading) == 1  # served once: a second read asks the database
    assert (fetched.id, fetched.email, fetched.name) == (inquiry_id, VALID["email"], VALID["name"])
    assert tuple(fetched) == tuple(again)


def test_a_claim_whose_payload_names_a_missing_or_malformed_row_still_claims(app, client):
    missing, malformed = (
        uuid.UUID(client.post("/api/v1/inquiries", json=VALID).get_json()["id"]) for _ in "ab"
    )
    gone = uuid.uuid4()
    sql(
        app,
        f'UPDATE jobs SET payload = payload || \'{{"inquiry_id": "{gone}"}}\' '
        f"WHERE id = '{missing}'",
    )
    sql(
        app,
        'UPDATE jobs SET payload = payload || \'{"inquiry_id": "not-a-uuid"}\' '
        f"WHERE id = '{malformed}'",
    )

    with app.app_context():
        (run, found), statements = _statements_while(
            app, lambda: (claim(missing), INQUIRY_READ.read(gone))
        )
        assert claim(malformed) is not None

    assert run is not None
    assert found is None
    assert len(statements) == 2  # a row the claim did not find is asked for again


def test_only_a_first_attempt_keeps_what_its_claim_read(app, client):
    """A later attempt's claim may have waited on the job's row for the earlier attempt's
    outcome, reading that attempt's writes as they were before it: its handler reads again."""
    job_id = uuid.UUID(client.post("/api/v1/inquiries", json=VALID).get_json()["id"])
    (inquiry_id,) = sql(app, f"SELECT id FROM inquiries WHERE job_id = '{job_id}'")[0]
    sql(app, f"UPDATE jobs SET attempts = 1 WHERE id = '{job_id}'")  # one attempt put back

    with app.app_context():
        (run, fetched), statements = _statements_while(
            app, lambda: (claim(job_id), INQUIRY_READ.read(inquiry_id))
        )

    assert run is not None
    assert run.attempt == 2
    assert fetched.email == VALID["email"]
    assert len(statements) == 2
