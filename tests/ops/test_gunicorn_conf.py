"""gunicorn.conf.py: defaults that suit an app server behind a load balancer, overridable by env."""

from __future__ import annotations

import multiprocessing
import runpy
from pathlib import Path

import pytest
from gunicorn.config import Config

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
VARIABLES = (
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "LOG_LEVEL",
    "FORWARDED_ALLOW_IPS",
)


def load(monkeypatch, **env) -> dict:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace = runpy.run_path(str(CONF))
    return {name: value for name, value in namespace.items() if not name.startswith("_")}


def as_gunicorn_config(namespace: dict) -> Config:
    """What gunicorn itself makes of the file: its validators refuse a wrong type or value."""
    config = Config()
    for name, value in namespace.items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_the_defaults_make_sense(monkeypatch):
    namespace = load(monkeypatch)
    config = as_gunicorn_config(namespace)

    assert config.bind == ["0.0.0.0:8000"]
    assert config.workers == 2 * multiprocessing.cpu_count()
    assert config.threads == 1
    assert config.worker_class_str == "sync"
    assert config.timeout == 30
    assert 0 < config.graceful_timeout <= config.timeout
    assert config.keepalive == 5
    assert config.max_requests == 0
    # The request-log middleware writes one JSON line per request; no second access log.
    assert config.accesslog is None
    assert config.errorlog == "-"
    assert config.loglevel == "info"
    # Every name the file sets is a gunicorn setting (a typo would be silently ignored).
    assert set(namespace) - {"multiprocessing", "os"} <= set(config.settings)


def test_the_environment_overrides_the_defaults(monkeypatch):
    config = as_gunicorn_config(
        load(
            monkeypatch,
            GUNICORN_BIND="127.0.0.1:9001",
            GUNICORN_WORKERS="3",
            GUNICORN_THREADS="4",
            GUNICORN_TIMEOUT="60",
            GUNICORN_GRACEFUL_TIMEOUT="20",
            GUNICORN_KEEPALIVE="75",
            GUNICORN_MAX_REQUESTS="1000",
            GUNICORN_MAX_REQUESTS_JITTER="100",
            LOG_LEVEL="WARNING",
            FORWARDED_ALLOW_IPS="10.0.0.0/8",
        )
    )

    assert config.bind == ["127.0.0.1:9001"]
    assert (config.workers, config.threads, config.timeout, config.graceful_timeout) == (3, 4, 60, 20)
    assert (config.keepalive, config.max_requests, config.max_requests_jitter) == (75, 1000, 100)
    assert config.loglevel == "warning"
    assert config.forwarded_allow_ips == ["10.0.0.0/8"]
    # gunicorn picks the threaded worker itself when threads > 1.
    assert config.worker_class_str == "gthread"


def test_a_non_integer_is_refused(monkeypatch):
    with pytest.raises(ValueError):
        load(monkeypatch, GUNICORN_WORKERS="lots")


NUMBERS = (
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
)


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("value", ["-5", "99999999999", "many"])
def test_a_number_out_of_its_bounds_stops_gunicorn_naming_the_variable(monkeypatch, name, value):
    with pytest.raises(ValueError, match=name):
        load(monkeypatch, **{name: value})
