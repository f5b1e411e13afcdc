"""A frontend can generate a TypeScript client from the spec: scripts/check_ts_client.sh dumps
/openapi.json, runs openapi-typescript (versions pinned in clients/ts/package-lock.json) and
type-checks clients/ts/usage.ts (submit an itinerary, long-poll its job, read it) with tsc."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_ts_client.sh"


def _npm_required() -> None:
    if shutil.which("npm") and shutil.which("npx"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but npm is not installed: the TypeScript client check must run")
    pytest.skip("npm is not installed (install Node.js 18+ to run the TypeScript client check)")


@pytest.mark.timeout(600)  # the first run downloads the pinned packages (npm ci)
def test_the_generated_typescript_client_type_checks_the_usage_example() -> None:
    _npm_required()

    result = subprocess.run(
        [str(SCRIPT)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage.ts type-checks" in result.stdout
    generated = (ROOT / "clients" / "ts" / "generated" / "schema.d.ts").read_text()
    assert '"itineraries.submit_itinerary": {' in generated  # operations by their operationId
    assert "Problem: {" in generated


def test_a_usage_the_contract_does_not_allow_fails_the_check(tmp_path: Path) -> None:
    """The check has teeth: a budget the enum does not list is a type error."""
    _npm_required()
    client = ROOT / "clients" / "ts"
    if not (client / "generated" / "schema.d.ts").exists():
        pytest.skip("runs after the generation test")
    broken = client / "broken-usage.ts"
    config = client / "tsconfig.broken.json"
    broken.write_text((client / "usage.ts").read_text().replace('"moderate"', '"cheap"'))
    config.write_text(
        (client / "tsconfig.json").read_text().replace('"usage.ts"', '"broken-usage.ts"')
    )
    try:
        result = subprocess.run(
            ["npx", "--no-install", "tsc", "--noEmit", "-p", config.name],
            cwd=client,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        broken.unlink()
        config.unlink()

    assert result.returncode != 0
    assert "'\"cheap\"' is not assignable" in result.stdout
