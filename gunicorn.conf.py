"""gunicorn settings for a Heroku-style platform (read from the environment)."""

from __future__ import annotations

import gc
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, as Heroku's Python guide advises: a request waiting on Stripe (up to
# its client's timeouts) holds one thread, and the worker's others go on
# serving. Each thread keeps its own database connection.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The router gives up after 30 seconds; finish or fail before it does. With
# threads this only notices a worker that stopped answering altogether: a slow
# request is bounded by the Stripe client's own timeouts (config/settings.py).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "25"))
graceful_timeout = 20
keepalive = 5
# The router is the only client; trust the forwarded headers it sets.
forwarded_allow_ips = "*"
accesslog = "-"
errorlog = "-"
# Recycle workers now and then so that a slow leak cannot grow forever; rarely,
# since each recycle leaves the other worker answering alone for a moment
# (docs/PERFORMANCE.md has the figures).
max_requests = 10_000
max_requests_jitter = 1_000
# Load the app once, in the master: a recycled worker is then a fork, ready at
# once, not a fresh import of Django. Nothing opens a connection at import
# time, so none is shared.
preload_app = True


def pre_fork(server: object, worker: object) -> None:
    """Freeze the master's objects before each fork (Python's gc docs advise it).

    The worker's collections then never visit them, so its memory stays shared
    with the master's and a recycled worker starts and ends sooner.
    """
    gc.freeze()
