"""Local rules for inquiry analysis (used when Gemini is not configured or unavailable)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from api.inquiries.analysis import local_analysis
from tests.conftest import sql, token_for, wait_for_job
from tests.test_inquiries import VALID


@dataclass
class FakeInquiry:
    message: str
    subject: str = "Travel Inquiry"
    name: str = "Ayu"
    travel_date: date | None = None


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("I want to book the Ubud package for two in May, is it available?", "Booking Inquiry"),
        ("How much would a 7 day trip cost for a family of four?", "Pricing Inquiry"),
        ("Can you plan an itinerary with 5 days in Ubud and 3 in Amed?", "Itinerary Planning"),
        ("My driver never came and I want a refund.", "Support Request"),
        ("Thank you for the amazing trip last month!", "Feedback"),
        ("Is Bali nice in January?", "General Information"),
    ],
)
def test_categories(message, category):
    assert local_analysis(FakeInquiry(message))["category"] == category


def test_urgency_follows_words_and_dates():
    soon = date.today() + timedelta(days=3)
    later = date.today() + timedelta(days=20)
    far = date.today() + timedelta(days=200)

    assert local_analysis(FakeInquiry("Please answer ASAP, thanks"))["urgency"] == "High"
    assert local_analysis(FakeInquiry("Ideas for our trip?", travel_date=soon))["urgency"] == "High"
    assert local_analysis(FakeInquiry("Ideas for our trip?", travel_date=later))["urgency"] == (
        "Medium"
    )
    assert local_analysis(FakeInquiry("Ideas for our trip?", travel_date=far))["urgency"] == "Low"


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("We would like to visit the temples and the rice terraces", "en"),
        ("Saya ingin pesan tur ke Ubud untuk keluarga dan teman", "id"),
        ("我们想去巴厘岛旅游", "zh"),
        ("Wir möchten nach Bali und ich habe eine Frage", "de"),
    ],
)
def test_language(message, language):
    assert local_analysis(FakeInquiry(message))["language"] == language


def test_summary_is_one_line(client, worker):
    job = wait_for_job(client, client.post("/api/v1/inquiries", json=VALID).headers["Location"])

    analysis = job["result"]["analysis"]
    assert analysis["source"] == "local"
    assert "\n" not in analysis["summary"]
    assert analysis["summary"].startswith("Ayu Lestari (Family trip in March):")


# --- the original backend's fields: suggested_reply, required_action, keywords --------------


def test_the_rules_give_a_reply_an_action_and_keywords():
    analysis = local_analysis(
        FakeInquiry("Please book Ubud and Uluwatu for us ASAP, we arrive tomorrow!"),
        ["Ubud", "Uluwatu Temple", "Amed"],
    )

    assert analysis["category"] == "Booking Inquiry"
    assert analysis["urgency"] == "High"
    assert analysis["required_action"].startswith("Reply today: check availability")
    assert analysis["suggested_reply"].startswith("Dear Ayu, we would be glad to arrange this.")
    assert analysis["keywords"][0] == "Ubud"
    assert "Amed" not in analysis["keywords"]
    assert {"book", "asap", "tomorrow"} <= set(analysis["keywords"])
    assert len(analysis["keywords"]) <= 8


def test_keywords_are_bounded_for_a_long_rambling_message():
    message = " ".join(f"wonderful{n}word" * 3 for n in range(200))

    keywords = local_analysis(FakeInquiry(message))["keywords"]

    assert 0 < len(keywords) <= 8
    assert all(len(word) <= 40 for word in keywords)


def test_the_back_office_shows_the_stored_analysis(app, client, worker):
    admin = token_for(app, role="admin")
    job = wait_for_job(client, client.post("/api/v1/inquiries", json=VALID).headers["Location"])

    (inquiry,) = client.get("/api/v1/inquiries", headers=admin).get_json()["items"]

    analysis = inquiry["analysis"]
    assert analysis == job["result"]["analysis"]
    assert analysis["category"] == "Itinerary Planning"
    assert inquiry["category"] == "Itinerary Planning"  # the filterable column, set with it
    assert analysis["required_action"] == (
        "Draft a day-by-day itinerary proposal and send it with a quote."
    )
    assert analysis["suggested_reply"].startswith("Dear Ayu Lestari,")
    assert analysis["keywords"][0] == "Ubud"  # a catalogue place named in the message
    assert {"plan", "trip"} <= set(analysis["keywords"])
    stored = sql(app, "SELECT analysis FROM inquiries")[0][0]
    assert stored["keywords"] == analysis["keywords"]
