"""The local answerer: the agency's FAQ and the destinations catalogue, no AI needed."""

from __future__ import annotations

import re
from typing import Any

GREETINGS = {"hi", "hello", "hey", "halo", "hai", "selamat", "morning", "evening", "pagi"}
PACKAGES = (
    "Our signature packages: Cultural Heartbeat of Ubud (5 days / 4 nights, from US$750), "
    "Coastal Vibe & Surf (7 days / 6 nights, from US$1,200), Luxury & Relaxation (4 days / "
    "3 nights, from US$1,500) and Ultimate Bali Adventure (10 days / 9 nights, from US$2,500). "
    "Each can be tailored to your dates, party and interests."
)
FAQ: list[tuple[tuple[str, ...], str]] = [
    (("package", "packages", "tour", "tours", "deal"), PACKAGES),
    (
        ("book", "booking", "reserve", "reservation", "deposit", "pay", "payment"),
        "To book, send us an inquiry (the contact form) or message us on WhatsApp with your "
        "dates, party size and interests. A travel specialist replies within 24-48 hours with a "
        "quote; payment options and cancellation terms are confirmed in that quote.",
    ),
    (
        ("price", "prices", "cost", "costs", "how much", "expensive", "cheap", "budget"),
        "A comfortable mid-range Bali trip costs about US$90 per adult per day for lodging, "
        "meals and local transport, plus activities (most entrance fees are US$2-15, day trips "
        "US$35-120). " + PACKAGES,
    ),
    (
        ("visa", "passport", "immigration", "entry"),
        "Many nationalities get a Visa on Arrival at Ngurah Rai airport (500,000 IDR, 30 days, "
        "extendable once), also available online as an e-VOA. Your passport must be valid for 6 "
        "months. Bali also charges a one-time tourist levy of 150,000 IDR, payable online.",
    ),
    (
        ("weather", "rain", "rainy", "season", "best time", "when to go", "dry"),
        "The dry season (April to October) is the best time for beaches, treks and diving; July "
        "and August are busiest. November to March brings short tropical downpours, usually in "
        "the afternoon, greener rice fields and fewer crowds.",
    ),
    (
        ("money", "currency", "rupiah", "idr", "atm", "cash", "card"),
        "The currency is the Indonesian rupiah (IDR). Cards work in hotels and most restaurants; "
        "carry small notes for temples, parking and warungs, and use bank ATMs inside shops.",
    ),
    (
        ("transport", "driver", "taxi", "grab", "gojek", "scooter", "car", "airport", "transfer"),
        "A private car with driver for the day is the easiest way to explore (we arrange them, "
        "with airport transfers). Grab and Gojek work in the south and Ubud; renting a scooter "
        "needs an international licence with a motorcycle endorsement.",
    ),
    (
        ("temple", "temples", "dress", "sarong", "etiquette"),
        "At temples wear a sarong and sash (often lent at the gate) and cover your shoulders; "
        "don't climb shrines or step on offerings, and ask before photographing ceremonies.",
    ),
    (
        ("safe", "safety", "health", "vaccine", "bali belly", "water"),
        "Bali is generally safe. Drink bottled or filtered water, swim between the flags (south "
        "and west coast currents are strong), use sunscreen and insect repellent, and have "
        "travel insurance that covers scooters and diving if you plan them.",
    ),
    (
        ("nyepi", "holiday", "ceremony", "galungan", "festival"),
        "On Nyepi, the Balinese day of silence (in March), the whole island closes for 24 hours, "
        "the airport included. Galungan and Kuningan, twice a year, fill villages with penjor "
        "bamboo poles and temple ceremonies.",
    ),
    (
        ("contact", "whatsapp", "phone", "call", "talk", "human", "agent"),
        "You can reach our team on WhatsApp at {whatsapp}, or send an inquiry through the contact "
        "form; we answer within 24-48 hours.",
    ),
    (
        ("itinerary", "plan", "planning", "schedule", "days"),
        "Tell me how many days you have, who is travelling and what you love, or use our "
        "itinerary planner for a day-by-day plan you can export to your calendar or WhatsApp.",
    ),
]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9-]+", text.lower()))


def _faq_matches(text: str) -> list[str]:
    lowered, words = text.lower(), _words(text)
    scored = []
    for keywords, answer in FAQ:
        hits = sum(1 for key in keywords if (key in words if " " not in key else key in lowered))
        if hits:
            scored.append((hits, answer))
    scored.sort(key=lambda pair: -pair[0])
    return [answer for _, answer in scored[:2]]


def _destination_matches(text: str, catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    words = {word.rstrip("s") for word in _words(text)} | _words(text)
    lowered = text.lower()
    scored = []
    for place in catalogue:
        score = 0
        if place["area"].replace("-", " ") in lowered:
            score += 3
        if any(part.lower() in words for part in place["name"].split() if len(part) > 4):
            score += 4
        score += 2 * len(words & set(place["tags"])) + (2 if place["category"] in words else 0)
        if score:
            scored.append((score, place))
    scored.sort(key=lambda pair: (-pair[0], pair[1]["price_min_usd"], pair[1]["slug"]))
    # Among the best matches, show different kinds of places before more of the same kind.
    ranked = [place for _, place in scored]
    seen: set[str] = set()
    varied = []
    for place in ranked:
        if place["category"] not in seen:
            seen.add(place["category"])
            varied.append(place)
    return (varied + [place for place in ranked if place not in varied])[:4]


def _describe(place: dict[str, Any]) -> str:
    hours = place["duration_minutes"] / 60
    price = (
        "free"
        if place["price_max_usd"] == 0
        else f"about US${place['price_min_usd']}-{place['price_max_usd']} per person"
    )
    return (
        f"• {place['name']} ({place['area'].replace('-', ' ').title()}): "
        f"{place['description']} Best at {place['best_time']}, {hours:g} h, {price}."
    )


def answer(message: str, catalogue: list[dict[str, Any]], whatsapp: str) -> str:
    words = _words(message)
    places = _destination_matches(message, catalogue)
    faqs = _faq_matches(message)
    parts = []
    if words and words <= GREETINGS | {"there", "bali", "team"}:
        parts.append("Selamat datang! I'm the BaliBlissed assistant.")
    if places:
        parts.append("Here are places you might love:\n" + "\n".join(map(_describe, places)))
    parts += [faq.format(whatsapp=whatsapp) for faq in faqs]
    if not places and not faqs:
        parts.append(
            "I can help with Bali destinations (try 'what to do in Ubud' or 'best snorkelling'),"
            " trip lengths and budgets, visas, weather, money, transport, temple etiquette and "
            f"bookings. Tell me what you're interested in, or message our team on WhatsApp at "
            f"{whatsapp}."
        )
    return "\n\n".join(parts)
