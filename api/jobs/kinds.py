"""The job kinds: each has its own Celery task and queue, so each scales on its own workers.

Time limits live here, beside the queue, so start-up can check them against the lease and the
broker's visibility timeout (see `workers.app.check_lifecycle_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobKind:
    name: str
    queue: str
    task: str
    soft_time_limit: int  # seconds: the task is asked to stop (SoftTimeLimitExceeded → retry)
    time_limit: int  # seconds: the worker process is killed
    result_path: str | None = None  # formatted with the job's result, e.g. "{itinerary_id}"

    def result_link(self, result: dict[str, Any] | None) -> str | None:
        if not result or self.result_path is None:
            return None
        try:
            return self.result_path.format(**result)
        except KeyError:
            return None


EMAIL = JobKind(name="email", queue="email", task="jobs.email", soft_time_limit=60, time_limit=90)
ITINERARY = JobKind(  # Gemini calls can take a while: generous limits
    name="itinerary",
    queue="itinerary",
    task="jobs.itinerary",
    soft_time_limit=240,
    time_limit=270,
    result_path="/api/v1/itineraries/{itinerary_id}",
)
MEDIA = JobKind(
    name="media",
    queue="media",
    task="jobs.media",
    soft_time_limit=120,
    time_limit=150,
    result_path="/api/v1/media/{media_id}",
)

KINDS: dict[str, JobKind] = {kind.name: kind for kind in (EMAIL, ITINERARY, MEDIA)}

MAINTENANCE_QUEUE = "maintenance"
WEBHOOKS_QUEUE = "webhooks"
QUEUES = tuple(
    sorted({kind.queue for kind in KINDS.values()} | {MAINTENANCE_QUEUE, WEBHOOKS_QUEUE})
)
