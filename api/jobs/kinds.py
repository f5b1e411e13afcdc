"""The job kinds: each has its own Celery task and queue, so each scales on its own workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobKind:
    name: str
    queue: str
    task: str
    result_path: str | None = None  # formatted with the job's result, e.g. "{itinerary_id}"

    def result_link(self, result: dict[str, Any] | None) -> str | None:
        if not result or self.result_path is None:
            return None
        try:
            return self.result_path.format(**result)
        except KeyError:
            return None


EMAIL = JobKind(name="email", queue="email", task="jobs.email")
ITINERARY = JobKind(
    name="itinerary",
    queue="itinerary",
    task="jobs.itinerary",
    result_path="/api/v1/itineraries/{itinerary_id}",
)

MEDIA = JobKind(
    name="media", queue="media", task="jobs.media", result_path="/api/v1/media/{media_id}"
)

KINDS: dict[str, JobKind] = {kind.name: kind for kind in (EMAIL, ITINERARY, MEDIA)}

MAINTENANCE_QUEUE = "maintenance"
WEBHOOKS_QUEUE = "webhooks"
QUEUES = tuple(
    sorted({kind.queue for kind in KINDS.values()} | {MAINTENANCE_QUEUE, WEBHOOKS_QUEUE})
)
