"""Wire formats shared by every endpoint: times (ISO 8601 UTC, milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


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
