"""Celery tasks: one module per job kind, plus the shared job lifecycle."""
