"""Session helpers for hot paths."""

from __future__ import annotations

from api.extensions import db


def read_without_transaction() -> None:
    """Run the session's next statements in autocommit: a single-row read then costs one
    round trip instead of three (BEGIN, SELECT, ROLLBACK). Only when no transaction is open."""
    if not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
