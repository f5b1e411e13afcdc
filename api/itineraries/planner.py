"""The local planner: a sensible day-by-day plan built from the destinations catalogue.

It works with no AI at all. Choices follow the request: places matching the interests come
first; the budget tier (and `budget_usd`, when given) rules out what the party cannot afford;
the pace sets how many activities fit in a day; each day stays around one anchor place, adding
the nearest others, so travel stays short; times follow each place's best time of day with
realistic travel between them; nothing is visited twice.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

PACE_ACTIVITIES = {"relaxed": 2, "balanced": 3, "packed": 4}
PACE_ACTIVE_MINUTES = {"relaxed": 420, "balanced": 600, "packed": 780}
TIER_MAX_PRICE = {"budget": 40, "moderate": 100, "luxury": 100_000}
# Lodging share, meals and local transport per adult per day, by tier (a child costs half).
TIER_DAILY_COST = {"budget": 35, "moderate": 90, "luxury": 250}
CHILD_SHARE = 0.5
# The least a trip can cost per day (feasibility of `budget_usd`).
MIN_USD_PER_ADULT_DAY, MIN_USD_PER_CHILD_DAY, MIN_TRIP_USD = 40, 20, 300
SLOT_START = {
    "sunrise": 5 * 60 + 30,
    "morning": 8 * 60 + 30,
    "afternoon": 13 * 60 + 30,
    "sunset": 16 * 60 + 30,
    "evening": 19 * 60,
}
EARLY_TREK_START = 3 * 60 + 30  # long sunrise treks leave in the dark
DAY_ENDS = 22 * 60
SAME_DAY_RADIUS_KM = 35
INTEREST_TERMS = {
    "beach": {"beach", "beaches", "sea", "coast", "sand", "swimming"},
    "temple": {"temple", "temples", "spiritual", "religion"},
    "culture": {"culture", "cultural", "history", "art", "dance", "tradition", "village"},
    "food": {"food", "culinary", "cooking", "eat", "cuisine", "coffee"},
    "nature": {
        "nature",
        "rice",
        "rice-terraces",
        "terraces",
        "waterfall",
        "waterfalls",
        "jungle",
        "volcano",
        "hiking",
    },
    "adventure": {
        "adventure",
        "rafting",
        "trek",
        "trekking",
        "hiking",
        "surf",
        "surfing",
        "volcano",
    },
    "water": {
        "snorkeling",
        "snorkelling",
        "diving",
        "marine",
        "manta",
        "dolphins",
        "water",
        "wildlife",
    },
    "wellness": {"wellness", "spa", "yoga", "relax", "relaxing", "massage"},
    "shopping": {"shopping", "market", "crafts", "souvenirs", "art"},
    "nightlife": {"nightlife", "party", "bars", "clubs"},
    "photography": {"photography", "photo", "photos", "instagram", "viewpoint"},
    "family": {"family", "kids", "children"},
}
GENERAL_TIPS = [
    "Wear or carry a sarong and sash for temples; many lend them at the gate.",
    "Keep small rupiah notes for entrance fees, parking and donations.",
    "A private driver for the day is the easiest way between areas; roads are slow.",
    "Drink bottled or filtered water, and use reef-safe sunscreen.",
    "November to March is the rainy season: plan outdoor visits for the morning.",
]
INTEREST_TIPS = {
    "water": "Boat trips depend on the sea: keep a spare day in case one is cancelled.",
    "adventure": "Bring closed shoes and a warm layer for early treks; summits are cold.",
    "temple": "Women on their period are asked not to enter temples; shoulders stay covered.",
    "food": "Try babi guling and nasi campur at a local warung; ask for 'tidak pedas' if you "
    "prefer it mild.",
    "beach": "Swim between the flags: currents on the south and west coasts are strong.",
}


# Where to stay and what to eat, per catalogue area (the original's "HANDPICKED ACCOMMODATIONS"
# and "CULINARY EXPERIENCES", made per day): the night goes where the day's places are.
STAYS = {
    "ubud": "central Ubud or Penestanan, walking distance to the palace, market and rice fields",
    "south": "Seminyak or Sanur for beaches and restaurants, or Jimbaran near the airport",
    "east": "Amed or Candidasa on the coast, or Sidemen among the rice terraces",
    "north": "Lovina on the quiet black-sand coast",
    "west": "Pemuteran, the base for Menjangan Island and West Bali National Park",
    "kintamani": "a lodge on the Batur caldera rim, close to the trailheads",
    "bedugul": "a lakeside or hill lodge in Bedugul or Munduk, cool at night",
    "nusa-islands": "Nusa Lembongan near the harbour, a short boat from Nusa Penida",
}
STAY_KIND = {
    "budget": "a family-run homestay or guesthouse",
    "moderate": "a boutique hotel with a pool",
    "luxury": "a private pool villa or resort",
}
AREA_FOOD = {  # (lunch, dinner)
    "ubud": ("nasi campur at a warung", "Balinese smoked duck (bebek betutu) in Ubud"),
    "south": ("a beach-club lunch or nasi goreng", "grilled seafood on Jimbaran beach"),
    "east": ("fresh fish satay (sate lilit) by the sea", "a warung dinner in Amed"),
    "north": ("a Lovina seafood warung", "grilled fish and sambal matah in Lovina"),
    "west": ("a warung lunch in Pemuteran", "dinner at your Pemuteran hotel by the beach"),
    "kintamani": ("lunch with a view of Mount Batur", "a warm soup (soto ayam) in Kintamani"),
    "bedugul": ("strawberries and a warung lunch near the lake", "a cosy dinner in Munduk"),
    "nusa-islands": ("a cliff-top warung lunch", "sunset dinner on Nusa Lembongan"),
}
DEFAULT_AREA = "south"  # the airport's side of the island
BREAKFAST = 7 * 60 + 30


def stay(area: str, tier: str) -> dict[str, str]:
    """Where to spend the night in `area`, for the budget tier."""
    area = area if area in STAYS else DEFAULT_AREA
    return {"area": area, "suggestion": f"Stay in {STAY_KIND[tier]}: {STAYS[area]}."}


def meals(area: str, first_start: int | None) -> list[dict[str, str]]:
    """Breakfast (packed, and as early as the day, for a sunrise start), lunch and dinner in
    `area`."""
    lunch, dinner = AREA_FOOD.get(area, AREA_FOOD[DEFAULT_AREA])
    if first_start is not None and first_start < BREAKFAST:
        breakfast = {
            "time": _clock(first_start),
            "suggestion": "A packed breakfast from your hotel for the early start",
        }
    else:
        breakfast = {"time": _clock(BREAKFAST), "suggestion": "Breakfast at your hotel"}
    return [
        breakfast,
        {"time": "12:30", "suggestion": f"Lunch: {lunch}"},
        {"time": "19:30", "suggestion": f"Dinner: {dinner}"},
    ]


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def travellers(request: dict[str, Any]) -> tuple[int, int]:
    party = request["travelers"]
    return party["adults"], party.get("children", 0)


def minimum_budget(duration_days: int, adults: int, children: int) -> int:
    """The least a trip of this length and party can cost, in USD (rounded up to 10)."""
    per_day = adults * MIN_USD_PER_ADULT_DAY + children * MIN_USD_PER_CHILD_DAY
    return max(MIN_TRIP_USD, math.ceil(duration_days * per_day / 10) * 10)


def _distance_km(a: dict[str, Any], b: dict[str, Any]) -> float:
    lat1, lon1, lat2, lon2 = map(
        math.radians, (a["latitude"], a["longitude"], b["latitude"], b["longitude"])
    )
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 6371 * 2 * math.asin(math.sqrt(h))


def _travel_minutes(a: dict[str, Any], b: dict[str, Any]) -> int:
    """Island roads: about 2 minutes a kilometre plus parking, in 5-minute steps."""
    return int(math.ceil((15 + 2 * _distance_km(a, b)) / 5) * 5)


def _terms(interest: str) -> tuple[set[str], set[str]]:
    """The interest's own words, and the related words of its theme(s)."""
    word = interest.strip().lower()
    exact = {word, word.rstrip("s")}
    related: set[str] = set()
    for key, synonyms in INTEREST_TERMS.items():
        if exact & (synonyms | {key}):
            related |= synonyms | {key}
    return exact, related - exact


def _party_cost(destination: dict[str, Any], tier: str, adults: int, children: int) -> int:
    low, high = destination["price_min_usd"], destination["price_max_usd"]
    price = {"budget": low, "moderate": (low + high) / 2, "luxury": high}[tier]
    return round(price * (adults + CHILD_SHARE * children))


def _match_score(
    destination: dict[str, Any], interest_terms: list[tuple[set[str], set[str]]]
) -> int:
    """10 per interest named by the place's tags, category or name; 4 if only its theme is."""
    words = set(destination["tags"]) | {destination["category"]}
    words |= {part.lower().strip("(),") for part in destination["name"].split()}
    return sum(
        10 if exact & words else 4 if related & words else 0 for exact, related in interest_terms
    )


def _daily_costs(request: dict[str, Any]) -> int:
    adults, children = travellers(request)
    per_day = TIER_DAILY_COST[request["budget"]] * (adults + CHILD_SHARE * children)
    return round(per_day * request["duration_days"])


def _candidates(request: dict[str, Any], catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Affordable places, best matches first, each with its score and party cost."""
    tier = request["budget"]
    adults, children = travellers(request)
    interest_terms = [_terms(interest) for interest in request["interests"]]
    ranked = []
    for destination in catalogue:
        if destination["price_min_usd"] > TIER_MAX_PRICE[tier]:
            continue
        score = _match_score(destination, interest_terms)
        if children and "family" in destination["tags"]:
            score += 3
        ranked.append(
            {
                **destination,
                "score": score,
                "party_cost": _party_cost(destination, tier, adults, children),
            }
        )
    ranked.sort(key=lambda d: (-d["score"], d["party_cost"], d["slug"]))
    return ranked


def _start_for(destination: dict[str, Any]) -> int:
    if destination["best_time"] == "sunrise" and destination["duration_minutes"] >= 300:
        return EARLY_TREK_START
    return SLOT_START.get(destination["best_time"], SLOT_START["morning"])


def _schedule(places: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Times for the places in best-time order, or None if they do not fit in one day."""
    timed = []
    clock, previous = 0, None
    for place in sorted(places, key=lambda p: (_start_for(p), p["slug"])):
        earliest = clock + (_travel_minutes(previous, place) if previous else 0)
        start = max(_start_for(place), earliest)
        end = start + place["duration_minutes"]
        if end > DAY_ENDS:
            return None
        timed.append((start, place))
        clock, previous = end, place
    return [{"start": start, "place": place} for start, place in timed]


def _activity(start: int, place: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": _clock(start),
        "title": place["name"],
        "description": place["description"],
        "location": place["name"],
        "duration_minutes": place["duration_minutes"],
        "estimated_cost": place["party_cost"],
        "destination_slug": place["slug"],
    }


FREE_DAY = {
    "time": "10:00",
    "title": "Free time: pool, beach or a slow café morning",
    "description": "A day with nothing booked, to rest or revisit a favourite place.",
    "location": "Your hotel",
    "duration_minutes": 240,
    "estimated_cost": 0,
}


def _plan_day(remaining: list[dict[str, Any]], pace: str, allowance: float) -> list[dict[str, Any]]:
    """Pick an anchor, add its nearest affordable neighbours that fit, schedule them."""
    affordable = [d for d in remaining if d["party_cost"] <= allowance]
    if not affordable:
        return []
    anchor = affordable[0]
    chosen, spent = [anchor], anchor["party_cost"]
    minutes = anchor["duration_minutes"]
    neighbours = sorted(
        (d for d in affordable[1:] if _distance_km(anchor, d) <= SAME_DAY_RADIUS_KM),
        key=lambda d: (-d["score"], _distance_km(anchor, d), d["slug"]),
    )
    for place in neighbours:
        if len(chosen) >= PACE_ACTIVITIES[pace]:
            break
        if spent + place["party_cost"] > allowance:
            continue
        if minutes + place["duration_minutes"] > PACE_ACTIVE_MINUTES[pace]:
            continue
        if _schedule([*chosen, place]) is None:
            continue
        chosen.append(place)
        spent += place["party_cost"]
        minutes += place["duration_minutes"]
    return _schedule(chosen) or []


def plan(request: dict[str, Any], catalogue: list[dict[str, Any]]) -> dict[str, Any]:
    """A complete itinerary: exactly `duration_days` days."""
    days_count, pace = request["duration_days"], request["pace"]
    adults, children = travellers(request)
    daily_costs = _daily_costs(request)
    activity_allowance = (
        request["budget_usd"] - daily_costs if request.get("budget_usd") else math.inf
    )
    remaining = _candidates(request, catalogue)
    start_date = date.fromisoformat(request["start_date"]) if request.get("start_date") else None
    days, activities_cost, areas = [], 0, []
    area = DEFAULT_AREA  # a free day sleeps where the day before did
    for number in range(1, days_count + 1):
        scheduled = _plan_day(remaining, pace, activity_allowance - activities_cost)
        used = {item["place"]["slug"] for item in scheduled}
        remaining = [d for d in remaining if d["slug"] not in used]
        activities = [_activity(item["start"], item["place"]) for item in scheduled]
        if activities:
            area = scheduled[0]["place"]["area"]
            areas.append(area)
            title = f"{area.replace('-', ' ').title()}: {scheduled[0]['place']['name']}"
        else:
            activities, title = [dict(FREE_DAY)], "A free day"
        activities_cost += sum(activity["estimated_cost"] for activity in activities)
        first_start = scheduled[0]["start"] if scheduled else None
        day: dict[str, Any] = {
            "day": number,
            "title": title,
            "activities": activities,
            "accommodation": stay(area, request["budget"]),
            "meals": meals(area, first_start),
        }
        if start_date:
            day["date"] = (start_date + timedelta(days=number - 1)).isoformat()
        days.append(day)
    total = daily_costs + activities_cost
    people = adults + children
    interests = ", ".join(request["interests"])
    party = f"{adults} adult{'s' * (adults > 1)}" + (
        f" and {children} child{'ren' * (children > 1)}" if children else ""
    )
    visited = ", ".join(dict.fromkeys(a.replace("-", " ").title() for a in areas)) or "Bali"
    budget: dict[str, Any] = {
        "currency": "USD",
        "activities": activities_cost,
        "lodging_food_transport": daily_costs,
        "total": total,
        "per_person": round(total / people),
    }
    if request.get("budget_usd"):
        budget["within_budget"] = total <= request["budget_usd"]
    tips = GENERAL_TIPS + [
        tip
        for key, tip in INTEREST_TIPS.items()
        if any(key in set.union(*_terms(interest)) for interest in request["interests"])
    ]
    return {
        "title": f"{days_count}-day {pace} Bali trip: {interests}",
        "summary": (
            f"A {pace} {days_count}-day plan for {party} around {visited}, built around "
            f"{interests} on a {request['budget']} budget."
        ),
        "days": days,
        "tips": tips,
        "estimated_budget": budget,
    }
