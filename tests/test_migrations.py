"""Alembic migrations on a fresh PostgreSQL database: head matches the models; base works."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from api import create_app
from api.extensions import db
from api.models import include_in_autogenerate
from tests.conftest import fresh_database


def test_upgrade_head_matches_the_models_and_downgrade_base_empties_the_database(tmp_path):
    with fresh_database("bb_migrations") as url:
        app = create_app({"APP_ENV": "testing", "DATABASE_URL": url, "DATA_DIR": str(tmp_path)})
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(
                    connection,
                    opts={
                        "compare_type": True,
                        "compare_server_default": True,
                        "include_object": include_in_autogenerate,
                    },
                )
                assert compare_metadata(context, db.metadata) == []
                assert {"jobs", "inquiries", "posts"} <= set(inspect(connection).get_table_names())
                columns = {c["name"] for c in inspect(connection).get_columns("posts")}
                assert "search_vector" in columns  # full text, made by the migration

            downgrade(revision="base")
            with db.engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) == {"alembic_version"}

            upgrade()
            db.engine.dispose()


@pytest.mark.filterwarnings("ignore:.*expression-based index")  # SQLite cannot reflect them
def test_migrations_also_run_on_sqlite(tmp_path):
    app = create_app({"APP_ENV": "testing", "DATA_DIR": str(tmp_path)})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
            # The case-insensitive username index survives SQLite's table rebuilds.
            insert = text(
                "INSERT INTO users (id, username, role, is_active, is_verified, "
                "auth_provider, session_version, created_at, updated_at) VALUES "
                "(:id, :name, 'user', 1, 0, 'email', 1, '2026-01-01', '2026-01-01')"
            )
            connection.execute(insert, {"id": uuid.uuid4().hex, "name": "Wayan"})
            with pytest.raises(IntegrityError):
                connection.execute(insert, {"id": uuid.uuid4().hex, "name": "WAYAN"})
            connection.rollback()
        downgrade(revision="base")
        db.engine.dispose()
