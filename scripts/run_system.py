"""`make run`: migrate, seed the catalogue, then run the Procfile's web, workers and beat.

The long-running processes are supervised by honcho (as `honcho start` would); when one of
them stops, the others are stopped too and the last line printed says which one stopped and
why (its exit code and the last thing it wrote), so a failed start is never a wall of logs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from honcho.environ import parse_procfile
from honcho.manager import SYSTEM_PRINTER_NAME, Manager
from honcho.printer import Message, Printer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("web", "worker", "worker-media", "beat")  # media has a worker of its own
STOPPED = re.compile(r"^(\S+) stopped \(rc=(-?\d+)\)")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|error|Exit|Interrupt)(:|$)")
SETUP_STEPS = (
    ("migrate", ["flask", "--app", "wsgi", "db", "upgrade"]),
    ("seed", ["flask", "--app", "wsgi", "catalogue", "seed"]),
)


class RecordingPrinter(Printer):
    """Prints like honcho and remembers the last lines each process wrote.

    honcho's SIGINT/SIGTERM handler prints ("SIGINT received") from inside the main loop, so a
    Ctrl-C that lands while a line is being printed re-enters the same stream, which raises
    (`RuntimeError: reentrant call`) and kills the supervisor with its processes still
    running. A message that arrives during a write is printed right after it instead."""

    def __init__(self, output: Any = None) -> None:
        super().__init__(output or sys.stdout)
        self.tails: dict[str, deque[str]] = {}
        self.stops: list[tuple[str, int]] = []  # (process, exit code) in the order they stopped
        self._writing = False
        self._waiting: deque[Message] = deque()

    def write(self, message: Message) -> None:
        if self._writing:  # a signal handler printing in the middle of a write
            self._waiting.append(message)
            return
        self._writing = True
        try:
            self._write(message)
            while self._waiting:
                self._write(self._waiting.popleft())
        finally:
            self._writing = False

    def _write(self, message: Message) -> None:
        super().write(message)
        data = message.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        if message.name == SYSTEM_PRINTER_NAME:
            stopped = STOPPED.match(text)
            if stopped:
                self.stops.append((stopped[1], int(stopped[2])))
        elif message.name:
            tail = self.tails.setdefault(message.name, deque(maxlen=20))
            tail.extend(line.strip() for line in text.splitlines() if line.strip())


def reason(lines: list[str] | deque[str]) -> str:
    """The most telling of a process's last lines: an exception or error line if any."""
    for line in reversed(lines):
        if EXCEPTION_LINE.match(line):
            return line
    return lines[-1] if lines else "(it printed nothing)"


def fail(what: str, code: int | None, lines: list[str] | deque[str]) -> int:
    shown = "a signal" if code is None or code < 0 else f"exit code {code}"
    print(f"\nmake run: {what} stopped ({shown}): {reason(lines)}", file=sys.stderr, flush=True)
    return code if code and code > 0 else 1


def setup(env: dict[str, str]) -> int:
    for name, command in SETUP_STEPS:
        print(f"make run: {name}: {' '.join(command)}", flush=True)
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
        )
        output = (done.stdout + done.stderr).strip().splitlines()
        for line in output:
            print(f"  {line}", flush=True)
        if done.returncode != 0:
            return fail(f"the {name} step", done.returncode, output)
    return 0


def supervise(commands: Mapping[str, str], env: dict[str, str], port: str) -> int:
    """Run the processes until one stops (or make run is interrupted); 0 for a clean stop."""
    printer = RecordingPrinter()
    manager = Manager(printer=printer)
    for name, command in commands.items():
        process_env = {**env, "PORT": port} if name == "web" else env
        manager.add_process(name, command, env=process_env, cwd=str(PROJECT_ROOT))
    started = time.monotonic()
    manager.loop()
    if manager.returncode in (130, 143) or not printer.stops:  # Ctrl-C or SIGTERM: a clean stop
        return 0
    # The first process to stop by itself is the one to blame; the rest were stopped for it.
    name, code = printer.stops[0]
    after = int(time.monotonic() - started)
    return fail(f"{name} (after {after} s)", code, printer.tails.get(name, []))


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The Procfile's defaults are production's; a local run is development on loopback.
    env.setdefault("APP_ENV", "development")
    env.setdefault("HOST", "127.0.0.1")
    # One metrics folder for web and workers: the API's /metrics shows the workers' too.
    metrics = Path(env.get("DATA_DIR") or PROJECT_ROOT / "var") / "metrics"
    shutil.rmtree(metrics, ignore_errors=True)  # samples of an earlier run would add up
    metrics.mkdir(parents=True, exist_ok=True)
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics))
    port = env.get("PORT", "8000")
    procfile = parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes
    return setup(env) or supervise({name: procfile[name] for name in PROCESSES}, env, port)


if __name__ == "__main__":
    sys.exit(main())
