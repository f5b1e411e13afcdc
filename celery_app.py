"""The Celery app bound to the Flask app: `celery -A celery_app worker|beat|flower`."""

import os
import tempfile

# Worker pool processes record metrics in files one process can sum (api/telemetry.py); this
# must be set before prometheus_client is first imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="baliblissed-worker-"))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from api import create_app  # noqa: E402 - after the metrics folder is chosen

flask_app = create_app()
celery = flask_app.extensions["celery"]
