"""Flower settings, read by `celery -A celery_app flower` from the working directory.

Flower answers /metrics without authentication even when --basic-auth is set. Worker and task
metrics are not for the public, so the metrics handler requires the same credentials as the UI.
"""

from flower.views.monitor import Metrics
from tornado.web import authenticated

Metrics.get = authenticated(Metrics.get)  # type: ignore[method-assign]
