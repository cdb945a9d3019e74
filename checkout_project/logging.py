"""Log records as one JSON object per line, each carrying the id of the request it belongs to."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Set by RequestLogMiddleware for the duration of a request; every log line of that request
# (ours, Django's, a library's) is tagged with it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is rendered.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def record_request_id(record: logging.LogRecord) -> str | None:
    """The record's own request id, its request's (django.request logs after the middleware), or the current one."""
    explicit = getattr(record, "request_id", None)
    if explicit is not None:
        return explicit
    from_request = getattr(getattr(record, "request", None), "request_id", None)
    return from_request if from_request is not None else request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute (None outside a request) for either format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = record_request_id(record)
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", ...extra fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        payload: dict[str, Any] = {
            "time": time.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": record_request_id(record),
        }
        for name, value in record.__dict__.items():
            # `request` (django.request's HttpRequest) says nothing the request line does not.
            if name not in _RECORD_ATTRIBUTES and name not in payload and name != "request":
                payload[name] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        # default=str: an odd `extra` value (a UUID, a datetime) must never break logging.
        return json.dumps(payload, default=str, ensure_ascii=False)
