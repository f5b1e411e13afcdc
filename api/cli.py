"""`flask jobs ...`: the beat tasks, runnable from cron when beat is not used."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from api.auth import service as accounts
from api.blog import views
from api.catalogue import service as catalogue
from api.errors import ApiError
from api.jobs import service as jobs
from api.media import service as media
from api.ops import warmup

jobs_cli = AppGroup("jobs", help="Background job maintenance.")
users_cli = AppGroup("users", help="Accounts.")
catalogue_cli = AppGroup("catalogue", help="The destinations catalogue.")
media_cli = AppGroup("media", help="Uploaded media.")
cache_cli = AppGroup("cache", help="The response cache.")


@cache_cli.command("warm")
def warm_command() -> None:
    """Fill the catalogue, first post pages, popular posts and review summaries."""
    report = warmup.warm()
    click.echo(f"warmed {report['keys']} keys in {report['duration_seconds']}s")


@jobs_cli.command("flush-views")
def flush_views_command() -> None:
    """Add the post views counted in Redis to the database."""
    click.echo(f"flushed {views.flush()} views")


@media_cli.command("purge-orphans")
def purge_orphans_command() -> None:
    """Remove uploads older than a day that failed, never finished, or that nothing uses."""
    click.echo(f"removed {media.purge_orphans()} orphaned uploads")


@catalogue_cli.command("seed")
def seed_command() -> None:
    """Load the bundled destinations (insert new, update changed; safe to repeat)."""
    created, updated = catalogue.seed()
    click.echo(f"catalogue: {created} created, {updated} updated")


@jobs_cli.command("sweep")
def sweep_command() -> None:
    """Re-enqueue jobs left queued and jobs whose worker died."""
    click.echo(jobs.sweep())


@jobs_cli.command("purge-idempotency-keys")
def purge_command() -> None:
    """Forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS."""
    click.echo(f"purged {jobs.purge_idempotency_keys()} keys")


@users_cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--full-name", default=None)
def create_admin_command(email: str, username: str, password: str, full_name: str | None) -> None:
    """Create an administrator account (verified), e.g. the first one."""
    try:
        user = accounts.create_admin(
            email=email, username=username, password=password, full_name=full_name
        )
    except ApiError as exc:
        problems = "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in (exc.errors or {}).items()
        )
        raise click.ClickException(f"{exc.detail} {problems}".strip()) from exc
    click.echo(f"created admin {user.username} ({user.id})")


def init_app(app: Flask) -> None:
    app.cli.add_command(jobs_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(catalogue_cli)
    app.cli.add_command(media_cli)
    app.cli.add_command(cache_cli)
