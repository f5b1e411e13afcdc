"""The media job kind: image processing (Pillow) or file deletion."""

from __future__ import annotations

from api.jobs.kinds import MEDIA
from api.media.service import process
from workers.lifecycle import job_task

process_media = job_task(MEDIA, soft_time_limit=120, time_limit=150)(process)
