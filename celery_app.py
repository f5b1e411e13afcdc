"""The Celery app bound to the Flask app: `celery -A celery_app worker|beat|flower`."""

from api import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
