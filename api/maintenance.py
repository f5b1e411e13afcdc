"""The one table of periodic upkeep: beat's schedule, the maintenance tasks and the cron CLI
(`flask jobs sweep`, ...) are all made from it, so they cannot drift apart.

Each entry runs in its own unit of work: its writes commit together when it returns, and what
it publishes goes out after that commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from api import idempotency
from api.blog import views
from api.database import unit_of_work
from api.jobs import sweeper
from api.media import service as media
from api.ops import warmup


@dataclass(frozen=True)
class Periodic:
    name: str  # beat's schedule entry
    task: str  # the Celery task (maintenance queue)
    work: Callable[[], Any]
    every: Callable[[Mapping[str, Any]], float]  # seconds, from the settings
    command: tuple[str, str]  # the CLI group and command for cron
    help: str
    report: Callable[[Any], str] = str  # what the CLI prints
    soft_time_limit: int = 50
    time_limit: int = 60

    def run(self) -> Any:
        """The work in its own unit of work; the result once it has committed."""
        with unit_of_work():
            return self.work()


PERIODIC: tuple[Periodic, ...] = (
    Periodic(
        name="sweep-jobs",
        task="maintenance.sweep_jobs",
        work=sweeper.sweep,
        every=lambda config: float(config["JOB_SWEEP_INTERVAL_SECONDS"]),
        command=("jobs", "sweep"),
        help="Re-enqueue jobs left queued and jobs whose worker died.",
    ),
    Periodic(
        name="purge-idempotency-keys",
        task="maintenance.purge_idempotency_keys",
        work=idempotency.purge_expired,
        every=lambda _config: 3600.0,
        command=("jobs", "purge-idempotency-keys"),
        help="Forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS.",
        report=lambda purged: f"purged {purged} keys",
    ),
    Periodic(
        name="warm-cache",
        task="maintenance.warm_cache",
        work=warmup.warm,
        every=lambda config: float(config["CACHE_WARM_INTERVAL_SECONDS"]),
        command=("cache", "warm"),
        help="Fill the catalogue, first post pages, popular posts and review summaries.",
        report=lambda run: f"warmed {run['keys']} keys in {run['duration_seconds']}s",
        soft_time_limit=110,
        time_limit=120,
    ),
    Periodic(
        name="flush-post-views",
        task="maintenance.flush_post_views",
        work=views.flush,
        every=lambda config: float(config["VIEW_FLUSH_INTERVAL_SECONDS"]),
        command=("jobs", "flush-views"),
        help="Add the post views counted in Redis to the database.",
        report=lambda views: f"flushed {views} views",
    ),
    Periodic(
        name="purge-orphaned-media",
        task="maintenance.purge_orphaned_media",
        work=media.purge_orphans,
        every=lambda _config: 3600.0,
        command=("media", "purge-orphans"),
        help="Remove uploads older than a day that failed, never finished, or nothing uses.",
        report=lambda removed: f"removed {removed} orphaned uploads",
    ),
)
BY_NAME = {entry.name: entry for entry in PERIODIC}


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry.name: {"task": entry.task, "schedule": entry.every(config)} for entry in PERIODIC}
