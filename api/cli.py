"""The CLI: `flask jobs|cache|media ...` (the periodic tasks, for cron when beat is not used),
`flask catalogue seed` and `flask users create-admin`. Each command is one unit of work."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from api.auth import service as accounts
from api.catalogue import service as catalogue
from api.database import unit_of_work
from api.errors import ApiError
from api.maintenance import PERIODIC, Periodic

GROUPS = {
    "jobs": AppGroup("jobs", help="Background job maintenance."),
    "cache": AppGroup("cache", help="The response cache."),
    "media": AppGroup("media", help="Uploaded media."),
    "users": AppGroup("users", help="Accounts."),
    "catalogue": AppGroup("catalogue", help="The destinations catalogue."),
}


def _periodic_command(entry: Periodic) -> None:
    group, name = entry.command

    def command() -> None:
        click.echo(entry.report(entry.run()))

    GROUPS[group].command(name, help=entry.help)(command)


for _entry in PERIODIC:
    _periodic_command(_entry)


@GROUPS["catalogue"].command("seed")
def seed_command() -> None:
    """Load the bundled destinations (insert new, update changed; safe to repeat)."""
    with unit_of_work():
        created, updated = catalogue.seed()
    click.echo(f"catalogue: {created} created, {updated} updated")


@GROUPS["users"].command("create-admin")
@click.option("--email", required=True)
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--full-name", default=None)
def create_admin_command(email: str, username: str, password: str, full_name: str | None) -> None:
    """Create an administrator account (verified), e.g. the first one."""
    try:
        with unit_of_work():
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
    for group in GROUPS.values():
        app.cli.add_command(group)
