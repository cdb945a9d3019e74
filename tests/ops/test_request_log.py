"""One JSON log line per request on `checkout.requests`, tied to the X-Request-ID it answers with."""

from __future__ import annotations

import json
import logging
import re
import sys
from unittest import mock

import pytest
from django.db import OperationalError, connection

from checkout_project.logging import JsonFormatter, RequestIdFilter, request_id_var
from tests.conftest import bearer

LOGGER = "checkout.requests"


def request_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == LOGGER]


@pytest.mark.django_db
def test_a_request_gets_an_id_and_one_log_line(client, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    answer = client.get("/api/checkout/abandoned?limit=5")

    request_id = answer["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    [record] = request_records(caplog)
    assert record.request_id == request_id
    assert record.method == "GET"
    assert record.path == "/api/checkout/abandoned"
    assert record.status == 401
    assert isinstance(record.duration_ms, float) and record.duration_ms >= 0
    assert record.application_id is None
    assert record.client_id is None
    assert record.remote_addr == "127.0.0.1"
    assert record.getMessage() == f"GET /api/checkout/abandoned 401 {record.duration_ms:.1f}ms"


@pytest.mark.django_db
def test_an_authenticated_request_logs_its_application(client, caplog, backoffice_token):
    caplog.set_level(logging.INFO, logger=LOGGER)

    client.get("/api/checkout/abandoned", **bearer(backoffice_token))

    [record] = request_records(caplog)
    assert record.status == 200
    assert record.application_id == backoffice_token.application.pk
    assert record.client_id == backoffice_token.application.client_id


@pytest.mark.parametrize("incoming", ["abc-123", "A.b_c-9", "x" * 64, "0af7651916cd43dd8448eb211c80319c"])
def test_a_sane_incoming_request_id_is_kept(client, incoming):
    assert client.get("/healthz", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", ["", "x" * 65, "has space", "new\nline", "semi;colon", "ünïcode", "a/b"])
def test_an_odd_incoming_request_id_is_replaced(client, incoming):
    answer = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert re.fullmatch(r"[0-9a-f]{32}", answer["X-Request-ID"])


def test_each_request_gets_a_new_id(client):
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


def test_a_successful_probe_is_not_logged(client, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert request_records(caplog) == []


@pytest.mark.django_db
def test_a_failing_probe_is_logged(client, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
        client.get("/readyz", HTTP_X_REQUEST_ID="probe-1")

    [record] = request_records(caplog)
    assert (record.path, record.status, record.request_id) == ("/readyz", 503, "probe-1")


@pytest.mark.django_db
def test_an_error_response_carries_the_request_id(client):
    answer = client.get("/api/no-such-endpoint", HTTP_X_REQUEST_ID="trace-me")

    assert answer.status_code == 404
    assert answer["X-Request-ID"] == "trace-me"


def make_record(message="hello %s", args=("world",), **extra) -> logging.LogRecord:
    record = logging.LogRecord("checkout.requests", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_the_json_formatter_renders_one_object_per_record():
    record = make_record(request_id="r-1", status=201, duration_ms=3.5, path="/api/x")
    record.created = 1_711_468_294.5

    line = JsonFormatter().format(record)

    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2024-03-26T15:51:34.500Z",
        "level": "INFO",
        "logger": "checkout.requests",
        "message": "hello world",
        "request_id": "r-1",
        "status": 201,
        "duration_ms": 3.5,
        "path": "/api/x",
    }


def test_the_json_formatter_renders_exceptions_and_odd_values():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.some_object = object()

    payload = json.loads(JsonFormatter().format(record))

    assert payload["level"] == "ERROR"
    assert payload["request_id"] is None
    assert "ValueError: boom" in payload["exc_info"]
    assert payload["some_object"].startswith("<object object")


def test_every_line_logged_during_a_request_carries_its_id():
    record = make_record()
    token = request_id_var.set("in-flight")
    try:
        RequestIdFilter().filter(record)
        payload = json.loads(JsonFormatter().format(make_record()))
    finally:
        request_id_var.reset(token)

    assert record.request_id == "in-flight"
    assert payload["request_id"] == "in-flight"
    assert request_id_var.get() is None


def test_djangos_own_error_lines_carry_the_request_id_too():
    # django.request logs 4xx/5xx after the middleware has returned, with the request attached.
    request = mock.Mock(request_id="from-request")
    record = make_record(request=request)

    payload = json.loads(JsonFormatter().format(record))

    assert payload["request_id"] == "from-request"
    assert "request" not in payload
