"""gunicorn settings, read from the environment: `gunicorn checkout_project.wsgi -c gunicorn.conf.py`.

Every value has a default that suits one app server behind a load balancer; see the README's
deployment section for the variables.
"""

import multiprocessing
import os


def _int(name: str, default: int, minimum: int, maximum: int) -> int:
    """An integer from `minimum` to `maximum`, or the default; anything else stops gunicorn naming `name`."""
    value = os.environ.get(name, "").strip()
    try:
        number = int(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"{name} must be from {minimum} to {maximum}, got {number}")
    return number


bind = os.environ.get("GUNICORN_BIND", "").strip() or "0.0.0.0:8000"
# Requests spend much of their time waiting on PostgreSQL: two workers per core keep the CPU busy.
workers = _int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count(), 1, 1024)
# More than one thread switches gunicorn to the gthread worker (which also honours keepalive).
threads = _int("GUNICORN_THREADS", 1, 1, 1024)
# A worker silent for this long is killed and replaced (a stuck request, not a slow one).
timeout = _int("GUNICORN_TIMEOUT", 30, 1, 3600)
# On SIGTERM (a deploy), requests in flight get this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, 1, 3600)
# Seconds an idle client connection stays open (gthread only). Behind a load balancer that
# reuses connections, make it longer than the balancer's idle timeout to avoid 502s.
keepalive = _int("GUNICORN_KEEPALIVE", 5, 0, 3600)
# Restart a worker after this many requests (plus jitter), bounding slow leaks; 0 = never.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0, 0, 100_000_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0, 0, 100_000_000)

# The application logs every request as JSON (checkout.requests); gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Which upstream addresses may set X-Forwarded-Proto/For (gunicorn's own default is 127.0.0.1).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files on tmpfs where there is one: a worker on a slow disk is not taken for stuck.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
