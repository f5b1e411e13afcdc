"""Flower settings, read by `celery -A celery_app flower` from the working directory.

Flower answers /metrics without authentication even when --basic-auth is set. Worker and task
metrics are not for the public, so the metrics handler requires the same credentials as the UI.

Task events cost a broker message per task state change. By default Flower switches them on in
every worker while it runs; here it does so only when `CELERY_TASK_EVENTS` is set, the same
setting that makes workers send them from their start.
"""

import os

from flower.views.monitor import Metrics
from tornado.web import authenticated

from config import Env

Metrics.get = authenticated(Metrics.get)  # type: ignore[method-assign]

enable_events = Env(os.environ).bool("CELERY_TASK_EVENTS", False)
