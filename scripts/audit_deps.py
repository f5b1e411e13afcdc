"""Audit the locked dependencies for known vulnerabilities (`make audit`, run by CI).

The requirements come from `uv export --frozen` (exactly what uv.lock installs, dev tools
included), audited by pip-audit with `--no-deps --disable-pip`: nothing is resolved or
installed, each pinned version is looked up as it is.

Exit status:
* 1 when a dependency has a known vulnerability that a newer version fixes (upgrade it);
  one with no fix yet is printed but does not fail the build (nothing to upgrade to).
* When the vulnerability service cannot be reached (offline, down, or it cannot look a
  package up: pip-audit then "skips" it) the audit says so loudly and exits 0, unless
  AUDIT_REQUIRED=true, when it exits 2: an audit that did not run is never reported as
  passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXABLE, UNREACHABLE = 1, 2


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    vuln_id: str
    fixed_in: tuple[str, ...]


def export_requirements(uv: str, destination: Path) -> None:
    """The lock file as pinned requirements, without hashes (pip-audit does not need them)."""
    subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "-o", str(destination)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_pip_audit(pip_audit: str, requirements: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            pip_audit,
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def findings(report: dict[str, Any]) -> list[Finding]:
    found = []
    for dependency in report.get("dependencies", []):
        for vuln in dependency.get("vulns", []):
            found.append(
                Finding(
                    dependency["name"],
                    dependency.get("version", "?"),
                    vuln.get("id", "?"),
                    tuple(vuln.get("fix_versions") or ()),
                )
            )
    return found


def not_audited(what: str, details: str, required: bool) -> int:
    """Say loudly that (part of) the audit did not run; fatal only when it is required."""
    print("=" * 72, file=sys.stderr)
    print(f"AUDIT DID NOT RUN {what}: the vulnerability service could not answer.", file=sys.stderr)
    print(details.strip()[-2000:], file=sys.stderr)
    print("=" * 72, file=sys.stderr)
    if required:
        print("AUDIT_REQUIRED=true: failing.", file=sys.stderr)
        return UNREACHABLE
    print("Not failing (set AUDIT_REQUIRED=true to make this fatal).", file=sys.stderr)
    return 0


def judge(result: subprocess.CompletedProcess[str], required: bool) -> int:
    """The exit status for pip-audit's answer (see the module docstring)."""
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict) or "dependencies" not in report:
        return not_audited("at all", result.stderr or result.stdout, required)
    found = findings(report)
    fixable = [f for f in found if f.fixed_in]
    for finding in found:
        fix = f"fixed in {', '.join(finding.fixed_in)}" if finding.fixed_in else "no fix yet"
        print(f"{finding.package} {finding.version}: {finding.vuln_id} ({fix})")
    # pip-audit reports a package it could not look up as skipped, not as an error: when the
    # service is unreachable every package is "skipped" and the run would look clean.
    skipped = [d for d in report["dependencies"] if d.get("skip_reason")]
    audited = len(report["dependencies"]) - len(skipped)
    if fixable:
        print(f"audit: {len(fixable)} known vulnerabilities with a fix in {audited} packages")
        return FIXABLE
    if skipped:
        what = "at all" if not audited else f"for {len(skipped)} of the packages"
        reasons = "\n".join(f"{d['name']}: {d['skip_reason']}" for d in skipped[:20])
        return not_audited(what, reasons, required)
    print(f"audit: {audited} locked packages, no known vulnerability with a fix")
    return 0


def find_uv() -> str:
    """uv from PATH, else the project-local one `make install` puts in .tools/."""
    local = ROOT / ".tools" / "bin" / "uv"
    return shutil.which("uv") or (str(local) if local.exists() else "uv")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default=find_uv())
    parser.add_argument(
        "--pip-audit",
        default=shutil.which("pip-audit", path=str(Path(sys.executable).parent)) or "pip-audit",
    )
    args = parser.parse_args(argv)
    required = os.environ.get("AUDIT_REQUIRED", "").lower() in {"1", "true", "yes"}
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        export_requirements(args.uv, requirements)
        return judge(run_pip_audit(args.pip_audit, requirements), required)


if __name__ == "__main__":
    sys.exit(main())
