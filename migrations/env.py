"""Alembic environment, run through flask-migrate (`flask db upgrade`)."""

import contextlib
import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from api.models import UTCDateTime, include_in_autogenerate

config = context.config
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url",
    target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%"),
)


def render_item(type_, obj, autogen_context):
    """Write our column types as plain SQLAlchemy types, so migrations never import the app."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def options():
    return {
        "target_metadata": target_db.metadata,
        "compare_type": True,
        "render_item": render_item,
        "render_as_batch": target_db.engine.dialect.name == "sqlite",
        "include_object": include_in_autogenerate,
    }


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    # A long DDL statement is expected here: no call deadline (api.database.CallDeadline).
    deadline = current_app.extensions.get("database_call_deadline")
    with (
        deadline.suspended() if deadline is not None else contextlib.nullcontext(),
        target_db.engine.connect() as connection,
    ):
        context.configure(
            connection=connection,
            process_revision_directives=process_revision_directives,
            **options(),
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
