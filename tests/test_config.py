"""Settings: production refuses unsafe configurations; every variable is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api import create_app
from config import ConfigError, Env, load_config

STRONG_SECRET = "s" * 48
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": STRONG_SECRET,
    "DATABASE_URL": "postgresql://app@db.internal/baliblissed",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "METRICS_TOKEN": "operators-only-0123456789",
}


def test_production_accepts_a_complete_configuration():
    config = load_config(PRODUCTION)

    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://app@db.internal/baliblissed"
    assert config.CELERY_BROKER_URL == "redis://cache.internal:6379/0"
    assert config.JWT_SECRET_KEY == STRONG_SECRET


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"DATABASE_URL": ""}, "DATABASE_URL must point to PostgreSQL"),
        ({"DATABASE_URL": "sqlite:///prod.db"}, "DATABASE_URL must point to PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
    ],
)
def test_production_refuses_to_start_with_a_clear_message(change, message):
    with pytest.raises(ConfigError, match=message):
        create_app({**PRODUCTION, **change})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"APP_ENV": "staging"}, "APP_ENV must be one of"),
        ({"JOB_LEASE_SECONDS": "soon"}, "JOB_LEASE_SECONDS must be a whole number"),
        ({"RATELIMIT_ENABLED": "maybe"}, "RATELIMIT_ENABLED must be true or false"),
        ({"EMAIL_PROVIDER": "pigeon"}, "EMAIL_PROVIDER must be"),
    ],
)
def test_malformed_settings_are_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ)


def test_the_embedded_default_needs_no_environment(tmp_path):
    config = load_config({"DATA_DIR": str(tmp_path)})

    assert config.APP_ENV == "development"
    assert config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert config.CELERY_BROKER_URL.startswith("sqla+sqlite:///")
    assert config.CACHE_TYPE == "FileSystemCache"  # shared by every local process
    assert str(tmp_path / "cache") == config.CACHE_DIR
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert config.EMAIL_PROVIDER == "outbox"


def test_every_setting_read_is_in_the_readme_table():
    load_config({})
    load_config(PRODUCTION)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))

    assert Env.names_read - documented == set()
