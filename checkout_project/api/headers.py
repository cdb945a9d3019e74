"""Conditional-request headers: ETag out, If-Match in."""

from __future__ import annotations

import re

from checkout_project.api.errors import ApiCodes, ApplicationError

_VERSION = re.compile(r"[0-9]{1,18}")
# What parse_if_match accepts, for the OpenAPI description: a version, quoted or not, weak or not, or *.
IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"?[0-9]{1,18}"?)\s*$'


def parse_if_match(request) -> int | None:
    """The basket version named by If-Match (`"3"`, `W/"3"` or `3`); None when absent or `*`."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    # ASCII digits only, and few enough for int(): str.isdigit() accepts "²" and 5000-digit strings.
    if not _VERSION.fullmatch(value):
        raise ApplicationError('If-Match must be a basket version, e.g. "3".', code=ApiCodes.INVALID_IF_MATCH)
    return int(value)


def set_etag(response, version: int) -> None:
    response["ETag"] = f'"{version}"'
