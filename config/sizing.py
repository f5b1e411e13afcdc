"""How many gunicorn workers this process may run: the CPUs it may use, within the database.

Standard library only, on purpose: gunicorn's master imports this before gevent patches its
workers, and a driver imported there (psycopg picks its wait function at import time) would
block every worker's event loop. The database is asked in a child interpreter instead
(`python -m config.sizing max-connections`).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


class SizingError(RuntimeError):
    """The requested workers cannot all get their database connections."""


def _cgroup_paths(proc_self_cgroup: Path) -> dict[str, str]:
    """Controller (`""` for the v2 unified hierarchy) → this process's cgroup path."""
    paths: dict[str, str] = {}
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _number, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _ancestors(base: Path, path: str) -> list[Path]:
    """`base/path` and each parent folder up to `base`, deepest first (every level's limit
    applies). In a container the recorded path may be the host's while `base` is already the
    container's own cgroup, so `base` itself is always included."""
    folders = []
    relative = Path(path.lstrip("/"))
    while True:
        folders.append(base / relative)
        if relative == Path("."):
            return folders
        relative = relative.parent


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(
    root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> float | None:
    """The CPU quota of this process's cgroup, in CPUs (cgroup v2 `cpu.max`, else v1
    `cpu.cfs_quota_us` / `cpu.cfs_period_us`); None when nothing limits it."""
    paths = _cgroup_paths(proc_self_cgroup)
    limits: list[float] = []
    if "" in paths:  # cgroup v2
        for folder in _ancestors(root, paths[""]):
            raw = _read(folder / "cpu.max")
            if raw is None:
                continue
            quota, _, period = raw.partition(" ")
            if quota != "max" and period:
                limits.append(int(quota) / int(period))
    for controller in ("cpu", "cpuacct"):  # cgroup v1: cpu is often mounted as cpu,cpuacct
        if controller not in paths:
            continue
        for mount in (root / "cpu,cpuacct", root / "cpu"):
            for folder in _ancestors(mount, paths[controller]):
                cfs_quota = _read(folder / "cpu.cfs_quota_us")
                cfs_period = _read(folder / "cpu.cfs_period_us")
                if cfs_quota is None or cfs_period is None or int(cfs_quota) <= 0:
                    continue
                limits.append(int(cfs_quota) / int(cfs_period))
    return min(limits) if limits else None


def usable_cpus(root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """The CPUs this process may use: its affinity, lowered by a cgroup quota (a container's
    `cpus: 2` on a 64-core host is 2, not 64). A fractional quota rounds down, never below 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root, proc_self_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


@dataclass(frozen=True)
class WebSizing:
    workers: int
    capped: bool  # fewer workers than CPUs, so the pools fit under max_connections
    message: str  # one line for the log


def web_workers(
    *,
    cpus: int,
    requested: int | None,
    pool_per_worker: int,
    max_connections: int | None,
    reserve: int,
) -> WebSizing:
    """The gunicorn workers to run so that `workers * pool_per_worker <= max_connections -
    reserve` (each worker's pool may open pool_size + max_overflow connections; the reserve is
    for Celery, beat, migrations and PostgreSQL's superuser slots).

    An explicit request (`WEB_CONCURRENCY`) that does not fit is refused, since the operator
    asked for it; a count taken from the CPUs is lowered to what fits. Nothing fits: refused.
    """
    wanted = requested if requested is not None else cpus
    if max_connections is None:  # SQLite, or the database could not be asked
        return WebSizing(wanted, False, f"{wanted} workers (no database limit known)")
    budget = max_connections - reserve
    fits = budget // pool_per_worker if budget > 0 else 0
    arithmetic = (
        f"{wanted} workers x {pool_per_worker} connections = {wanted * pool_per_worker} "
        f"> max_connections {max_connections} - reserve {reserve} = {budget}"
    )
    advice = (
        "lower WEB_CONCURRENCY or DATABASE_POOL_SIZE, raise PostgreSQL's max_connections, "
        "or lower DATABASE_RESERVED_CONNECTIONS"
    )
    if fits < 1 or (requested is not None and requested > fits):
        raise SizingError(f"refusing to start: {arithmetic}; {advice}")
    if wanted > fits:
        return WebSizing(fits, True, f"{fits} workers, not {wanted}: {arithmetic}")
    return WebSizing(
        wanted,
        False,
        f"{wanted} workers x {pool_per_worker} connections = {wanted * pool_per_worker} "
        f"<= max_connections {max_connections} - reserve {reserve} = {budget}",
    )


def read_max_connections(timeout: float = 10) -> int:
    """PostgreSQL's `max_connections` for the configured DATABASE_URL, asked in a child
    interpreter (see the module's note). The child reads the URL from the environment it
    inherits, so no password appears on a command line."""
    done = subprocess.run(
        [sys.executable, "-m", "config.sizing", "max-connections"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise OSError(lines[-1])
    return int(done.stdout.strip())


def _print_max_connections() -> None:
    import psycopg

    from config import load_config

    url = load_config().SQLALCHEMY_DATABASE_URI.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
    print(row[0] if row else "")


if __name__ == "__main__":
    if sys.argv[1:] == ["max-connections"]:
        _print_max_connections()
    else:
        sys.exit(
            "usage: python -m config.sizing max-connections  (DATABASE_URL from the environment)"
        )
