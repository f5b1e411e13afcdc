"""Print the fault suite's outcomes (`var/faults/*.json`, one per scenario) as a Markdown table.

`make faults` runs the suite, then this; the README's table is a copy of one run's output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FAULTS_DIR = Path(__file__).resolve().parent.parent / "var" / "faults"
COLUMNS = ("scenario", "ran", "lost", "duplicated", "recovery (s)", "notes")


def main(folder: Path = FAULTS_DIR) -> int:
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    if not records:
        print(f"no fault records in {folder}", file=sys.stderr)
        return 1
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join("---" for _ in COLUMNS) + "|")
    for record in records:
        recovery = record["recovery_seconds"]
        cells = (
            record["scenario"],
            record["ran"],
            str(record["lost"]),
            str(record["duplicated"]),
            "-" if recovery is None else f"{recovery:.1f}",
            record.get("notes", ""),
        )
        print("| " + " | ".join(cells) + " |")
    failed = sum(record["lost"] + record["duplicated"] for record in records)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else FAULTS_DIR))
