"""Deterministic JSON values that satisfy a JSON Schema (the subset tools and structured
outputs use: object, array, string, number, integer, boolean, null, enum, const, anyOf,
oneOf, allOf, $ref to $defs/definitions, string formats, numeric bounds)."""

from __future__ import annotations

import random
from typing import Any

from modality.simulator.text import phrase

MAX_DEPTH = 8


def value_for(schema: dict[str, Any], rng: random.Random) -> Any:
    return _value(schema, rng, schema, 0)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, dict) else {}


def _value(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> Any:
    if depth > MAX_DEPTH:
        return None
    if "$ref" in schema and isinstance(schema["$ref"], str):
        return _value(_resolve(schema["$ref"], root), rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return rng.choice(enum)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            return _value((non_null or options)[0], rng, root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return _value(merged, rng, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        items = schema.get("items")
        item_schema: dict[str, Any] = items if isinstance(items, dict) else {}
        fewest = int(schema.get("minItems", 1))
        most = max(fewest, min(int(schema.get("maxItems", 3)), fewest + 2))
        count = rng.randint(fewest, most)
        return [_value(item_schema, rng, root, depth + 1) for _ in range(count)]
    if kind == "integer":
        smallest = int(schema.get("minimum", 0))
        return rng.randint(smallest, int(schema.get("maximum", smallest + 100)))
    if kind == "number":
        bottom = float(schema.get("minimum", 0.0))
        return round(rng.uniform(bottom, float(schema.get("maximum", bottom + 100.0))), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng)


def _object(
    schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int
) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {
        name: _value(sub if isinstance(sub, dict) else {}, rng, root, depth + 1)
        for name, sub in properties.items()
    }


def _string(schema: dict[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if fmt == "date-time":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z"
    if fmt == "email":
        return f"user{rng.randint(1, 999)}@example.com"
    if fmt in ("uri", "url"):
        return f"https://example.com/{rng.randint(1, 999)}"
    if fmt == "uuid":
        return f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
    text = phrase(rng)
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    while len(text) < low:
        text += " " + phrase(rng)
    return text[: int(high)] if isinstance(high, int) else text
