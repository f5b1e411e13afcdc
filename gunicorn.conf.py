"""gunicorn settings: gevent workers, so a waiting client (long-poll, event stream) costs a
greenlet and some memory, not a thread; psycopg 3 and redis-py yield cooperatively once gevent
has patched the standard library, which its worker does before loading the app (so the app is
never preloaded in the master: `preload_app` stays off)."""

import os
import tempfile
import threading
import time

# Sum request metrics over all worker processes (see api/ops/metrics.py). This must be set
# before prometheus_client is first imported, which picks its storage at import time.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="baliblissed-metrics-"))

from prometheus_client import multiprocess

os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)  # a set but absent folder


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Loopback unless told otherwise (the Procfile and the Dockerfile serve on 0.0.0.0).
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", usable_cpus()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # only for GUNICORN_WORKER_CLASS=gthread
preload_app = False  # the app (and psycopg) must load after gevent's patching, in each worker
timeout = 60  # a worker whose event loop is blocked this long is restarted
graceful_timeout = 35  # above the longest long-poll (30 s)
keepalive = 5
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "false").lower() == "true" else None


def post_worker_init(worker):  # noqa: ANN001, ANN201
    """On shutdown, answer every waiting client at once instead of holding the worker until
    its graceful timeout (they get the job as it stands and poll again)."""

    def answer_waiters_on_shutdown() -> None:
        while worker.alive:
            time.sleep(0.5)
        from api.jobs import events

        events.shutdown_all()

    threading.Thread(target=answer_waiters_on_shutdown, daemon=True).start()


def child_exit(server, worker):  # noqa: ANN001, ANN201
    multiprocess.mark_process_dead(worker.pid)
