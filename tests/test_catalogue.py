"""The bundled destinations catalogue and its endpoints."""

from __future__ import annotations

from api import response_cache
from api.catalogue import service as catalogue
from tests.conftest import sql

MUST_HAVE = [
    "Ubud",
    "Tegallalang",
    "Uluwatu",
    "Tanah Lot",
    "Mount Batur",
    "Nusa Penida",
    "Sidemen",
    "Amed",
    "Lovina",
    "Munduk",
    "Jatiluwih",
]


def test_the_bundled_catalogue_covers_real_bali_places():
    items = catalogue.bundled()

    assert len(items) >= 40
    assert len({item["slug"] for item in items}) == len(items)
    names = " ".join(item["name"] + " " + item["description"] for item in items)
    for place in MUST_HAVE:
        assert place in names, place
    for item in items:
        assert -8.9 < item["latitude"] < -8.0
        assert 114.4 < item["longitude"] < 115.8
        assert 0 <= item["price_min_usd"] <= item["price_max_usd"]
        assert item["best_time"] in {"sunrise", "morning", "afternoon", "sunset", "evening"}
        assert item["tags"]
        assert item["duration_minutes"] > 0


def test_list_filters_and_pages(client):
    everything = client.get("/api/v1/destinations?per_page=100").get_json()
    ubud = client.get("/api/v1/destinations?area=ubud&per_page=100").get_json()
    temples = client.get("/api/v1/destinations?category=temple&per_page=100").get_json()
    snorkel = client.get("/api/v1/destinations?tag=snorkeling").get_json()
    second_page = client.get("/api/v1/destinations?per_page=10&page=2").get_json()

    assert everything["meta"]["total"] == len(catalogue.bundled())
    assert ubud["items"]
    assert all(item["area"] == "ubud" for item in ubud["items"])
    assert all(item["category"] == "temple" for item in temples["items"])
    assert {item["slug"] for item in snorkel["items"]} >= {"amed-jemeluk-snorkeling"}
    assert second_page["items"] == everything["items"][10:20]
    assert client.get("/api/v1/destinations?per_page=0").status_code == 422


def test_one_destination_by_slug(client):
    response = client.get("/api/v1/destinations/mount-batur-sunrise-trek")

    assert response.status_code == 200
    assert response.get_json()["best_time"] == "sunrise"
    assert client.get("/api/v1/destinations/atlantis").status_code == 404


def test_seeding_is_idempotent_and_invalidates_the_cache(app, client):
    client.get("/api/v1/destinations")  # fills the cache
    sql(app, "UPDATE destinations SET name = 'Vandalised' WHERE slug = 'tanah-lot-temple'")

    seed = app.test_cli_runner()
    assert seed.invoke(args=["catalogue", "seed"]).output == "catalogue: 0 created, 1 updated\n"
    assert seed.invoke(args=["catalogue", "seed"]).output == "catalogue: 0 created, 0 updated\n"

    assert client.get("/api/v1/destinations/tanah-lot-temple").get_json()["name"] == (
        "Tanah Lot Temple"
    )


def test_seed_command(app):
    result = app.test_cli_runner().invoke(args=["catalogue", "seed"])

    assert result.exit_code == 0
    assert "0 created" in result.output


def test_place_names_follow_the_catalogue_version(app):
    """The names every inquiry's analysis reads are kept by the app between jobs, for one
    version of the catalogue; a change of the catalogue (its version bumped, as seeding does)
    is seen by the next job."""
    with app.app_context():
        assert "Tanah Lot Temple" in catalogue.place_names()
    sql(app, "UPDATE destinations SET name = 'Vandalised' WHERE slug = 'tanah-lot-temple'")
    with app.app_context():
        assert "Vandalised" not in catalogue.place_names()  # the same version: kept

        response_cache.bump_now("catalogue")

        names = catalogue.place_names()
    assert "Vandalised" in names
    assert "Tanah Lot Temple" not in names
