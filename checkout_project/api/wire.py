"""Wire formats shared by every endpoint: times (ISO 8601 UTC, milliseconds) and the opaque
keyset cursors of paged lists (`queryMore`)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from checkout_project.api.errors import ApiCodes, ApplicationError


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_aware_datetime(value: object) -> datetime | None:
    """An ISO 8601 date-time with an offset, or None when malformed or naive."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+23:00 is before year 1 in UTC (found by tests/test_fuzz.py)
        return None


def cursor_encode(fields: dict[str, str]) -> str:
    """A `queryMore` cursor: base64 of {"v": "1", **fields} (API.md §4: opaque to clients)."""
    return base64.b64encode(json.dumps({"v": "1", **fields}, separators=(",", ":")).encode()).decode()


def cursor_decode(value: str) -> dict[str, Any]:
    """The fields of a cursor cursor_encode made; 400 invalid_cursor for anything else."""
    try:
        payload = json.loads(base64.b64decode(value.encode("ascii"), validate=True))
    except (ValueError, UnicodeError, binascii.Error):
        raise invalid_cursor() from None
    if not isinstance(payload, dict) or payload.get("v") != "1":
        raise invalid_cursor()
    return payload


def invalid_cursor() -> ApplicationError:
    return ApplicationError("queryMore is not a cursor this API issued.", code=ApiCodes.INVALID_CURSOR)
