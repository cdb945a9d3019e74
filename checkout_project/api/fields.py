"""Input fields shared by every endpoint's serializers."""

from __future__ import annotations

import json
from collections.abc import Iterator

from rest_framework import serializers

from checkout_project.api.wire import parse_aware_datetime


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset; naive or malformed values are refused (API.md §1)."""

    default_error_messages = {"invalid": "Expected an ISO 8601 date-time with an offset, e.g. 2024-03-26T15:44:54Z."}

    def to_internal_value(self, data):
        parsed = parse_aware_datetime(data)
        if parsed is None:
            self.fail("invalid")
        return parsed


class PlainCharField(serializers.CharField):
    """A string the database can store: no NUL (DRF refuses it already) and no lone surrogates."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not _encodable(value):
            raise serializers.ValidationError("Must not contain surrogate characters.")
        return value


class StringOnly:
    """An identifier is a JSON string: DRF's CharField turns a number into its digits and its
    UUIDField turns an integer into a UUID, so `{"checkoutId": 123}` would look a basket up (and
    answer 404) instead of being refused. Mixed into every id field: any other type is a 400
    `validation_error` with the field's own "invalid" message."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class IdField(StringOnly, serializers.CharField):
    """An identifier or code (basket, offer, promo code...): a string, never a number."""


class RegexIdField(StringOnly, serializers.RegexField):
    """An identifier with a pattern (`sub-<uuid>`, a reference, a gateway id): a string, never a number."""


class UUIDIdField(StringOnly, serializers.UUIDField):
    """A bare UUID (an order item): a string, never an integer."""


class JSONObjectField(serializers.DictField):
    """A free-form JSON object with a size cap (tracking, customFields)."""

    def __init__(self, *, max_bytes: int = 8192, **kwargs):
        self.max_bytes = max_bytes
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(json.dumps(value)) > self.max_bytes:
            raise serializers.ValidationError(f"At most {self.max_bytes} bytes of JSON.")
        # PostgreSQL's jsonb stores neither NUL nor lone surrogates: refuse them here, not as a 500 there.
        if any("\x00" in text or not _encodable(text) for text in _strings(value)):
            raise serializers.ValidationError("Keys and strings must not contain NUL or surrogate characters.")
        return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strings(value: object) -> Iterator[str]:
    """Every key and string value in a parsed JSON value; iterative, so depth cannot overflow the stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
