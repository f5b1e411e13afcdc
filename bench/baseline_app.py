"""Bare Flask baselines, measured in the same run as the real app (see bench/run.py).

`/hello` is Flask doing nothing; `/submit` is the least a job submission can do (INSERT,
COMMIT, publish to Celery); `/poll/<id>` is the least a poll can do (SELECT by primary key);
`bench.noop` is the least a Celery task can do (run it with
`celery -A baseline_app:celery worker -Q bench`).
"""

import json
import os
import time
import uuid

import redis
from celery import Celery
from flask import Flask, Response
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=8, max_overflow=8)
celery = Celery("baseline", broker=os.environ["BENCH_BROKER_URL"])
finished = redis.Redis.from_url(os.environ["BENCH_BROKER_URL"])
app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "hello"


@app.post("/submit")
def submit() -> Response:
    job_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO bench_jobs (id, payload) VALUES (:id, CAST(:payload AS jsonb))"),
            {"id": job_id, "payload": json.dumps({"kind": "email"})},
        )
    celery.send_task("bench.noop", args=[str(job_id)], task_id=str(job_id), queue="bench")
    return Response(json.dumps({"id": str(job_id)}), status=202, mimetype="application/json")


@app.get("/poll/<uuid:job_id>")
def poll(job_id: uuid.UUID) -> Response:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT id, payload FROM bench_jobs WHERE id = :id"), {"id": job_id}
        ).one()
    return Response(
        json.dumps({"id": str(row.id), "payload": row.payload}), mimetype="application/json"
    )


@celery.task(name="bench.noop")
def noop(job_id: str) -> None:
    """The least a task can do: nothing, then note its finish time (how the runner counts)."""
    finished.rpush("bench:finished", repr(time.time()))
