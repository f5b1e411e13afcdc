"""The email job kind."""

from __future__ import annotations

from api.jobs.kinds import EMAIL
from api.mail.service import send_email_job
from workers.lifecycle import job_task

send_email = job_task(EMAIL, soft_time_limit=60, time_limit=90)(send_email_job)
