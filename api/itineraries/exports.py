"""An itinerary as Markdown, as plain text for WhatsApp, as an iCalendar file, and by email."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from icalendar import Calendar, Event

from api.catalogue.service import area_name
from api.errors import ValidationFailed
from api.extensions import db
from api.itineraries.models import Itinerary
from api.jobs.errors import JobFailed
from api.jobs.models import Job
from api.jobs.submit import Submission
from api.mail.service import Composition, Mail, queue_email
from api.users.models import User

ITINERARY_TEMPLATE = "itinerary"
BALI_TIME = ZoneInfo("Asia/Makassar")  # WITA, UTC+8
WHATSAPP_LIMIT = 4000  # characters; WhatsApp allows more, but phones show this comfortably


def _money(amount: float) -> str:
    return f"US${amount:,.0f}"


def _stay(stay: dict[str, str]) -> str:
    return f"{area_name(stay['area'])}. {stay['suggestion']}"


def _meal(meal: dict[str, str]) -> str:
    return f"{meal['time']} {meal['suggestion']}"


def markdown(itinerary: Itinerary) -> str:
    lines = [f"# {itinerary.title}", "", itinerary.summary, ""]
    for day in itinerary.days:
        when = f" ({day['date']})" if day.get("date") else ""
        lines += [f"## Day {day['day']}{when}: {day['title']}", ""]
        for activity in day["activities"]:
            cost = (
                f", about {_money(activity['estimated_cost'])}"
                if activity["estimated_cost"]
                else ""
            )
            lines.append(
                f"- **{activity['time']}** {activity['title']} "
                f"({activity['duration_minutes']} min{cost})"
            )
            if activity.get("description"):
                lines.append(f"  {activity['description']}")
        lines.append("")
        if day.get("accommodation"):
            lines += [f"**Where to stay:** {_stay(day['accommodation'])}", ""]
        if day.get("meals"):
            lines += ["**Meals:**", *[f"- {_meal(meal)}" for meal in day["meals"]], ""]
    budget = itinerary.estimated_budget
    lines += [
        "## Budget",
        "",
        f"Estimated total: {_money(budget.get('total', 0))} "
        f"({_money(budget.get('per_person', 0))} per person)",
        "",
    ]
    if itinerary.tips:
        lines += ["## Tips", "", *[f"- {tip}" for tip in itinerary.tips], ""]
    lines.append(f"Questions? WhatsApp us at {current_app.config['WHATSAPP_NUMBER']}.")
    return "\n".join(lines) + "\n"


def whatsapp_text(itinerary: Itinerary) -> str:
    """Plain text with WhatsApp's *bold*; descriptions are dropped if it would run too long."""
    for with_details in (True, False):
        lines = [f"*{itinerary.title}*", itinerary.summary, ""]
        for day in itinerary.days:
            when = f" ({day['date']})" if day.get("date") else ""
            lines.append(f"*Day {day['day']}{when}: {day['title']}*")
            for activity in day["activities"]:
                lines.append(f"{activity['time']} {activity['title']}")
                if with_details and activity.get("description"):
                    lines.append(f"   {activity['description']}")
            if day.get("accommodation"):
                stay = day["accommodation"]
                lines.append(
                    f"Stay: {_stay(stay)}" if with_details else f"Stay: {area_name(stay['area'])}"
                )
            if with_details and day.get("meals"):
                lines.append("Meals: " + "; ".join(_meal(meal) for meal in day["meals"]))
            lines.append("")
        total = itinerary.estimated_budget.get("total", 0)
        lines += [
            f"Estimated total: {_money(total)}",
            f"Questions? WhatsApp {current_app.config['WHATSAPP_NUMBER']}",
        ]
        text = "\n".join(lines)
        if len(text) <= WHATSAPP_LIMIT:
            return text
    return text[: WHATSAPP_LIMIT - 1] + "…"


def calendar_ics(itinerary: Itinerary) -> bytes:
    """One event per activity, in Bali time; needs the trip's start date."""
    start = itinerary.request.get("start_date")
    if not start:
        raise ValidationFailed(
            "This itinerary has no start date, so it cannot go in a calendar.",
            errors={"start_date": ["Ask for the itinerary again with a start_date."]},
        )
    first_day = date.fromisoformat(start)
    calendar = Calendar()
    calendar.add("prodid", "-//BaliBlissed//Itineraries//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", itinerary.title)
    for day in itinerary.days:
        day_date = first_day + timedelta(days=day["day"] - 1)
        for number, activity in enumerate(day["activities"]):
            hours, minutes = map(int, activity["time"].split(":"))
            begins = datetime(
                day_date.year, day_date.month, day_date.day, hours, minutes, tzinfo=BALI_TIME
            )
            event = Event()
            event.add("uid", f"{itinerary.id}-{day['day']}-{number}@baliblissed.com")
            event.add("dtstamp", itinerary.created_at)
            event.add("dtstart", begins)
            event.add("dtend", begins + timedelta(minutes=activity["duration_minutes"]))
            event.add("summary", activity["title"])
            event.add("location", activity["location"])
            event.add("description", activity.get("description") or "")
            calendar.add_component(event)
    return calendar.to_ical()


def send_by_email(itinerary: Itinerary, submission: Submission) -> Job:
    """An email job sending the itinerary to the signed-in caller's account (added to the unit
    of work; its webhook goes to the submission's callback URL, if any)."""
    user_id = submission.caller.user_id
    assert user_id is not None  # the route requires a signed-in caller
    return queue_email(
        ITINERARY_TEMPLATE,
        user_id,
        callback_url=submission.callback_url,
        itinerary_id=str(itinerary.id),
        user_id=str(user_id),
    )


def itinerary_email(payload: dict[str, Any]) -> Composition:
    itinerary = db.session.get(Itinerary, uuid.UUID(payload["itinerary_id"]))
    user = db.session.get(User, uuid.UUID(payload["user_id"]))
    if itinerary is None or user is None or not user.email:
        raise JobFailed("recipient_not_found", "The itinerary or its recipient is gone.")
    return Composition(
        mails=[
            Mail(
                key=ITINERARY_TEMPLATE,
                to=user.email,
                subject=f"Your Bali itinerary: {itinerary.title}",
                template=ITINERARY_TEMPLATE,
                context={
                    "user": user,
                    "itinerary": itinerary,
                    "text": markdown(itinerary),
                    "area_name": area_name,
                },
            )
        ],
        result={"itinerary_id": str(itinerary.id)},
    )
