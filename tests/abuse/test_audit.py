"""`make audit` (scripts/audit_deps.py): the verdict for each answer pip-audit can give, with
a stand-in pip-audit so the test needs no network; the requirements it audits are the real
export of uv.lock."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "audit_deps.py"


def fake_pip_audit(tmp_path: Path, stdout: str, stderr: str = "", code: int = 0) -> Path:
    """An executable that records its arguments and the requirements, then answers as told."""
    program = tmp_path / "pip-audit"
    program.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys, json\n"
        f"log = {str(tmp_path / 'args.json')!r}\n"
        "json.dump(sys.argv[1:], open(log, 'w'))\n"
        f"shutil.copy(sys.argv[sys.argv.index('-r') + 1], {str(tmp_path / 'req.txt')!r})\n"
        f"sys.stdout.write({stdout!r}); sys.stderr.write({stderr!r}); sys.exit({code})\n"
    )
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    return program


def audit(tmp_path: Path, program: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "AUDIT_REQUIRED"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--pip-audit", str(program)],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=120,
        check=False,
    )


def report(*vulns: dict) -> str:
    return json.dumps(
        {
            "dependencies": [
                {"name": "flask", "version": "3.1.0", "vulns": list(vulns)},
                {"name": "redis", "version": "6.0.0", "vulns": []},
            ],
            "fixes": [],
        }
    )


def test_a_clean_lock_passes_and_every_locked_package_is_audited_as_pinned(tmp_path):
    result = audit(tmp_path, fake_pip_audit(tmp_path, report(), code=0))

    assert result.returncode == 0, result.stderr
    assert "no known vulnerability with a fix" in result.stdout
    args = json.loads((tmp_path / "args.json").read_text())
    assert {"--no-deps", "--disable-pip"} <= set(args)
    requirements = (tmp_path / "req.txt").read_text()
    lock = (PROJECT_ROOT / "uv.lock").read_text()
    for name in ("flask", "celery", "sqlalchemy", "pip-audit", "hypothesis"):
        line = next(line for line in requirements.splitlines() if line.startswith(f"{name}=="))
        assert f'name = "{name}"\nversion = "{line.split("==")[1].split()[0]}"' in lock


def test_a_vulnerability_with_a_fix_fails_the_audit(tmp_path):
    vuln = {"id": "PYSEC-2099-1", "fix_versions": ["3.1.1"], "aliases": []}
    result = audit(tmp_path, fake_pip_audit(tmp_path, report(vuln), code=1))

    assert result.returncode == 1
    assert "flask 3.1.0: PYSEC-2099-1 (fixed in 3.1.1)" in result.stdout


def test_a_vulnerability_without_a_fix_is_shown_but_does_not_fail(tmp_path):
    vuln = {"id": "GHSA-xxxx", "fix_versions": [], "aliases": []}
    result = audit(tmp_path, fake_pip_audit(tmp_path, report(vuln), code=1))

    assert result.returncode == 0
    assert "flask 3.1.0: GHSA-xxxx (no fix yet)" in result.stdout


@pytest.mark.parametrize(("required", "expected"), [(None, 0), ("true", 2)])
def test_an_unreachable_service_is_said_loudly_and_fails_only_when_required(
    tmp_path, required, expected
):
    program = fake_pip_audit(
        tmp_path,
        "",
        stderr="ERROR: ConnectionError: HTTPSConnectionPool: Max retries exceeded",
        code=1,
    )
    env = {"AUDIT_REQUIRED": required} if required else {}
    result = audit(tmp_path, program, **env)

    assert result.returncode == expected
    assert "AUDIT DID NOT RUN" in result.stderr
    assert "Max retries exceeded" in result.stderr


@pytest.mark.parametrize(("required", "expected"), [(None, 0), ("true", 2)])
def test_packages_the_service_could_not_look_up_are_not_a_clean_audit(tmp_path, required, expected):
    """pip-audit answers "skipped", exit 0, for every package when the service is away."""
    skipped = json.dumps(
        {
            "dependencies": [
                {"name": "flask", "skip_reason": "Dependency not found on PyPI: flask (3.1.0)"}
            ],
            "fixes": [],
        }
    )
    env = {"AUDIT_REQUIRED": required} if required else {}
    result = audit(tmp_path, fake_pip_audit(tmp_path, skipped, code=0), **env)

    assert result.returncode == expected
    assert "AUDIT DID NOT RUN at all" in result.stderr
    assert "no known vulnerability" not in result.stdout
