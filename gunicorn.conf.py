"""gunicorn settings: gevent workers, so a waiting client (long-poll, event stream) costs a
greenlet and some memory, not a thread; psycopg 3 and redis-py yield cooperatively once gevent
has patched the standard library, which its worker does before loading the app (so the app is
never preloaded in the master: `preload_app` stays off, and the master imports no driver).

Workers: one per CPU the process may use (affinity and cgroup quota, `config.sizing`), and
before any starts, `on_starting` checks that their database pools fit under PostgreSQL's
`max_connections` (see README, Operating). SIGTERM is a graceful stop: the listener closes at
once, requests in flight finish within `graceful_timeout`."""

import gc
import os
import subprocess
import sys
import tempfile
import threading
import time

# Sum request metrics over all worker processes (see api/ops/metrics.py). This must be set
# before prometheus_client is first imported, which picks its storage at import time.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="baliblissed-metrics-"))

from prometheus_client import multiprocess

from config import ConfigError, Env, load_config
from config.sizing import SizingError, read_max_connections, usable_cpus, web_workers

os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)  # a set but absent folder

# Loopback unless told otherwise (the Procfile and the Dockerfile serve on 0.0.0.0).
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = Env(os.environ).int("WEB_CONCURRENCY", usable_cpus(), minimum=1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # only for GUNICORN_WORKER_CLASS=gthread
preload_app = False  # the app (and psycopg) must load after gevent's patching, in each worker
timeout = 60  # a worker whose event loop is blocked this long is restarted
graceful_timeout = 35  # above the longest long-poll (30 s)
keepalive = 5
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "false").lower() == "true" else None
# gunicorn's control socket (gunicornc) defaults to one path per user ($HOME/.gunicorn), which a
# second server on the same host (another app, a benchmark, a test) would take over: one per port.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or os.path.join(
    os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir(),
    f"baliblissed-gunicorn-{os.environ.get('PORT', '8000')}.ctl",
)


def on_starting(server):  # noqa: ANN001, ANN201
    """Before any worker starts: refuse settings the app would refuse, and size the workers so
    that their pools fit under PostgreSQL's max_connections (or refuse, with the arithmetic)."""
    try:
        settings = load_config()
        pool = settings.connections_per_process
        max_connections = None
        if pool is not None:  # PostgreSQL
            try:
                max_connections = read_max_connections()
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                server.log.warning("could not read max_connections, workers not checked: %s", exc)
        explicit = os.environ.get("WEB_CONCURRENCY", "").strip() != ""
        requested = server.cfg.workers if explicit else None
        sizing = web_workers(
            cpus=server.cfg.workers,
            requested=requested,
            pool_per_worker=pool or 1,
            max_connections=max_connections,
            reserve=settings.DATABASE_RESERVED_CONNECTIONS,
        )
    except (ConfigError, SizingError) as exc:
        sys.exit(f"gunicorn: {exc}")
    server.num_workers = sizing.workers
    (server.log.warning if sizing.capped else server.log.info)("web workers: %s", sizing.message)


def post_worker_init(worker):  # noqa: ANN001, ANN201
    """The app is loaded: freeze what it allocated (modules, the app, its URL map) out of the
    garbage collector's reach, so a full collection scans only what requests allocate (it was
    a pause of tens of milliseconds every few thousand requests, about 70 µs a request).

    On shutdown, answer every waiting client at once instead of holding the worker until
    its graceful timeout (they get the job as it stands and poll again)."""
    gc.freeze()

    def answer_waiters_on_shutdown() -> None:
        while worker.alive:
            time.sleep(0.5)
        from api.jobs import events

        events.shutdown_all()

    threading.Thread(target=answer_waiters_on_shutdown, daemon=True).start()


def child_exit(server, worker):  # noqa: ANN001, ANN201
    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):  # noqa: ANN001, ANN201
    """A worker stopping sends the post views it served and has not sent yet."""
    app = getattr(worker, "wsgi", None)
    pending = getattr(app, "extensions", {}).get("pending_views")
    if pending is not None:
        try:
            pending.close()
        except Exception as exc:  # Redis gone too: those few views are lost, the exit is not
            server.log.warning("could not send the last post views: %s", exc)
