"""Publishing Celery messages: only after the commit that justifies them.

A message is sent from an after-commit callback (`api.database.on_commit`), so a rolled-back
unit of work publishes nothing, and a worker never receives the id of a row it cannot see yet.
A failed publish (broker down) never fails the unit of work: the caller's `on_failure` leaves a
mark for the sweeper, which publishes again when the broker is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from api.database import on_commit
from api.extensions import celery_app
from api.jobs.kinds import QUEUES

log = logging.getLogger(__name__)


def publish(
    task: str,
    args: list[str],
    *,
    task_id: str | None = None,
    countdown: float | None = None,
) -> bool:
    """Send one message now; False when the broker could not take it."""
    try:
        celery_app.current.send_task(task, args=args, task_id=task_id, countdown=countdown)
    except Exception:  # any broker failure: the sweeper publishes again
        log.warning("could not publish %s %s; the sweeper will retry", task, args, exc_info=True)
        return False
    return True


def publish_after_commit(
    task: str,
    args: list[str],
    *,
    task_id: str | None = None,
    countdown: float | None = None,
    on_failure: Callable[[], None] | None = None,
) -> None:
    """Publish once the current unit of work commits (never if it rolls back)."""

    def send() -> None:
        if not publish(task, args, task_id=task_id, countdown=countdown) and on_failure:
            on_failure()

    on_commit(send)


def queue_depths() -> dict[str, int]:
    """Messages waiting (not yet delivered) in each queue: 0 for a queue the broker does not
    have yet, an empty mapping when the broker cannot be reached. Metrics show it; the sweeper
    uses it to publish again only what the broker is missing."""
    celery = celery_app.current
    depths: dict[str, int] = {}
    try:
        with celery.connection_for_read() as connection:
            channel: Any = connection.default_channel  # kombu's channels are untyped
            for queue in QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # the queue does not exist yet: nothing published to it
                    depths[queue] = 0
                    channel = connection.channel()
    except Exception:
        log.warning("could not read queue depths from the broker", exc_info=True)
    return depths
