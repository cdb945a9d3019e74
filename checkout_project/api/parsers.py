"""Request body parsing and response rendering: DRF's JSON parser and renderer, made total.

- A too-deeply nested body is a 400, not a 500.
- A lone UTF-16 surrogate (`"\\ud800"`: valid JSON, but no Unicode text) is refused for the
  whole body, wherever it is, as a 400 `validation_error` naming its field: no serializer field,
  service or database ever sees one, and no error message can echo one back. (UTF-8 cannot
  encode them, so a JSON escape is the only way in: query strings, paths, cookies and form bodies
  are decoded by Django with replacement.)
- The renderer never fails on a string it cannot encode as UTF-8: it escapes it instead (a
  message echoing an input must never turn a 400 into a 500).
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers, renderers
from rest_framework.exceptions import ParseError, ValidationError

KEY_MESSAGE = "Keys must not contain surrogate characters."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json raises RecursionError (not ValueError) for a body nested deeper than the stack allows.
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        problem = first_surrogate(data)
        if problem is not None:
            path, message = problem
            raise ValidationError({path: message})
        return data


def _surrogate(text: str) -> str | None:
    if text.isascii():
        return None
    return next((ch for ch in text if 0xD800 <= ord(ch) <= 0xDFFF), None)


def first_surrogate(value: Any) -> tuple[str, str] | None:
    """(field path, message) of the first lone surrogate in a parsed JSON value, in document order;
    None when there is none. Iterative, so depth cannot overflow the stack. A key with one is
    reported at the object holding it (the path must not carry it either)."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if (character := _surrogate(item)) is not None:
                return path or "body", f"Surrogate characters are not allowed: U+{ord(character):X}."
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if _surrogate(key) is not None:
                    return path or "body", KEY_MESSAGE
                children.append((child, f"{path}.{key}" if path else key))
            pending.extend(reversed(children))
        elif isinstance(item, list):
            pending.extend(reversed([(child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(item)]))
    return None


class JSONRenderer(renderers.JSONRenderer):
    """DRF's renderer (UTF-8, unescaped); a body it cannot encode is rendered escaped instead."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _EscapingJSONRenderer().render(data, accepted_media_type, renderer_context)


class _EscapingJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True
