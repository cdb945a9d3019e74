"""Conditional-request headers: ETag out, If-Match and If-None-Match in."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

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


def body_etag(data: Any) -> str:
    """A strong ETag for a JSON body: the hash of its canonical form, so two answers with the same
    content (whatever their key order) carry the same tag, and any change of content changes it."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return '"' + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32] + '"'


def if_none_match_matches(request, etag: str) -> bool:
    """Whether the request's If-None-Match names `etag` (RFC 9110 §13.1.2: a list of tags, weak
    comparison, or `*`). A malformed header matches nothing: the full answer is never wrong."""
    raw = request.headers.get("If-None-Match")
    if not raw:
        return False
    if raw.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in raw.split(","))
