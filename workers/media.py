"""The media job kind: image processing (Pillow) or file deletion."""

from __future__ import annotations

from api.jobs.kinds import MEDIA
from api.jobs.lifecycle import job_task
from api.media.service import process

process_media = job_task(MEDIA)(process)
