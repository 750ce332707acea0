"""Make up a value that validates against a JSON schema: the fake model's tool arguments.

Why: a client's tool loop decodes the arguments into the tool's declared type, so the
fake server's calls must carry arguments that validate, for any schema a user's tool
may have (nested objects, arrays with ``minItems``, enums, ``$ref`` to ``$defs``,
``anyOf``...). Values are derived from the user's last message where that makes sense
(a capitalised word for a string, a number that appears in it, an enum value it names)
so that replies read naturally in examples, and are otherwise fixed, so that tests can
predict them.

Covered: ``type`` (single or a list), ``const``, ``enum``, ``default``, ``anyOf`` /
``oneOf`` (first non-null branch), ``allOf`` (objects merged), local ``$ref``
(``#/$defs/...``, ``#/definitions/...``), ``properties`` (every property is filled),
``required``, ``items``, ``prefixItems``, ``minItems``/``maxItems``, ``uniqueItems``,
``minimum``/``maximum`` and their exclusive forms, ``multipleOf``,
``minLength``/``maxLength`` and the ``format``\\ s ``date``, ``date-time``, ``time``,
``duration``, ``email``, ``hostname``, ``ipv4``, ``ipv6``, ``uri``, ``uuid`` (every format
strict mode accepts). Not covered: ``pattern`` (no regex inversion),
``not``, ``if``/``then``, remote ``$ref``.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["example_value"]

_FORMATS = {
    "date": "2026-11-27",
    "date-time": "2026-11-27T09:30:00Z",
    "time": "09:30:00Z",  # RFC 3339's full-time: the offset is part of it
    "duration": "P1DT2H30M",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "hostname": "example.com",
    "uuid": "0b6d4f3e-6c2a-4f1e-9a57-2f6f3a1c8d42",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}

_MAX_DEPTH = 32
# Past this depth a value ends recursion where the schema allows it: ``null`` for a
# nullable value, no items for an array without ``minItems``. Strict schemas (structured
# outputs) make every property required, so a recursive type (``children: list[Node]``,
# ``next: Node | None``) can only end there.
_SHALLOW = 8

# Words that say nothing about which tool or value is meant.
# fmt: off
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for",
    "from", "get", "give", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of",
    "on", "or", "please", "show", "tell", "that", "the", "their", "them", "then", "there",
    "these", "this", "to", "us", "was", "we", "what", "whats", "when", "where", "which", "who",
    "why", "will", "with", "would", "you", "your"
})
# fmt: on

_CAPITALISED_RE = re.compile(r"\b[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_WORD_RE = re.compile(r"[^\W_]+")


class _Hints:
    """What the user's message suggests for strings, numbers and enums."""

    __slots__ = ("lowered", "number", "text")

    def __init__(self, message: str) -> None:
        self.lowered = message.lower()
        names = [m.group() for m in _CAPITALISED_RE.finditer(message) if m.start() > 0]
        names = [n for n in names if n.lower() not in STOPWORDS]
        if names:
            self.text = names[-1]
        else:
            words = [w for w in _WORD_RE.findall(message) if w.lower() not in STOPWORDS]
            self.text = max(words, key=len) if words else "example"
        found = _NUMBER_RE.search(message)
        self.number: float | None = float(found.group()) if found else None

    def mentions(self, option: str) -> bool:
        """Whether the message names ``option`` as a whole word or phrase."""
        return re.search(rf"\b{re.escape(option.lower())}\b", self.lowered) is not None


def example_value(schema: Any, *, message: str = "") -> Any:
    """A value that validates against ``schema``.

    Args:
        schema: A JSON schema (a dict; ``True`` or ``{}`` accept anything).
        message: The user's last message, which the value borrows words and numbers from.

    Returns:
        A JSON-ready value (dict, list, str, int, float, bool or None).
    """
    root = schema if isinstance(schema, dict) else {}
    return _value(schema, root, _Hints(message), 0, 0)


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            return {}
        node = node[key]
    return node


def _value(schema: Any, root: dict[str, Any], hints: _Hints, depth: int, variant: int) -> Any:
    if not isinstance(schema, dict):
        return hints.text
    if depth > _MAX_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _value(_resolve(ref, root), root, hints, depth + 1, variant)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return _from_enum(enum, hints, variant)
    if "default" in schema and variant == 0:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            usable = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            if depth > _SHALLOW and len(usable) < len(branches):
                return None
            return _value((usable or branches)[0], root, hints, depth + 1, variant)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        parts = [_value(sub, root, hints, depth + 1, variant) for sub in all_of]
        if all(isinstance(p, dict) for p in parts):
            merged: dict[str, Any] = {}
            for part in parts:
                merged.update(part)
            return merged
        return parts[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = (
            "null"
            if depth > _SHALLOW and "null" in kind
            else next((k for k in kind if k != "null"), "null")
        )
    if kind is None:
        if "properties" in schema or "required" in schema:
            kind = "object"
        elif "items" in schema or "prefixItems" in schema:
            kind = "array"
        elif any(k in schema for k in ("minimum", "maximum", "multipleOf")):
            kind = "number"
        else:
            kind = "string"
    if kind == "object":
        return _object(schema, root, hints, depth, variant)
    if kind == "array":
        return _array(schema, root, hints, depth)
    if kind == "integer":
        return int(_number(schema, hints, variant, integer=True))
    if kind == "number":
        return _number(schema, hints, variant, integer=False)
    if kind == "boolean":
        return variant % 2 == 0
    if kind == "null":
        return None
    return _string(schema, hints, variant)


def _from_enum(enum: list[Any], hints: _Hints, variant: int) -> Any:
    start = 0
    for i, option in enumerate(enum):
        if isinstance(option, str) and option and hints.mentions(option):
            start = i
            break
    return enum[(start + variant) % len(enum)]


def _object(
    schema: dict[str, Any], root: dict[str, Any], hints: _Hints, depth: int, variant: int
) -> dict[str, Any]:
    properties = schema.get("properties")
    required = schema.get("required")
    out: dict[str, Any] = {}
    if isinstance(properties, dict):
        required_names = set(required) if isinstance(required, list) else set()
        for name, sub in properties.items():
            # Deep inside a recursive schema, optional branches are where recursion ends.
            if depth > _MAX_DEPTH // 2 and name not in required_names:
                continue
            out[name] = _value(sub, root, hints, depth + 1, variant)
    if isinstance(required, list):
        for name in required:
            if isinstance(name, str) and name not in out:
                out[name] = hints.text
    return out


def _array(schema: dict[str, Any], root: dict[str, Any], hints: _Hints, depth: int) -> list[Any]:
    prefix = schema.get("prefixItems")
    out: list[Any] = []
    if isinstance(prefix, list):
        out = [_value(sub, root, hints, depth + 1, i) for i, sub in enumerate(prefix)]
    items = schema.get("items")
    fewest = 0 if depth > _SHALLOW else 1
    min_items = schema.get("minItems", fewest)
    max_items = schema.get("maxItems")
    count = max(min_items if isinstance(min_items, int) else fewest, fewest, len(out))
    if isinstance(max_items, int):
        count = min(count, max_items)
    if isinstance(items, dict) or items is True:
        out.extend(_value(items, root, hints, depth + 1, i) for i in range(len(out), count))
    return out[:count]


def _number(schema: dict[str, Any], hints: _Hints, variant: int, *, integer: bool) -> float:
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum", upper=False)
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum", upper=True)

    def fits(value: float) -> bool:
        if low is not None and (value <= low if low_open else value < low):
            return False
        return high is None or (value < high if high_open else value <= high)

    base = hints.number if hints.number is not None else (3.0 if integer else 1.5)
    multiple = schema.get("multipleOf")
    if not isinstance(multiple, (int, float)) or isinstance(multiple, bool) or multiple <= 0:
        multiple = None
    # Items of one array differ by whole steps, so uniqueItems holds after rounding.
    candidates = [base + variant * (multiple or 1)]
    if low is not None:
        candidates.append(low + 1 if low_open else low)
    if high is not None:
        candidates.append(high - 1 if high_open else high)
    if low is not None and high is not None:
        candidates.append((low + high) / 2)
    if multiple is not None:
        candidates = [
            r(c / multiple) * multiple for c in candidates for r in (math.ceil, math.floor)
        ]
    if integer:
        candidates = [float(r(c)) for c in candidates for r in (math.floor, math.ceil)]
    return next((c for c in candidates if fits(c)), candidates[0])


def _bound(
    schema: dict[str, Any], inclusive: str, exclusive: str, *, upper: bool
) -> tuple[float | None, bool]:
    """The tighter of a schema's inclusive and exclusive bound, and whether it is open."""
    found: float | None = None
    is_open = False
    for key, key_open in ((inclusive, False), (exclusive, True)):
        value = schema.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        tighter = found is None or (value < found if upper else value > found)
        if tighter or (value == found and key_open):
            found, is_open = float(value), key_open
    return found, is_open


def _string(schema: dict[str, Any], hints: _Hints, variant: int) -> str:
    fmt = schema.get("format")
    text = _FORMATS.get(fmt, hints.text) if isinstance(fmt, str) else hints.text
    suffix = f" {variant + 1}" if variant and not isinstance(fmt, str) else ""
    min_length = schema.get("minLength")
    max_length = schema.get("maxLength")
    text += suffix
    if isinstance(min_length, int) and len(text) < min_length:
        text += "x" * (min_length - len(text))
    if isinstance(max_length, int) and len(text) > max_length:
        # Keep the variant's suffix: it is what makes array items unique.
        suffix = suffix.strip() if len(suffix.strip()) <= max_length else ""
        text = text[: max_length - len(suffix)] + suffix
    return text
