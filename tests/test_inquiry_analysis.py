"""Local rules for inquiry analysis (used when Gemini is not configured or unavailable)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from api.inquiries.analysis import local_analysis
from tests.conftest import wait_for_job
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
