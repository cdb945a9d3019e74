"""Validate JSON against our OpenAPI 3.0 document's schemas with jsonschema (draft 2020-12).

OpenAPI 3.0's dialect is converted first: `nullable: true` admits null, and a `oneOf` or `anyOf`
with a `discriminator` picks its branch by the discriminator's value (as OpenAPI says).
`strict=True` also refuses any property a schema does not declare (an object schema with
`properties` and no `additionalProperties`): what the server sends must all be documented.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator


def _convert(schema: Any, *, strict: bool) -> Any:
    if isinstance(schema, list):
        return [_convert(item, strict=strict) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _convert(value, strict=strict) for key, value in schema.items() if key != "nullable"}
    discriminator = converted.pop("discriminator", None)
    branches = "oneOf" if "oneOf" in converted else "anyOf"
    if discriminator is not None and branches in converted and discriminator.get("mapping"):
        name, mapping = discriminator["propertyName"], discriminator["mapping"]
        converted.pop(branches)
        converted["required"] = [name]
        converted["properties"] = {name: {"enum": list(mapping)}}
        converted["allOf"] = [
            {"if": {"properties": {name: {"const": value}}}, "then": {"$ref": ref}} for value, ref in mapping.items()
        ]
    elif strict and "properties" in converted and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    if schema.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def validator(document: dict[str, Any], schema: dict[str, Any], *, strict: bool) -> Draft202012Validator:
    """A validator of `schema` (e.g. `{"$ref": "#/components/schemas/Order"}`) within `document`."""
    components = _convert(document["components"]["schemas"], strict=strict)
    root = {**_convert(schema, strict=strict), "components": {"schemas": components}}
    return Draft202012Validator(root)


def errors(document: dict[str, Any], schema: dict[str, Any], instance: Any, *, strict: bool) -> list[str]:
    """What is wrong with `instance` (empty when it is valid), each with its path."""
    found = validator(document, schema, strict=strict).iter_errors(instance)
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in found]
