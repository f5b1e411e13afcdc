"""Properties of the local itinerary planner."""

from __future__ import annotations

import math
from itertools import combinations, pairwise

import pytest

from api.catalogue.service import bundled
from api.itineraries import planner

CATALOGUE = bundled()
BY_SLUG = {item["slug"]: item for item in CATALOGUE}


def request(**changes):
    return {
        "duration_days": 5,
        "travelers": {"adults": 2, "children": 0},
        "budget": "moderate",
        "interests": ["temples", "beaches", "food"],
        "pace": "balanced",
        **changes,
    }


def slugs(plan):
    return [
        a["destination_slug"]
        for d in plan["days"]
        for a in d["activities"]
        if a.get("destination_slug")
    ]


def minutes(time):
    hours, mins = map(int, time.split(":"))
    return hours * 60 + mins


@pytest.mark.parametrize("days", [1, 2, 7, 14, 30])
@pytest.mark.parametrize("pace", ["relaxed", "balanced", "packed"])
def test_exact_days_no_repeats_and_ordered_non_overlapping_times(days, pace):
    plan = planner.plan(request(duration_days=days, pace=pace), CATALOGUE)

    assert [day["day"] for day in plan["days"]] == list(range(1, days + 1))
    assert len(slugs(plan)) == len(set(slugs(plan)))
    for day in plan["days"]:
        activities = day["activities"]
        assert activities
        for earlier, later in pairwise(activities):
            assert minutes(earlier["time"]) + earlier["duration_minutes"] <= minutes(later["time"])
        last = activities[-1]
        assert minutes(last["time"]) + last["duration_minutes"] <= 22 * 60


def test_pace_changes_how_much_happens_each_day():
    counts = {
        pace: sum(len(d["activities"]) for d in planner.plan(request(pace=pace), CATALOGUE)["days"])
        for pace in ("relaxed", "balanced", "packed")
    }

    assert counts["relaxed"] < counts["balanced"] < counts["packed"]
    assert counts["relaxed"] == 2 * 5


def test_interests_shape_the_plan():
    water = planner.plan(request(interests=["snorkeling"], duration_days=3), CATALOGUE)
    culture = planner.plan(request(interests=["temples"], duration_days=3), CATALOGUE)

    def share(plan, predicate):
        return sum(map(predicate, (BY_SLUG[s] for s in slugs(plan)))) / len(slugs(plan))

    def is_temple(place):
        return place["category"] == "temple"

    def snorkels(place):
        return "snorkeling" in place["tags"]

    assert share(culture, is_temple) > 0.5 > share(water, is_temple)
    assert share(water, snorkels) > share(culture, snorkels)


def test_budget_tier_and_budget_usd_change_the_choices():
    rich = planner.plan(request(budget="luxury", interests=["island"]), CATALOGUE)
    budget = planner.plan(request(budget="budget", interests=["island"]), CATALOGUE)
    tight = planner.plan(request(interests=["island"], budget_usd=1000), CATALOGUE)

    assert "nusa-penida-west-tour" in slugs(rich)
    assert all(BY_SLUG[s]["price_min_usd"] <= 40 for s in slugs(budget))
    assert "nusa-penida-west-tour" not in slugs(budget)
    assert tight["estimated_budget"]["total"] <= 1000
    assert tight["estimated_budget"]["within_budget"] is True
    assert set(slugs(tight)) != set(slugs(rich))


def test_places_on_the_same_day_are_near_each_other():
    plan = planner.plan(request(duration_days=7, pace="packed"), CATALOGUE)

    for day in plan["days"]:
        places = [
            BY_SLUG[a["destination_slug"]] for a in day["activities"] if a.get("destination_slug")
        ]
        for a, b in combinations(places, 2):
            assert planner._distance_km(a, b) <= 2 * planner.SAME_DAY_RADIUS_KM


def test_sunrise_treks_start_before_dawn_and_dates_follow_the_start_date():
    plan = planner.plan(
        request(interests=["volcano", "hiking"], start_date="2027-07-01", duration_days=3),
        CATALOGUE,
    )

    trek = next(
        a
        for d in plan["days"]
        for a in d["activities"]
        if a.get("destination_slug") == "mount-batur-sunrise-trek"
    )
    assert trek["time"] == "03:30"
    assert [d["date"] for d in plan["days"]] == ["2027-07-01", "2027-07-02", "2027-07-03"]


def test_a_long_trip_runs_out_of_catalogue_gracefully():
    plan = planner.plan(request(duration_days=30, pace="packed", budget="luxury"), CATALOGUE)

    assert len(plan["days"]) == 30
    assert len(set(slugs(plan))) == len(slugs(plan)) <= len(CATALOGUE)
    assert plan["days"][-1]["activities"][0]["title"].startswith("Free time")


def test_budget_estimate_adds_up():
    plan = planner.plan(request(travelers={"adults": 2, "children": 2}), CATALOGUE)

    budget = plan["estimated_budget"]
    costs = sum(a["estimated_cost"] for d in plan["days"] for a in d["activities"])
    assert budget["activities"] == costs
    assert budget["total"] == budget["activities"] + budget["lodging_food_transport"]
    assert budget["per_person"] == round(budget["total"] / 4)


def test_minimum_budget():
    assert planner.minimum_budget(7, 2, 0) == 560
    assert planner.minimum_budget(1, 1, 0) == 300
    assert planner.minimum_budget(10, 2, 2) == math.ceil(10 * (80 + 40) / 10) * 10


def test_each_night_is_in_the_area_of_the_days_places_and_meals_follow_the_day():
    plan = planner.plan(request(duration_days=8, interests=["volcano", "temples"]), CATALOGUE)
    areas = {item["area"] for item in CATALOGUE}

    previous = planner.DEFAULT_AREA
    for day in plan["days"]:
        stay = day["accommodation"]
        places = [
            BY_SLUG[a["destination_slug"]] for a in day["activities"] if "destination_slug" in a
        ]
        expected = places[0]["area"] if places else previous
        assert stay["area"] == expected
        assert stay["area"] in areas
        assert stay["suggestion"].startswith("Stay in a boutique hotel with a pool: ")
        times = [meal["time"] for meal in day["meals"]]
        assert times == sorted(times)
        assert len(times) == 3
        assert day["meals"][1]["suggestion"].startswith("Lunch: ")
        if minutes(day["activities"][0]["time"]) < minutes("07:30"):  # a sunrise start
            assert day["meals"][0]["time"] == day["activities"][0]["time"]
            assert "packed breakfast" in day["meals"][0]["suggestion"]
        previous = stay["area"]
    assert any("packed breakfast" in day["meals"][0]["suggestion"] for day in plan["days"])


def test_the_kind_of_stay_follows_the_budget_tier():
    def first_stay(tier):
        return planner.plan(request(budget=tier), CATALOGUE)["days"][0]["accommodation"]

    assert "homestay" in first_stay("budget")["suggestion"]
    assert "villa" in first_stay("luxury")["suggestion"]
