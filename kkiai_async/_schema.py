"""Python signatures and types -> the JSON schema of a tool's ``parameters``.

Why this module exists: a tool's schema and the type its arguments decode into must be
the same thing, or the model is told one contract and held to another. So the schema is
never written by hand here: a signature becomes a synthetic ``msgspec.Struct`` (one field
per parameter, defaults from the signature, ``forbid_unknown_fields=True``), msgspec
generates that type's JSON schema, and this module only cleans the result into the shape
the Chat Completions API wants:

- the root is a plain object schema: ``type``, ``properties``, ``required``,
  ``additionalProperties: false`` (no ``$ref`` at the root, no ``title``);
- nested ``Struct``\\s, ``TypedDict``\\s, dataclasses and enums stay in ``$defs`` with local
  ``#/$defs/...`` references (kept rather than inlined: a type used twice is described
  once, and recursive types need a reference anyway); definitions nothing refers to are
  dropped;
- a ``$ref`` with sibling keywords (``{"$ref": ..., "description": ...}``) is replaced by
  a copy of its definition with the siblings on top, because the API's strict mode does
  not accept keywords next to a ``$ref``;
- descriptions come from docstrings (the first paragraph of a function's or a class's
  docstring; parameters from the Google-style ``Args:`` section, fields of a nested type
  from its ``Attributes:`` section) unless ``msgspec.Meta(description=...)`` gives one;
- an ``anyOf`` of bare ``{"type": ...}`` schemas becomes one ``type`` list
  (``int | None`` -> ``{"type": ["integer", "null"]}``) and every ``enum`` gets its
  ``type``: both are what the API's own examples use.

Strict mode (``strict=True``) follows the rules OpenAI's Structured Outputs impose on a
schema, which OpenAI-compatible servers that implement ``strict`` copy:

- every property is listed in ``required``; a property that may be left out must accept
  ``null`` instead. At the top level a parameter with a default but a non-nullable type
  (``units: str = "metric"``) is sent as nullable, and ``null`` means "use the default"
  (the synthetic struct maps it back in ``__post_init__``, so the function still sees
  ``"metric"``). In a nested type there is no such hook: a field with a default must
  have a nullable type (``zip: int | None = None``) or the tool cannot be strict;
- every object has ``additionalProperties: false``; a free-form map (``dict[str, X]``,
  ``dict``) or an any-value schema (``Any``) cannot be strict;
- only the supported keywords are sent: ``type``, ``description``, ``enum``, ``const``,
  ``anyOf``, ``$ref``/``$defs``, ``properties``/``required``/``additionalProperties``,
  ``items``/``minItems``/``maxItems``, ``pattern``, the supported ``format``\\s and the
  numeric bounds. ``default``, ``title``, ``examples`` and validation keywords strict
  mode rejects (``minLength``, ``maxLength``, ``uniqueItems``, ...) are left out of the
  schema - they are still enforced, because the arguments are validated against the
  Python type when they are decoded. Anything else (tuples' ``prefixItems``, unknown
  keywords from ``extra_json_schema``) is an error naming its place in the schema.

Size limits (nesting depth, number of properties) are left to the server: they have
changed over time and the server's message names them exactly.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import msgspec
import msgspec.inspect as mi

from ._exceptions import ToolDefinitionError

__all__ = [
    "ArgumentsPlan",
    "Docstring",
    "admits_none",
    "arguments_struct",
    "check_tool_name",
    "external_schema",
    "parameters_schema",
    "parse_docstring",
    "type_schema",
]


_SECTIONS: Final = frozenset(
    {
        "args", "arguments", "attributes", "example", "examples", "keyword args",
        "keyword arguments", "methods", "note", "notes", "other parameters", "parameters",
        "params", "raises", "references", "return", "returns", "see also", "todo",
        "warning", "warnings", "yield", "yields",
    }
)  # fmt: skip
# Sections whose entries describe parameters (functions) or fields (classes).
_PARAM_SECTIONS: Final = frozenset(
    {"args", "arguments", "attributes", "keyword args", "keyword arguments", "parameters", "params"}
)
_SECTION_RE: Final = re.compile(r"^([ \t]*)([A-Za-z][A-Za-z ]*):[ \t]*$")
# ``name: text``, ``name (type): text``, ``*args: text``; the text may start on the next line.
_ENTRY_RE: Final = re.compile(r"^\*{0,2}([A-Za-z_]\w*)[ \t]*(?:\([^)]*\))?[ \t]*:(?:[ \t]+(.*))?$")


class Docstring(msgspec.Struct, frozen=True):
    """What a docstring says about a tool.

    Attributes:
        summary: The first paragraph, its lines joined with spaces; ``None`` if empty.
        params: Parameter (or field) name -> its description, from the ``Args:``,
            ``Arguments:``, ``Parameters:``, ``Keyword Args:`` and ``Attributes:``
            sections. A multi-line description is joined with spaces; a blank line inside
            it starts a new paragraph (``"\\n\\n"``).
    """

    summary: str | None = None
    params: dict[str, str] = {}


def _is_section(line: str) -> re.Match[str] | None:
    m = _SECTION_RE.match(line)
    return m if m is not None and m.group(2).strip().lower() in _SECTIONS else None


def _join(parts: list[str]) -> str:
    paragraphs: list[str] = []
    current: list[str] = []
    for part in parts:
        if part:
            current.append(part)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def parse_docstring(doc: str | None) -> Docstring:
    """Read a Google-style docstring.

    Args:
        doc: A raw ``__doc__`` (indentation is normalised here), or ``None``.

    Returns:
        The summary (first paragraph) and the parameter descriptions.
    """
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _is_section(line):
            break
        summary.append(line.strip())

    params: dict[str, str] = {}
    i, n = 0, len(lines)
    while i < n:
        header = _is_section(lines[i])
        i += 1
        if header is None or header.group(2).strip().lower() not in _PARAM_SECTIONS:
            continue
        header_indent = len(header.group(1).expandtabs())
        entry_indent: int | None = None
        name: str | None = None
        parts: list[str] = []
        while i < n:
            line = lines[i].expandtabs()
            stripped = line.strip()
            if not stripped:
                parts.append("")
                i += 1
                continue
            indent = len(line) - len(line.lstrip())
            if entry_indent is None:
                # Entries are normally indented under the header; a docstring that starts
                # with "Args:" on its first line has them at the header's own indentation
                # once cleandoc() has dedented the rest.
                if indent < header_indent or _is_section(line):
                    break
                if indent == header_indent and not _ENTRY_RE.match(stripped):
                    break
                entry_indent = indent
            elif indent < entry_indent or (indent <= header_indent and _is_section(line)):
                break
            entry = _ENTRY_RE.match(stripped) if indent <= entry_indent else None
            if entry is not None:
                if name is not None:
                    params[name] = _join(parts)
                name, parts = entry.group(1), [entry.group(2) or ""]
            elif name is not None:
                parts.append(stripped)
            i += 1
        if name is not None:
            params[name] = _join(parts)
    return Docstring(" ".join(summary) or None, params)


# --------------------------------------------------------------------------------------
# Signatures -> synthetic argument structs
# --------------------------------------------------------------------------------------

_TOOL_NAME_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_tool_name(name: object) -> str:
    """The name, if the API accepts it as a function name (``^[a-zA-Z0-9_-]{1,64}$``)."""
    if not isinstance(name, str) or not _TOOL_NAME_RE.match(name):
        raise ToolDefinitionError(
            f"tool name {name!r} is not valid: the API takes 1 to 64 letters, digits, '_' "
            "or '-'; pass name=..."
        )
    return name


def admits_none(tp: object) -> bool:
    """Whether ``None`` (JSON ``null``) is a valid value of the annotation ``tp``."""
    if tp is None or tp is type(None) or tp is Any or tp is object:
        return True
    origin = get_origin(tp)
    if origin is Annotated:
        return admits_none(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return any(admits_none(arg) for arg in get_args(tp))
    if origin is Literal:
        return None in get_args(tp)
    return False


class ArgumentsPlan(msgspec.Struct, frozen=True):
    """How to call a function with a decoded arguments struct.

    Attributes:
        positional: Names of the positional-only parameters, in order (they cannot be
            passed by keyword).
        keyword: Names of the other parameters.
        defaults: Parameter name -> default, for the schema (``default``) of non-strict
            tools.
        descriptions: Parameter name -> ``Meta(description=...)`` taken off a type that
            strict mode made nullable, to be put back on the property.
    """

    positional: tuple[str, ...]
    keyword: tuple[str, ...]
    defaults: dict[str, Any]
    descriptions: dict[str, str]


_META_FIELDS: Final = (
    "gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length", "tz",
    "title", "examples", "extra_json_schema", "extra",
)  # fmt: skip


def _pop_description(annotation: Any) -> tuple[Any, str | None]:
    """``annotation`` without ``Meta(description=...)``, and that description.

    Needed where strict mode wraps a parameter's type in ``Optional``: msgspec does not
    carry a description from inside a union member up to the property.
    """
    if get_origin(annotation) is not Annotated:
        return annotation, None
    base, *metadata = get_args(annotation)
    description: str | None = None
    kept: list[object] = []
    for meta in metadata:
        if isinstance(meta, msgspec.Meta) and meta.description is not None:
            description = meta.description
            rest = {f: getattr(meta, f) for f in _META_FIELDS if getattr(meta, f) is not None}
            if not rest:
                continue
            meta = msgspec.Meta(**rest)
        kept.append(meta)
    return (Annotated.__class_getitem__((base, *kept)) if kept else base), description


def _constant(value: object) -> Callable[[], object]:
    # A default_factory returning the signature's own default object: Python passes that
    # very object on every call that omits the argument, so the tool behaves the same
    # whether the model or a person calls it. (A plain struct default would not do:
    # msgspec refuses non-empty mutable defaults and encodes every default for the schema,
    # failing on sentinels like ``object()``.)
    return lambda: value


def _null_means_default(fields: tuple[tuple[str, object], ...]) -> Callable[[Any], None]:
    def __post_init__(self: Any) -> None:
        for name, default in fields:
            if getattr(self, name) is None:
                setattr(self, name, default)

    return __post_init__


def arguments_struct(
    fn: Callable[..., Any], *, name: str, strict: bool
) -> tuple[type[msgspec.Struct], ArgumentsPlan]:
    """Build the synthetic struct the arguments of ``fn`` decode into.

    Args:
        fn: The function (any callable ``inspect.signature`` understands).
        name: The tool name; also the struct's ``__name__``, so a decoded value prints as
            ``get_weather(city='Paris')``.
        strict: Make defaulted non-nullable parameters nullable, ``null`` meaning "use the
            default" (strict mode requires every property, so this is how the model says
            "I have no value for this").

    Returns:
        The struct type (``kw_only``, ``forbid_unknown_fields``) and the call plan.

    Raises:
        ToolDefinitionError: The signature cannot be described: unresolvable type hints,
            ``*args``/``**kwargs``, or a parameter without an annotation.
    """
    try:
        sig = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError, SyntaxError) as exc:
        raise ToolDefinitionError(
            f"cannot read the signature of tool {name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    positional: list[str] = []
    keyword: list[str] = []
    defaults: dict[str, Any] = {}
    null_defaults: list[tuple[str, object]] = []
    descriptions: dict[str, str] = {}
    for param in sig.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {star}{param.name} cannot be described by a JSON "
                "schema; give the tool named parameters"
            )
        if param.annotation is param.empty:
            hint = (
                "; decorate a bound method (tool(obj.method)) or a plain function instead"
                if param.name in ("self", "cls")
                else ""
            )
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {param.name!r} has no type annotation{hint}"
            )
        (positional if param.kind is param.POSITIONAL_ONLY else keyword).append(param.name)
        annotation: Any = param.annotation
        if param.default is param.empty:
            fields.append((param.name, annotation))
            continue
        defaults[param.name] = param.default
        if strict and not admits_none(annotation):
            null_defaults.append((param.name, param.default))
            annotation, description = _pop_description(annotation)
            if description is not None:
                descriptions[param.name] = description
            fields.append((param.name, Union[annotation, None], None))  # noqa: UP007
        else:
            fields.append(
                (param.name, annotation, msgspec.field(default_factory=_constant(param.default)))
            )
    namespace: dict[str, Any] = {}
    if null_defaults:
        namespace["__post_init__"] = _null_means_default(tuple(null_defaults))
    struct = msgspec.defstruct(
        name,
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        module=getattr(fn, "__module__", None) or __name__,
        namespace=namespace,
    )
    # A qualname no class statement can produce keeps msgspec's component names unique
    # even when a user type has the same __name__ as the tool.
    struct.__qualname__ = f"{getattr(fn, '__qualname__', name)}.<arguments>"
    plan = ArgumentsPlan(tuple(positional), tuple(keyword), defaults, descriptions)
    return struct, plan


# --------------------------------------------------------------------------------------
# msgspec schema -> the API's parameters schema
# --------------------------------------------------------------------------------------

# Keywords whose value is a schema, a list of schemas, or a map of schemas.
_SUBSCHEMA: Final = frozenset({"items", "additionalProperties", "not", "contains"})
_SUBSCHEMA_LIST: Final = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SUBSCHEMA_MAP: Final = frozenset({"properties", "$defs", "patternProperties"})

_STRICT_ALLOWED: Final = frozenset(
    {
        "$defs", "$ref", "additionalProperties", "anyOf", "const", "description", "enum",
        "exclusiveMaximum", "exclusiveMinimum", "format", "items", "maxItems", "maximum",
        "minItems", "minimum", "multipleOf", "pattern", "properties", "required", "type",
    }
)  # fmt: skip
# Left out of strict schemas: annotations, and validation keywords strict mode rejects but
# msgspec still checks when it decodes the arguments.
_STRICT_DROPPED: Final = frozenset(
    {
        "$comment", "contentEncoding", "contentMediaType", "default", "deprecated",
        "discriminator", "examples", "maxLength", "maxProperties", "minLength",
        "minProperties", "readOnly", "title", "uniqueItems", "writeOnly",
    }
)  # fmt: skip
_STRICT_FORMATS: Final = frozenset(
    {"date", "date-time", "duration", "email", "hostname", "ipv4", "ipv6", "time", "uuid"}
)
_DEFS_PREFIX: Final = "#/$defs/"

Schema = dict[str, Any]


_JSON_TYPES: Final[dict[type, str]] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
}


def _json_type(value: object) -> str:
    # Enum and Literal values in msgspec schemas are only these JSON scalars.
    return _JSON_TYPES.get(type(value), "string")


def _types_of(values: Iterable[object]) -> str | list[str]:
    found = list(dict.fromkeys(_json_type(v) for v in values))
    return found[0] if len(found) == 1 else found


def _description_first(schema: Schema, description: str) -> Schema:
    return {"description": description, **{k: v for k, v in schema.items() if k != "description"}}


def _normalize_name(name: str) -> str:
    # The characters msgspec keeps in component names; others become "_".
    return re.sub(r"[^a-zA-Z0-9.\-_]", "_", name)


def _component_classes(tp: object) -> dict[str, type]:
    """Definition name -> class, for the named types reachable from ``tp``.

    msgspec names a component after the class (``Address``), or after its module and
    qualname when two classes share a name; both spellings are mapped, ambiguous short
    names are not.
    """
    found: dict[str, type | None] = {}
    seen: set[int] = set()
    stack: list[object] = [mi.type_info(tp)]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        cls = getattr(node, "cls", None)
        if isinstance(cls, type):
            short = _normalize_name(cls.__name__)
            found[short] = cls if found.get(short, cls) is cls else None
            found[_normalize_name(f"{cls.__module__}.{cls.__qualname__}")] = cls
        if isinstance(node, msgspec.Struct):
            for field in node.__struct_fields__:
                value = getattr(node, field)
                items = value if isinstance(value, tuple) else (value,)
                for item in items:
                    if isinstance(item, mi.Field):
                        stack.append(item.type)
                    elif isinstance(item, mi.Type):
                        stack.append(item)
    return {name: cls for name, cls in found.items() if cls is not None}


# msgspec accepts a datetime or time with or without a UTC offset, so it gives them no
# ``format``; RFC 3339's (with the offset) is a subset it decodes, and the only way to
# tell the model, and a strict server, what to write.
_TIME_FORMATS: dict[type, str] = {mi.DateTimeType: "date-time", mi.TimeType: "time"}


def _with_time_formats(schema: Schema, cls: type) -> Schema:
    """``schema`` (a class's definition from msgspec) with ``format`` on its datetime and
    time properties, found through the class's fields."""
    props = schema.get("properties")
    try:
        fields = getattr(mi.type_info(cls), "fields", ())
    except (TypeError, ValueError):  # a class msgspec described but cannot inspect
        return schema
    if not isinstance(props, dict):
        return schema
    patched = {
        name: _with_time_format(field.type, props[name])
        for field in fields
        if (name := field.encode_name) in props
    }
    return {**schema, "properties": {**props, **patched}}


def _bare(tp: mi.Type) -> mi.Type:
    while isinstance(tp, mi.Metadata):
        tp = tp.type
    return tp


def _with_time_format(tp: mi.Type, node: object) -> Any:
    tp = _bare(tp)
    if not isinstance(node, dict):
        return node
    if isinstance(tp, (mi.DateTimeType, mi.TimeType)):
        # tz=True has its format from msgspec; tz=False (no offset allowed) has none.
        if tp.tz is None and node.get("type") == "string" and "format" not in node:
            return {**node, "format": _TIME_FORMATS[type(tp)]}
        return node
    branches = node.get("anyOf")
    if isinstance(tp, mi.UnionType) and isinstance(branches, list):
        members = [t for t in tp.types if not isinstance(_bare(t), mi.NoneType)]
        values = [b for b in branches if b != {"type": "null"}]
        if len(members) == len(values) == 1:  # X | None: the one branch is X's
            member, value = members[0], values[0]
        else:  # msgspec allows one string-like type in a union: its branch is the string
            times = [t for t in members if isinstance(_bare(t), (mi.DateTimeType, mi.TimeType))]
            strings = [b for b in values if isinstance(b, dict) and b.get("type") == "string"]
            if len(times) != 1 or len(strings) != 1:
                return node
            member, value = times[0], strings[0]
        return {
            **node,
            "anyOf": [_with_time_format(member, b) if b is value else b for b in branches],
        }
    if (
        isinstance(tp, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType))
        and "items" in node
    ):
        return {**node, "items": _with_time_format(tp.item_type, node["items"])}
    return node


class _Cleaner:
    """The structural clean-up shared by strict and non-strict schemas."""

    __slots__ = ("classes",)

    def __init__(self, classes: Mapping[str, type]) -> None:
        self.classes = classes

    def definition(self, name: str, schema: Schema) -> Schema:
        out: Schema = self.node(schema)
        cls = self.classes.get(name)
        if cls is not None and "description" in schema:
            doc = parse_docstring(cls.__doc__)
            out = {k: v for k, v in out.items() if k != "description"}
            if doc.summary:
                out = _description_first(out, doc.summary)
            props = out.get("properties")
            if isinstance(props, dict) and doc.params:
                out["properties"] = {
                    key: _description_first(value, doc.params[key])
                    if key in doc.params and "description" not in value
                    else value
                    for key, value in props.items()
                }
        return out

    def node(self, schema: object) -> Any:
        if not isinstance(schema, dict):
            return schema
        out: Schema = {}
        for key, value in schema.items():
            if key == "title":
                continue
            if key in _SUBSCHEMA:
                out[key] = self.node(value)
            elif key in _SUBSCHEMA_LIST:
                out[key] = [self.node(v) for v in value]
            elif key in _SUBSCHEMA_MAP:
                out[key] = {k: self.node(v) for k, v in value.items()}
            else:
                out[key] = value
        if "enum" in out and "type" not in out:
            out["type"] = _types_of(out["enum"])
        out = _simplify_any_of(out)
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out


def _simplify_any_of(schema: Schema) -> Schema:
    """Flatten nested ``anyOf`` lists; merge one made only of ``{"type": ...}`` into ``type``."""
    any_of = schema.get("anyOf")
    if not any_of:
        return schema
    flat: list[Any] = []
    for member in any_of:
        if isinstance(member, dict) and member.keys() == {"anyOf"}:
            flat.extend(member["anyOf"])
        else:
            flat.append(member)
    replacement: tuple[str, object] = ("anyOf", flat)
    if "type" not in schema and all(isinstance(v, dict) and v.keys() == {"type"} for v in flat):
        merged: list[str] = []
        for member in flat:
            merged.extend(t for t in _as_list(member["type"]) if t not in merged)
        replacement = ("type", merged[0] if len(merged) == 1 else merged)
    # Rebuilt in place of ``anyOf`` so that the key order stays readable.
    return dict(replacement if key == "anyOf" else (key, value) for key, value in schema.items())


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _ref_name(ref: object, where: str) -> str:
    if not isinstance(ref, str) or not ref.startswith(_DEFS_PREFIX):
        raise ToolDefinitionError(f"unexpected $ref {ref!r} at {where}")
    return ref[len(_DEFS_PREFIX) :]


class _Inliner:
    """Replaces ``$ref`` + siblings with the definition's copy + siblings.

    ``expanding`` guards against a definition whose own body has such a reference to
    itself; there the reference stays, wrapped in a one-member ``anyOf``.
    """

    __slots__ = ("defs",)

    def __init__(self, defs: Mapping[str, Schema]) -> None:
        self.defs = defs

    def node(self, schema: object, expanding: frozenset[str] = frozenset()) -> Any:
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema and len(schema) > 1:
            name = _ref_name(schema["$ref"], "a reference")
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            if name in expanding:
                return {**siblings, "anyOf": [{"$ref": schema["$ref"]}]}
            merged = {**self.defs[name], **siblings}
            if "description" in siblings:
                merged = _description_first(merged, siblings["description"])
            return self.node(merged, expanding | {name})
        out: Schema = {}
        for key, value in schema.items():
            if key in _SUBSCHEMA:
                out[key] = self.node(value, expanding)
            elif key in _SUBSCHEMA_LIST:
                out[key] = [self.node(v, expanding) for v in value]
            elif key in _SUBSCHEMA_MAP:
                out[key] = {k: self.node(v, expanding) for k, v in value.items()}
            else:
                out[key] = value
        return out


class _Strict:
    """Rewrites a cleaned schema into the strict-mode subset, or explains why it cannot."""

    __slots__ = ("defs", "subject")

    def __init__(self, subject: str, defs: Mapping[str, Schema]) -> None:
        self.subject = subject
        self.defs = defs

    def fail(self, path: str, why: str) -> ToolDefinitionError:
        return ToolDefinitionError(
            f"{self.subject} cannot be strict: {why} (at {path}); change the type or use "
            "strict=False"
        )

    def nullable(self, schema: object, seen: frozenset[str] = frozenset()) -> bool:
        if not isinstance(schema, dict):
            return schema is True
        if "null" in _as_list(schema.get("type")):
            return True
        if None in schema.get("enum", ()) or ("const" in schema and schema["const"] is None):
            return True
        if any(self.nullable(v, seen) for v in schema.get("anyOf", ())):
            return True
        ref = schema.get("$ref")
        if ref is not None:
            name = _ref_name(ref, "a reference")
            return name not in seen and self.nullable(self.defs[name], seen | {name})
        return False

    def node(self, schema: object, path: str) -> Schema:
        if not isinstance(schema, dict):
            raise self.fail(path, "a schema that accepts any value (Any, object)")
        out: Schema = {}
        for key, value in schema.items():
            if key in _STRICT_DROPPED or (key == "format" and value not in _STRICT_FORMATS):
                continue
            if key not in _STRICT_ALLOWED:
                what = "a tuple" if key == "prefixItems" else f"the keyword {key!r}"
                raise self.fail(path, f"{what} is not supported")
            if key == "properties":
                out[key] = {k: self.node(v, f"{path}/properties/{k}") for k, v in value.items()}
            elif key == "items":
                out[key] = self.node(value, f"{path}/items")
            elif key == "anyOf":
                out[key] = [self.node(v, f"{path}/anyOf/{i}") for i, v in enumerate(value)]
            elif key != "$defs":
                out[key] = value
        out = _simplify_any_of(out)
        if not any(k in out for k in ("type", "enum", "const", "anyOf", "$ref")):
            raise self.fail(path, "a schema that accepts any value (Any, object)")
        if "object" in _as_list(out.get("type")):
            extra = out.get("additionalProperties", True)
            if extra is not False:
                raise self.fail(path, "a free-form object (dict[str, ...], dict) has no fixed keys")
            props: dict[str, Schema] = out.get("properties", {})
            required = set(schema.get("required", ()))
            for key, prop in props.items():
                if key not in required and not self.nullable(prop):
                    raise self.fail(
                        f"{path}/properties/{key}",
                        "a field that may be left out must accept null (`T | None = None`)",
                    )
            out["properties"] = props
            out["required"] = list(props)
        return out


def _refs(schema: object, found: set[str]) -> None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref":
                found.add(_ref_name(value, "a reference"))
            elif key in _SUBSCHEMA:
                _refs(value, found)
            elif key in _SUBSCHEMA_LIST:
                for v in value:
                    _refs(v, found)
            elif key in _SUBSCHEMA_MAP and key != "$defs":
                for v in value.values():
                    _refs(v, found)


def _reachable(root: Schema, defs: Mapping[str, Schema]) -> list[str]:
    found: set[str] = set()
    _refs(root, found)
    pending = list(found)
    while pending:
        inner: set[str] = set()
        _refs(defs[pending.pop()], inner)
        for name in inner - found:
            found.add(name)
            pending.append(name)
    return [name for name in defs if name in found]


def _msgspec_schema(
    tp: object, subject: str, member: str, fields: Iterable[tuple[str, object]]
) -> Schema:
    try:
        return msgspec.json.schema(tp)
    except (TypeError, ValueError) as exc:
        # Name the parameter (or field) whose type is at fault, not only the type.
        for name, annotation in fields:
            try:
                msgspec.json.schema(annotation)
            except (TypeError, ValueError) as inner:
                raise ToolDefinitionError(
                    f"{subject}: the type of {member} {name!r} cannot be described as JSON "
                    f"schema: {inner}"
                ) from exc
        raise ToolDefinitionError(
            f"{subject}: its type cannot be described as JSON schema: {exc}"
        ) from exc


def parameters_schema(
    tp: type[msgspec.Struct],
    *,
    tool: str,
    strict: bool,
    descriptions: Mapping[str, str] | None = None,
    defaults: Mapping[str, object] | None = None,
) -> Schema:
    """The ``parameters`` JSON schema of a tool whose arguments decode into ``tp``.

    Args:
        tp: The arguments struct (synthetic, or a user's for ``FunctionTool.from_struct``).
        tool: The tool name, for error messages.
        strict: Apply the strict-mode rules (see the module docstring).
        descriptions: Property descriptions from the function's docstring; a description
            given with ``msgspec.Meta`` wins.
        defaults: Property defaults to show (non-strict only); the synthetic structs use
            ``default_factory`` so msgspec does not emit them itself.

    Returns:
        A fresh dict: ``type``, ``properties``, ``required``, ``additionalProperties``,
        and ``$defs`` when a nested type is referenced.

    Raises:
        ToolDefinitionError: msgspec cannot describe a type, the arguments are not a JSON
            object, or ``strict`` is asked of a schema strict mode cannot take.
    """
    fields = [(f.name, f.type) for f in msgspec.structs.fields(tp)]
    raw = _msgspec_schema(tp, f"tool {tool!r}", "parameter", fields)
    schema, _ = _object_schema(
        raw,
        classes=_component_classes(tp),
        subject=f"tool {tool!r}",
        what="the arguments",
        strict=strict,
        descriptions=descriptions,
        defaults=defaults,
    )
    return schema


def type_schema(tp: type, *, subject: str, strict: bool) -> tuple[Schema, str | None]:
    """The JSON schema of a ``msgspec.Struct``, dataclass or ``TypedDict`` type.

    The same rules as a tool's ``parameters`` (the module docstring): this is what a
    ``response_format`` given as a type is sent as.

    Args:
        tp: The type; its instances must encode as JSON objects.
        subject: What the schema is for, in error messages (``"response_format 'Answer'"``).
        strict: Apply the strict-mode rules.

    Returns:
        The schema (as :func:`parameters_schema` returns it) and the first paragraph of
        the type's docstring (``None`` if it has none), which the caller puts beside the
        schema rather than in it.

    Raises:
        ToolDefinitionError: msgspec cannot describe a field's type, the type is not a
            JSON object, or ``strict`` is asked of a schema strict mode cannot take (the
            message names the field).
    """
    try:
        hints: Iterable[tuple[str, object]] = typing.get_type_hints(tp, include_extras=True).items()
    except Exception:  # only used to name the field at fault, when it can be
        hints = ()
    raw = _msgspec_schema(tp, subject, "field", hints)
    return _object_schema(
        raw, classes=_component_classes(tp), subject=subject, what="the type", strict=strict
    )


def external_schema(
    raw: Mapping[str, Any], *, name: str, subject: str, strict: bool
) -> tuple[Schema, str | None]:
    """Clean a JSON schema another library generated (pydantic's ``model_json_schema()``).

    The root may be inline (with ``$defs`` beside it) or a ``$ref`` into ``$defs``; either
    way it goes through the same clean-up and strict-mode rules as msgspec's schemas, so
    one type sends one schema shape whichever library describes it.

    Args:
        raw: The generated schema (not modified).
        name: The root type's name, under which an inline root is filed.
        subject: What the schema is for, in error messages.
        strict: Apply the strict-mode rules.

    Returns:
        As :func:`type_schema`; the root's ``description`` is the second item.

    Raises:
        ToolDefinitionError: As :func:`type_schema`.
    """
    defs: dict[str, Schema] = dict(raw.get("$defs", {}))
    if "$ref" in raw:
        shaped: Schema = {"$ref": raw["$ref"], "$defs": defs}
    else:
        key = name
        while key in defs:
            key += "_"
        defs[key] = {k: v for k, v in raw.items() if k != "$defs"}
        shaped = {"$ref": _DEFS_PREFIX + key, "$defs": defs}
    return _object_schema(shaped, classes={}, subject=subject, what="the type", strict=strict)


def _object_schema(
    raw: Schema,
    *,
    classes: Mapping[str, type],
    subject: str,
    what: str,
    strict: bool,
    descriptions: Mapping[str, str] | None = None,
    defaults: Mapping[str, object] | None = None,
) -> tuple[Schema, str | None]:
    """The clean-up every object schema goes through; the root's description apart."""
    root_name = _ref_name(raw.get("$ref"), "the root")
    raw_defs: dict[str, Schema] = raw.get("$defs", {})
    raw_root = raw_defs[root_name]
    if raw_root.get("type") != "object":
        raise ToolDefinitionError(
            f"{subject}: {what} must be a JSON object (an array_like struct is not)"
        )
    raw_defs = {
        name: _with_time_formats(schema, classes[name]) if name in classes else schema
        for name, schema in raw_defs.items()
    }
    cleaner = _Cleaner(classes)
    defs = {name: cleaner.definition(name, schema) for name, schema in raw_defs.items()}
    root = dict(defs[root_name])
    summary = root.pop("description", None)
    props: dict[str, Schema] = dict(root.get("properties", {}))
    for key, text in (descriptions or {}).items():
        if key in props and "description" not in props[key]:
            props[key] = _description_first(props[key], text)
    if not strict:
        for key, value in (defaults or {}).items():
            if key in props and "default" not in props[key]:
                # A sentinel default (object()) has no JSON form; the model just omits it.
                with contextlib.suppress(TypeError):
                    props[key] = {**props[key], "default": msgspec.to_builtins(value)}
    root = {
        "type": "object",
        "properties": props,
        "required": list(root.get("required", [])),
        "additionalProperties": False,
    }
    inliner = _Inliner(defs)
    root = inliner.node(root)
    defs = {name: inliner.node(schema, frozenset({name})) for name, schema in defs.items()}
    used = _reachable(root, defs)
    defs = {name: defs[name] for name in used}
    if strict:
        checker = _Strict(subject, defs)
        root = checker.node(root, "#")
        defs = {name: checker.node(schema, f"#/$defs/{name}") for name, schema in defs.items()}
    if used:
        root["$defs"] = {name: defs[name] for name in used}
    return root, summary if isinstance(summary, str) and summary else None
