"""`flask jobs ...`: the beat tasks, runnable from cron when beat is not used."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from api.jobs import service as jobs

jobs_cli = AppGroup("jobs", help="Background job maintenance.")


@jobs_cli.command("sweep")
def sweep_command() -> None:
    """Re-enqueue jobs left queued and jobs whose worker died."""
    click.echo(jobs.sweep())


@jobs_cli.command("purge-idempotency-keys")
def purge_command() -> None:
    """Forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS."""
    click.echo(f"purged {jobs.purge_idempotency_keys()} keys")


def init_app(app: Flask) -> None:
    app.cli.add_command(jobs_cli)
