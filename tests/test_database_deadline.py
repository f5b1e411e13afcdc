"""The deadline on database calls (api.database.CallDeadline): a call that waits too long is
cut and fails as unavailable; nothing stays armed once a call returns, so a connection that
merely sits idle (held between statements) is never cut. The hung-server scenario itself is
tests/faults/test_database_hung.py."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api.database import CallDeadline, database_unavailable
from api.extensions import db


def deadline_of(app) -> CallDeadline:
    deadline = app.extensions["database_call_deadline"]
    assert isinstance(deadline, CallDeadline)
    return deadline


def test_a_call_waiting_past_the_deadline_is_cut_and_counts_as_unavailable(make_app):
    app = make_app(DATABASE_CALL_TIMEOUT_SECONDS="1")
    with app.app_context():
        with pytest.raises(OperationalError) as caught, db.engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(20)"))
        assert database_unavailable(caught.value)
        with db.engine.connect() as connection:  # the pool carries on with a fresh connection
            assert connection.execute(text("SELECT 1")).scalar() == 1


def test_nothing_stays_armed_after_statements_commits_and_rollbacks(make_app):
    app = make_app(DATABASE_CALL_TIMEOUT_SECONDS="1")
    with app.app_context():
        deadline = deadline_of(app)
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            assert deadline._armed == {}  # held, idle: nothing can cut it
            connection.commit()
            assert deadline._armed == {}
            connection.execute(text("SELECT 1"))
            connection.rollback()
            connection.execute(text("SELECT 1"))
            assert deadline._armed == {}
        assert deadline._armed == {}


def test_zero_turns_the_deadline_off(make_app):
    app = make_app(DATABASE_CALL_TIMEOUT_SECONDS="0")
    with app.app_context():
        assert app.extensions["database_call_deadline"] is None


def test_migrations_run_without_the_deadline(make_app):
    app = make_app(DATABASE_CALL_TIMEOUT_SECONDS="1")
    with app.app_context():
        deadline = deadline_of(app)
        with deadline.suspended(), db.engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(2)"))  # past the deadline, not cut
        assert deadline.seconds == 1
