"""The deployment files, checked without a Docker engine: the Procfile's queues (with real
workers), docker-compose.yml against the compose-spec schema and our own rules, the
Dockerfile's build context, and the example crontab against beat's table."""

from __future__ import annotations

import io
import json
import os
import re
import runpy
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from honcho.environ import parse_procfile
from honcho.printer import Message

from api.jobs.kinds import KINDS, QUEUES
from api.maintenance import PERIODIC
from config import Env, load_config
from config.sizing import web_workers
from scripts import run_system
from tests.conftest import PROJECT_ROOT

COMPOSE_SCHEMA = PROJECT_ROOT / "deploy" / "schema" / "compose-spec.json"
PROCFILE = parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes
SUPERUSER_RESERVED_CONNECTIONS = 3  # PostgreSQL's default superuser_reserved_connections


def consumed_queues(argv: list[str]) -> set[str]:
    """The queues a `celery worker` command line consumes: -Q (else all), minus -X."""

    def values(flag: str, long: str) -> set[str]:
        found: set[str] = set()
        for index, arg in enumerate(argv):
            if arg in (flag, long) and index + 1 < len(argv):
                found |= set(argv[index + 1].split(","))
            elif arg.startswith(f"{long}="):
                found |= set(arg.split("=", 1)[1].split(","))
        return found

    included = values("-Q", "--queues") or set(QUEUES)
    return included - values("-X", "--exclude-queues")


def procfile_argv(name: str) -> list[str]:
    words = shlex.split(PROCFILE[name])
    return [word for word in words if not re.match(r"^[A-Z_]+=", word)]  # drop VAR=... prefixes


# --- Procfile: a media worker of its own -------------------------------------------------------


def test_procfile_gives_media_its_own_worker_and_the_rest_another():
    assert consumed_queues(procfile_argv("worker")) == set(QUEUES) - {"media"}
    assert consumed_queues(procfile_argv("worker-media")) == {"media"}
    assert {"web", "worker", "worker-media", "beat"} <= set(run_system.PROCESSES)
    assert {"beat", "flower", "release"} <= set(PROCFILE)


def test_make_runs_supervisor_survives_a_ctrl_c_in_the_middle_of_a_line():
    """honcho's signal handler prints ("SIGINT received") from inside the loop; landing while a
    line is printed it re-entered the stream, raised, and left the processes running."""

    class Interrupting(io.StringIO):
        """Output whose first write is interrupted by a signal handler that prints."""

        def __init__(self) -> None:
            super().__init__()
            self.interrupted = False

        def write(self, text: str) -> int:
            if not self.interrupted:
                self.interrupted = True
                printer.write(Message("line", "SIGINT received\n", NOW, "system", None))
            return super().write(text)

    NOW = datetime.now()  # noqa: N806
    output = Interrupting()
    printer = run_system.RecordingPrinter(output)
    printer.write(Message("line", "ready\n", NOW, "web", None))
    printer.write(Message("line", "web stopped (rc=0)\n", NOW, "system", None))

    lines = [line.split("| ", 1)[1] for line in output.getvalue().splitlines()]
    assert lines == ["ready", "SIGINT received", "web stopped (rc=0)"]
    assert printer.stops == [("web", 0)]


def test_the_procfile_workers_really_consume_those_queues(make_app, base_env):
    """Both Procfile lines, run as written (their shell expansions included), answer Celery's
    `active_queues` with the queues the test above reads from them."""
    app = make_app()
    env = {
        **os.environ,
        **base_env,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "CELERY_WORKER_CONCURRENCY": "1",
    }
    processes = [
        subprocess.Popen(
            ["sh", "-c", PROCFILE[name]],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for name in ("worker", "worker-media")
    ]
    try:
        celery = app.extensions["celery"]
        deadline = time.monotonic() + 60
        queues: dict[str, set[str]] = {}
        while time.monotonic() < deadline and len(queues) < 2:
            for process in processes:
                assert process.poll() is None, "a Procfile worker stopped"
            answer = celery.control.inspect(timeout=2).active_queues() or {}
            queues = {node.split("@")[0]: {q["name"] for q in qs} for node, qs in answer.items()}
        assert queues == {"worker": set(QUEUES) - {"media"}, "media": {"media"}}
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


# --- docker-compose.yml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(COMPOSE_SCHEMA.read_text())


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def compose_default(value: str) -> str:
    """What `${NAME:-default}` becomes when NAME is not set (other values as they are)."""
    found = re.fullmatch(r"\$\{[A-Z_]+:-([^}]*)\}", value)
    return found[1] if found else value


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("build")}


def test_compose_is_valid_against_the_compose_spec_schema(compose, schema):
    jsonschema.Draft7Validator(schema).validate(compose)


def test_the_schema_check_catches_a_mistake(compose, schema):
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["helthcheck"] = broken["services"]["web"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError, match="helthcheck"):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_compose_runs_every_process_type_and_exactly_one_beat(compose):
    services = compose["services"]
    assert {"web", "worker", "worker-media", "beat", "flower", "release"} <= set(services)
    beats = [name for name, s in services.items() if "beat" in command_words(s)]
    assert beats == ["beat"]
    assert "scale" not in services["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_compose_workers_consume_the_same_queues_as_the_procfile(compose):
    services = compose["services"]
    for name in ("worker", "worker-media"):
        assert consumed_queues(command_words(services[name])) == consumed_queues(
            procfile_argv(name)
        ), name


def test_every_long_running_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        if name == "release":
            continue
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"


def test_the_release_runs_once_and_before_the_app(compose):
    services = compose["services"]
    release = services["release"]
    assert release["restart"] == "no"
    words = " ".join(command_words(release))
    assert "db upgrade" in words
    assert "catalogue seed" in words
    assert words.index("db upgrade") < words.index("catalogue seed")
    assert release["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "worker-media", "beat"):
        condition = services[name]["depends_on"]["release"]["condition"]
        assert condition == "service_completed_successfully", name


def test_secrets_are_required_not_defaulted(compose):
    for name, service in app_services(compose).items():
        environment = service["environment"]
        for secret in ("SECRET_KEY", "METRICS_TOKEN"):
            assert re.fullmatch(rf"\$\{{{secret}:\?.+\}}", environment[secret]), (name, secret)
    flower = compose["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    assert flower.startswith("${FLOWER_BASIC_AUTH:?")


def test_compose_sets_only_settings_the_app_reads(compose, tmp_path):
    load_config({"DATA_DIR": str(tmp_path)})
    for name, service in app_services(compose).items():
        unknown = set(service["environment"]) - Env.names_read
        assert not unknown, f"{name} sets {unknown}, which config/ never reads"


def redis_args(compose: dict[str, Any], url: str) -> list[str]:
    host = re.match(r"redis://([^:/]+)", url)
    assert host, url
    return command_words(compose["services"][host[1]])


def test_security_state_and_broker_never_evicted_and_the_cache_evicts(compose):
    environment = compose["services"]["web"]["environment"]
    for setting in ("SECURITY_REDIS_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        args = redis_args(compose, environment[setting])
        assert args[args.index("--maxmemory-policy") + 1] == "noeviction", setting
    cache = redis_args(compose, environment["CACHE_REDIS_URL"])
    assert cache[cache.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert "--maxmemory" in cache  # an evicting policy needs a bound to evict at
    assert (
        environment["CACHE_REDIS_URL"].split("/")[2]
        != environment["SECURITY_REDIS_URL"].split("/")[2]
    )


def pool_of(service: dict[str, Any]) -> int:
    """pool_size + max_overflow of the service's processes, as config computes it."""
    size = service["environment"].get("DATABASE_POOL_SIZE", "10")
    options = load_config(
        {"DATABASE_URL": "postgresql://u@db/x", "DATABASE_POOL_SIZE": size}
    ).connections_per_process
    assert options is not None
    return options


def test_postgres_max_connections_matches_the_pool_arithmetic(compose):
    services = compose["services"]
    words = command_words(services["postgres"])
    max_connections = int(
        next(w.split("=", 1)[1] for w in words if w.startswith("max_connections="))
    )
    web = services["web"]
    reserve = int(web["environment"]["DATABASE_RESERVED_CONNECTIONS"])
    cpus = int(float(compose_default(str(web["cpus"]))))
    sizing = web_workers(
        cpus=cpus,
        requested=None,
        pool_per_worker=pool_of(web),
        max_connections=max_connections,
        reserve=reserve,
    )
    assert (sizing.workers, sizing.capped) == (cpus, False)  # every CPU gets a worker

    # The reserve covers every other process's pool, and PostgreSQL's superuser slots.
    others = 0
    for name, service in app_services(compose).items():
        if name == "web":
            continue
        processes = int(service["environment"].get("CELERY_WORKER_CONCURRENCY", "2"))
        is_worker = "worker" in command_words(service)
        others += (processes if is_worker else 1) * pool_of(service)
    assert reserve >= others + SUPERUSER_RESERVED_CONNECTIONS, (reserve, others)
    assert f"max_connections = {sizing.workers * pool_of(web)} + {reserve} = {max_connections}" in (
        (PROJECT_ROOT / "docker-compose.yml").read_text()
    )


def test_stop_grace_covers_the_longest_job_of_each_worker(compose):
    def seconds(value: str) -> int:
        return int(value.removesuffix("s"))

    services = compose["services"]
    longest_media = KINDS["media"].time_limit
    longest_other = max(kind.time_limit for kind in KINDS.values() if kind.queue != "media")
    assert seconds(services["worker-media"]["stop_grace_period"]) > longest_media
    assert seconds(services["worker"]["stop_grace_period"]) > longest_other
    assert seconds(services["web"]["stop_grace_period"]) > 35  # gunicorn's graceful_timeout


# --- Dockerfile and .dockerignore --------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out + "$")


def ignored(path: str) -> bool:
    """Docker's rules: the last matching pattern wins (`!` re-includes); a pattern matching a
    folder excludes everything in it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!"))
        if any(regex.match(prefix) for prefix in prefixes):
            result = not negated
    return result


def test_dockerignore_keeps_local_state_and_caches_out_of_the_image():
    for path in (
        ".venv/bin/python",
        ".tools/bin/uv",
        ".git/HEAD",
        "var/baliblissed.sqlite3",
        "var/outbox/x.eml",
        ".env",
        "secrets/gmail-token.json",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        ".mypy_cache/3.11/x.json",
        "tests/__pycache__/conftest.cpython-311.pyc",
        "api/__pycache__/x.pyc",
    ):
        assert ignored(path), path
    for path in ("pyproject.toml", "uv.lock", "wsgi.py", "api/__init__.py", "gunicorn.conf.py"):
        assert not ignored(path), path


def test_the_dockerfile_copies_only_what_the_clean_context_has():
    instructions = re.findall(
        r"^(COPY|ADD)\s+(.+)$", (PROJECT_ROOT / "Dockerfile").read_text(), flags=re.MULTILINE
    )
    assert instructions
    for _instruction, arguments in instructions:
        words = [w for w in shlex.split(arguments) if not w.startswith("--")]
        if any(w.startswith("--from") for w in shlex.split(arguments)):
            continue  # from another stage, not the context
        for source in words[:-1]:
            if source == ".":
                continue
            assert (PROJECT_ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not ignored(source), f"COPY {source}: excluded by .dockerignore"
    # What the image runs is in the context.
    for needed in ("wsgi.py", "celery_app.py", "gunicorn.conf.py", "flowerconfig.py", "migrations"):
        assert (PROJECT_ROOT / needed).exists(), needed
        assert not ignored(needed), needed


# --- deploy/crontab ----------------------------------------------------------------------------


def cron_interval(minute: str, hour: str) -> float:
    """Seconds between runs of a crontab line's minute and hour fields (the forms used)."""
    if hour == "*":
        if minute == "*":
            return 60.0
        if minute.startswith("*/"):
            return 60.0 * int(minute[2:])
        if minute.isdigit():
            return 3600.0
    raise AssertionError(f"unsupported schedule {minute} {hour}")


def test_the_crontab_runs_every_periodic_task_on_beats_schedule(tmp_path):
    config = vars(load_config({"DATA_DIR": str(tmp_path)}))
    lines = [
        line.split(None, 5)
        for line in (PROJECT_ROOT / "deploy" / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line)
    ]
    runs: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for minute, hour, day, month, weekday, command in lines:
        assert (day, month, weekday) == ("*", "*", "*")
        found = re.search(r"flask --app wsgi (\S+) (\S+)$", command)
        assert found, command
        delay = re.match(r"sleep (\d+) && ", command)  # sub-minute steps: staggered lines
        offset = int(delay[1]) if delay else 0
        runs.setdefault((found[1], found[2]), []).append((cron_interval(minute, hour), offset))
    schedule = {}
    for command, lines_of_it in runs.items():
        periods = {period for period, _offset in lines_of_it}
        assert len(periods) == 1, command
        period = periods.pop()
        step = period / len(lines_of_it)
        offsets = sorted(offset for _period, offset in lines_of_it)
        assert offsets == [round(step * n) for n in range(len(lines_of_it))], command
        schedule[command] = step
    expected = {entry.command: entry.every(config) for entry in PERIODIC}
    assert schedule == expected


# --- Flower ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "enabled"), [(None, False), ("true", True), ("false", False)])
def test_flower_turns_task_events_on_only_when_celery_task_events_is_set(
    monkeypatch, setting, enabled
):
    """Flower reads flowerconfig.py as its options; its own default would enable events."""
    if setting is None:
        monkeypatch.delenv("CELERY_TASK_EVENTS", raising=False)
    else:
        monkeypatch.setenv("CELERY_TASK_EVENTS", setting)
    options = runpy.run_path(str(PROJECT_ROOT / "flowerconfig.py"))
    assert options["enable_events"] is enabled


# --- .ci/run -------------------------------------------------------------------------------


def test_the_ci_script_parses_and_runs_the_readmes_test_command():
    """CI runs `.ci/run` in a fresh clone: a syntax error there fails every submission."""
    script = PROJECT_ROOT / ".ci" / "run"
    parsed = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    commands = [
        line.strip()
        for line in script.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "CI=true make test"
    assert "make test" in (PROJECT_ROOT / "README.md").read_text().split("## Architecture")[0]
