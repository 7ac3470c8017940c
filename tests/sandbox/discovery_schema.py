"""JSON Schema validators made from the schemas of the Gmail discovery document.

Discovery schemas are close to JSON Schema, with three differences handled here:
``$ref`` names a schema instead of pointing to it; int64, uint64 and byte values
travel as JSON strings; and an object lists its properties without forbidding
others. Objects with listed properties get ``additionalProperties: false`` so a
key Gmail never returns fails validation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema

from assistant.gmail import discovery_document

_STRING_FORMATS = ("int64", "uint64", "byte", "google-datetime", "google-duration")


def convert(schema: dict[str, Any]) -> dict[str, Any]:
    """Convert one discovery schema to JSON Schema."""
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    kind = schema.get("type")
    if kind == "object":
        return _convert_object(schema)
    if kind == "array":
        return {"type": "array", "items": convert(schema.get("items", {}))}
    if kind == "string" or schema.get("format") in _STRING_FORMATS:
        converted: dict[str, Any] = {"type": "string"}
        if "enum" in schema:
            converted["enum"] = schema["enum"]
        return converted
    if kind in ("integer", "number", "boolean"):
        return {"type": kind}
    if kind == "any":
        return {}
    raise ValueError(f"unknown discovery schema type {kind!r} in {schema}")


def _convert_object(schema: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"type": "object"}
    if "properties" in schema:
        converted["properties"] = {
            name: convert(value) for name, value in schema["properties"].items()
        }
        converted["additionalProperties"] = False
    elif "additionalProperties" in schema:
        converted["additionalProperties"] = convert(schema["additionalProperties"])
    return converted


@lru_cache(maxsize=None)
def validator(schema_name: str) -> jsonschema.Draft7Validator:
    """Return a validator for the discovery schema called ``schema_name``."""
    schemas = discovery_document()["schemas"]
    if schema_name not in schemas:
        raise KeyError(f"no schema {schema_name!r} in the Gmail discovery document")
    document = {
        "$ref": f"#/definitions/{schema_name}",
        "definitions": {name: convert(value) for name, value in schemas.items()},
    }
    return jsonschema.Draft7Validator(document)


def assert_valid(schema_name: str, body: Any) -> None:
    """Fail with every violation listed when ``body`` does not fit the schema."""
    errors = sorted(
        validator(schema_name).iter_errors(body), key=lambda e: list(e.path)
    )
    problems = [
        f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors
    ]
    assert not problems, (
        f"{schema_name} response violates the discovery schema:\n" + "\n".join(problems)
    )
