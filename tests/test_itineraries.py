"""Itinerary jobs end to end with the local planner: validation, results, access, exports."""

from __future__ import annotations

import email
import email.policy
from datetime import date, timedelta

import pytest
from icalendar import Calendar

from tests.conftest import sql, token_for, wait_for_job

START = (date.today() + timedelta(days=30)).isoformat()
REQUEST = {
    "duration_days": 4,
    "travelers": {"adults": 2, "children": 1},
    "budget": "moderate",
    "interests": ["Temples", "beaches"],
    "pace": "balanced",
    "start_date": START,
}


def create(client, headers=None, **changes):
    response = client.post("/api/v1/itineraries", json={**REQUEST, **changes}, headers=headers)
    assert response.status_code == 202, response.get_json()
    job = wait_for_job(client, response.headers["Location"], headers=headers)
    assert job["status"] == "succeeded", job
    return job


def test_an_itinerary_job_produces_an_itinerary(client, worker):
    job = create(client)

    assert job["kind"] == "itinerary"
    link = job["links"]["result"]
    assert link == f"/api/v1/itineraries/{job['result']['itinerary_id']}"
    itinerary = client.get(link).get_json()
    assert itinerary["source"] == "local"
    assert len(itinerary["days"]) == 4
    assert itinerary["days"][0]["date"] == START
    assert itinerary["request"]["interests"] == ["beaches", "temples"]
    assert itinerary["estimated_budget"]["currency"] == "USD"
    for day in itinerary["days"]:
        for activity in day["activities"]:
            assert set(activity) >= {
                "time",
                "title",
                "description",
                "location",
                "duration_minutes",
                "estimated_cost",
            }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration_days": 0}, "duration_days"),
        ({"duration_days": 31}, "duration_days"),
        ({"travelers": {"adults": 0}}, "travelers"),
        ({"travelers": {"adults": 2, "children": -1}}, "travelers"),
        ({"interests": []}, "interests"),
        ({"interests": ["a", "b", "c", "d", "e"]}, "interests"),
        ({"interests": ["x" * 41]}, "interests"),
        ({"budget": "backpacker"}, "budget"),
        ({"pace": "frantic"}, "pace"),
        ({"budget_usd": 299}, "budget_usd"),
        ({"start_date": "2020-01-01"}, "start_date"),
        ({"notes": "n" * 1001}, "notes"),
    ],
)
def test_invalid_requests_are_422(client, change, field):
    response = client.post("/api/v1/itineraries", json={**REQUEST, **change})

    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_a_budget_too_small_for_the_party_states_the_minimum(client):
    response = client.post(
        "/api/v1/itineraries",
        json={**REQUEST, "duration_days": 7, "travelers": {"adults": 4}, "budget_usd": 900},
    )

    assert response.status_code == 422
    message = response.get_json()["errors"]["budget_usd"][0]
    assert "US$900 is too low for 4 travellers over 7 days" in message
    assert "minimum is US$1120" in message


def test_the_same_request_again_reuses_the_stored_itinerary(client, worker):
    first = create(client)
    second = create(client, interests=["beaches", "TEMPLES "])

    assert first["result"]["cached"] is False
    assert second["result"]["cached"] is True
    one = client.get(first["links"]["result"]).get_json()
    two = client.get(second["links"]["result"]).get_json()
    assert one["id"] != two["id"]
    assert one["days"] == two["days"]


def test_signed_in_itineraries_are_private_listed_and_deletable(app, client, worker):
    owner = token_for(app)
    job = create(client, headers=owner)
    link = job["links"]["result"]

    assert client.get(link, headers=owner).status_code == 200
    assert client.get(link).status_code == 404
    assert client.get(link, headers=token_for(app)).status_code == 404
    listing = client.get("/api/v1/itineraries", headers=owner).get_json()
    assert [item["id"] for item in listing["items"]] == [job["result"]["itinerary_id"]]
    assert client.get("/api/v1/itineraries").status_code == 401
    assert client.delete(link, headers=token_for(app)).status_code == 404
    assert client.delete(link, headers=owner).status_code == 204
    assert client.get(link, headers=owner).status_code == 404


def test_calendar_export_is_valid_icalendar(client, worker):
    job = create(client)
    itinerary = client.get(job["links"]["result"]).get_json()

    response = client.get(f"{job['links']['result']}/calendar.ics")

    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    activities = [a for d in itinerary["days"] for a in d["activities"]]
    assert len(events) == len(activities)
    first = events[0]
    assert first.decoded("dtstart").isoformat().startswith(f"{START}T{activities[0]['time']}")
    assert str(first.decoded("dtstart").tzinfo) == "Asia/Makassar"
    assert str(first.get("summary")) == activities[0]["title"]
    assert len({str(event.get("uid")) for event in events}) == len(events)


def test_calendar_needs_a_start_date(client, worker):
    job = create(client, start_date=None)

    response = client.get(f"{job['links']['result']}/calendar.ics")

    assert response.status_code == 422
    assert "start_date" in response.get_json()["errors"]


def test_markdown_and_whatsapp_exports(client, worker):
    job = create(client, duration_days=30, pace="packed")
    link = job["links"]["result"]

    markdown = client.get(f"{link}/itinerary.md")
    text = client.get(f"{link}/itinerary.txt")

    assert markdown.mimetype == "text/markdown"
    body = markdown.get_data(as_text=True)
    assert body.startswith("# 30-day packed Bali trip")
    assert body.count("\n## Day ") == 30
    plain = text.get_data(as_text=True)
    assert text.mimetype == "text/plain"
    assert len(plain) <= 4000
    assert "#" not in plain
    assert "*Day 1" in plain


def test_email_me_this_itinerary(app, client, worker, tmp_path):
    owner = token_for(app)
    job = create(client, headers=owner)
    link = job["links"]["result"]

    response = client.post(f"{link}/email", headers=owner)

    assert response.status_code == 202
    assert response.get_json()["kind"] == "email"
    wait_for_job(client, response.headers["Location"], headers=owner)
    address = sql(app, "SELECT email FROM users")[0][0]
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in (tmp_path / "outbox").glob("*.eml")
    ]
    [sent] = [m for m in messages if m["To"] == address]
    assert sent["Subject"].startswith("Your Bali itinerary")
    assert "Day 4" in sent.get_body(("plain",)).get_content()
    assert client.post(f"{link}/email").status_code == 401


def test_idempotent_itinerary_submission(client):
    headers = {"Idempotency-Key": "trip-1"}

    first = client.post("/api/v1/itineraries", json=REQUEST, headers=headers)
    second = client.post("/api/v1/itineraries", json=REQUEST, headers=headers)

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"]


def test_days_say_where_to_stay_and_what_to_eat_in_every_export(app, client, worker, tmp_path):
    owner = token_for(app)
    job = create(client, headers=owner)
    link = job["links"]["result"]

    itinerary = client.get(link, headers=owner).get_json()
    markdown = client.get(f"{link}/itinerary.md", headers=owner).get_data(as_text=True)
    text = client.get(f"{link}/itinerary.txt", headers=owner).get_data(as_text=True)
    mailed = client.post(f"{link}/email", headers=owner)
    wait_for_job(client, mailed.headers["Location"], headers=owner)

    areas = {row[0] for row in sql(app, "SELECT DISTINCT area FROM destinations")}
    for day in itinerary["days"]:
        assert day["accommodation"]["area"] in areas
        assert day["accommodation"]["suggestion"]
        assert [meal["time"] for meal in day["meals"]][1:] == ["12:30", "19:30"]
    first = itinerary["days"][0]
    area = first["accommodation"]["area"].replace("-", " ").title()
    stay = f"{area}. {first['accommodation']['suggestion']}"
    assert markdown.count("**Where to stay:** ") == 4
    assert f"**Where to stay:** {stay}" in markdown
    assert f"- 12:30 {first['meals'][1]['suggestion']}" in markdown
    assert f"Stay: {stay}" in text
    assert f"12:30 {first['meals'][1]['suggestion']}" in text
    (sent,) = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in (tmp_path / "outbox").glob("*.eml")
    ]
    assert f"**Where to stay:** {stay}" in sent.get_body(("plain",)).get_content()
    html = sent.get_body(("html",)).get_content()
    assert "Where to stay:</strong>" in html
    assert first["meals"][1]["suggestion"] in html


def test_a_long_whatsapp_text_keeps_the_nights_but_drops_the_details(client, worker):
    job = create(client, duration_days=30, pace="packed")

    plain = client.get(f"{job['links']['result']}/itinerary.txt").get_data(as_text=True)

    assert len(plain) <= 4000
    assert "Meals: " not in plain  # the details went
    days_shown = plain.count("\n*Day ")
    assert days_shown > 10
    assert plain.count("Stay: ") >= days_shown - 1  # the last day may be cut
