"""Write the app's OpenAPI document (what /openapi.json serves) to stdout or a file.

Builds the app offline (SQLite under a temporary DATA_DIR, no Redis): the spec depends only on
the code, so CI can generate clients from it without running a server.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api import create_app
from api.extensions import api


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="bb-openapi-") as data_dir:
        app = create_app({"APP_ENV": "development", "DATA_DIR": data_dir})
        with app.app_context():
            text = json.dumps(api.spec.to_dict(), indent=2, sort_keys=True) + "\n"
    if len(argv) > 1:
        Path(argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
