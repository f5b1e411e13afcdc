"""The itinerary job kind (Gemini calls can take a while: generous time limits)."""

from __future__ import annotations

from api.itineraries.service import generate_for_job
from api.jobs.kinds import ITINERARY
from workers.lifecycle import job_task

generate_itinerary = job_task(ITINERARY, soft_time_limit=240, time_limit=270)(generate_for_job)
