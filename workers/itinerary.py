"""The itinerary job kind."""

from __future__ import annotations

from api.itineraries.service import generate_for_job
from api.jobs.kinds import ITINERARY
from api.jobs.lifecycle import job_task

generate_itinerary = job_task(ITINERARY)(generate_for_job)
