"""gunicorn settings: threaded workers (long-polls hold a thread, not a process)."""

import multiprocessing
import os
import tempfile

# Sum request metrics over all worker processes (see api/ops/metrics.py). This must be set
# before prometheus_client is first imported, which picks its storage at import time.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="baliblissed-metrics-"))

from prometheus_client import multiprocess

os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)  # a set but absent folder

# Loopback unless told otherwise (the Procfile and the Dockerfile serve on 0.0.0.0).
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 60  # above the longest long-poll (30 s)
keepalive = 5
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "false").lower() == "true" else None


def child_exit(server, worker):  # noqa: ANN001, ANN201
    multiprocess.mark_process_dead(worker.pid)
