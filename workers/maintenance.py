"""Periodic upkeep run by celery beat (or by cron through `flask jobs ...`): one task per
entry of `api.maintenance.PERIODIC`."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from api.maintenance import PERIODIC, Periodic


def _task_for(entry: Periodic) -> Task:
    def run() -> Any:
        return entry.run()

    run.__name__ = run.__qualname__ = entry.name.replace("-", "_")
    run.__doc__ = entry.help
    return shared_task(
        name=entry.task, soft_time_limit=entry.soft_time_limit, time_limit=entry.time_limit
    )(run)


TASKS: dict[str, Task] = {entry.name: _task_for(entry) for entry in PERIODIC}
