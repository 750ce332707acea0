"""Schemas of tool parameters: signatures in, exact JSON schemas out (kkiai_async._schema)."""

from __future__ import annotations

import datetime
import decimal
import enum
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pytest

from kkiai_async import ToolDefinitionError
from kkiai_async._schema import Docstring, admits_none, parse_docstring
from kkiai_async.tools import FunctionTool, tool

# --------------------------------------------------------------------------------------
# Types used by the signatures below
# --------------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(msgspec.Struct):
    """A postal address.

    Only in the EU.

    Attributes:
        street: The street
            and number.
        zip: The postal code.
    """

    street: str
    zip: int | None = None


class Point(TypedDict):
    """A point."""

    x: float
    y: float


class Sparse(TypedDict, total=False):
    x: int


class Tree(msgspec.Struct):
    name: str
    children: list[Tree] = []


class Cat(msgspec.Struct, tag=True):
    lives: int


class Dog(msgspec.Struct, tag=True):
    good: bool


class WithDefault(msgspec.Struct):
    size: int = 1


class Trip(msgspec.Struct):
    to: Address
    mode: Literal["car", "train", None] = None


class Loop(msgspec.Struct):
    again: Annotated[Loop, msgspec.Meta(description="Itself.")]


class Mixed(enum.Enum):
    A = 1
    B = "b"


_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": False}

ADDRESS_DEF = {
    "description": "A postal address.",
    "type": "object",
    "properties": {
        "street": {"description": "The street and number.", "type": "string"},
        "zip": {"description": "The postal code.", "type": ["integer", "null"], "default": None},
    },
    "required": ["street"],
    "additionalProperties": False,
}
ADDRESS_DEF_STRICT = {
    "description": "A postal address.",
    "type": "object",
    "properties": {
        "street": {"description": "The street and number.", "type": "string"},
        "zip": {"description": "The postal code.", "type": ["integer", "null"]},
    },
    "required": ["street", "zip"],
    "additionalProperties": False,
}


# --------------------------------------------------------------------------------------
# The signatures
# --------------------------------------------------------------------------------------


def scalars(s: str, i: int, x: float, b: bool) -> None: ...


def with_defaults(n: int = 3, flag: bool = False, name: str = "a") -> None: ...


def optional(x: int | None = None) -> None: ...


def literal(unit: Literal["f", "c"], mixed: Literal[1, "a", None]) -> None: ...


def enums(color: Color, level: Level = Level.LOW) -> None: ...


def containers(tags: list[str], matrix: list[list[float]], counts: dict[str, int]) -> None: ...


def nested(home: Address, work: Address | None = None) -> None: ...


def typed_dict(p: Point) -> None: ...


def annotated(
    days: Annotated[int, msgspec.Meta(ge=1, le=16, description="Days ahead.")] = 1,
    code: Annotated[str, msgspec.Meta(min_length=2, max_length=3, pattern="^[A-Z]+$")] = "FR",
) -> None: ...


def documented(
    city: str, days: int, note: Annotated[str, msgspec.Meta(description="Meta.")]
) -> None:
    """Get the weather.

    More detail that is not sent.

    Args:
        city: The city,
            e.g. "Paris".
        days (int): How many days.
        note: Loses to the Meta description.
    """


def described_struct(where: Annotated[Address, msgspec.Meta(description="Where to go.")]) -> None:
    """Args:
    where: Loses to the Meta description.
    """


def recursive(tree: Tree) -> None: ...


def union(pet: Cat | Dog) -> None: ...


def formats(
    when: Annotated[datetime.datetime, msgspec.Meta(tz=True)],
    day: datetime.date,
    amount: decimal.Decimal,
    labels: set[str],
) -> None: ...


def times(
    when: datetime.datetime,
    at: datetime.time | None,
    log: list[Annotated[datetime.datetime, msgspec.Meta(description="Entries.")]],
    naive: Annotated[datetime.datetime, msgspec.Meta(tz=False)],
    history: list[datetime.datetime] | None,
) -> None: ...


def no_arguments() -> None: ...


def maybe_pet(pet: Cat | Dog | None = None) -> None: ...


def trip(trip: Trip) -> None: ...


def loop(loop: Loop) -> None: ...


def described_default(
    label: Annotated[str, msgspec.Meta(description="The label.")] = "x",
) -> None: ...


def kinds(a: int, /, b: int, *, c: int = 0) -> None: ...


TABLE = [
    pytest.param(
        scalars,
        False,
        {
            **_OBJECT,
            "properties": {
                "s": {"type": "string"},
                "i": {"type": "integer"},
                "x": {"type": "number"},
                "b": {"type": "boolean"},
            },
            "required": ["s", "i", "x", "b"],
        },
        id="scalars",
    ),
    pytest.param(
        with_defaults,
        False,
        {
            **_OBJECT,
            "properties": {
                "n": {"type": "integer", "default": 3},
                "flag": {"type": "boolean", "default": False},
                "name": {"type": "string", "default": "a"},
            },
            "required": [],
        },
        id="defaults",
    ),
    pytest.param(
        with_defaults,
        True,
        {
            **_OBJECT,
            "properties": {
                "n": {"type": ["integer", "null"]},
                "flag": {"type": ["boolean", "null"]},
                "name": {"type": ["string", "null"]},
            },
            "required": ["n", "flag", "name"],
        },
        id="defaults-strict-null-means-default",
    ),
    pytest.param(
        optional,
        False,
        {
            **_OBJECT,
            "properties": {"x": {"type": ["integer", "null"], "default": None}},
            "required": [],
        },
        id="optional",
    ),
    pytest.param(
        optional,
        True,
        {**_OBJECT, "properties": {"x": {"type": ["integer", "null"]}}, "required": ["x"]},
        id="optional-strict",
    ),
    pytest.param(
        literal,
        False,
        {
            **_OBJECT,
            "properties": {
                "unit": {"enum": ["c", "f"], "type": "string"},
                "mixed": {"enum": [None, 1, "a"], "type": ["null", "integer", "string"]},
            },
            "required": ["unit", "mixed"],
        },
        id="literal",
    ),
    pytest.param(
        enums,
        False,
        {
            **_OBJECT,
            "properties": {
                "color": {"$ref": "#/$defs/Color"},
                "level": {"enum": [1, 2], "type": "integer", "default": 1},
            },
            "required": ["color"],
            "$defs": {"Color": {"enum": ["green", "red"], "type": "string"}},
        },
        id="enums",
    ),
    pytest.param(
        enums,
        True,
        {
            **_OBJECT,
            "properties": {
                "color": {"$ref": "#/$defs/Color"},
                "level": {"anyOf": [{"$ref": "#/$defs/Level"}, {"type": "null"}]},
            },
            "required": ["color", "level"],
            "$defs": {
                "Color": {"enum": ["green", "red"], "type": "string"},
                "Level": {"enum": [1, 2], "type": "integer"},
            },
        },
        id="enums-strict",
    ),
    pytest.param(
        containers,
        False,
        {
            **_OBJECT,
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "matrix": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                },
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
            "required": ["tags", "matrix", "counts"],
        },
        id="containers",
    ),
    pytest.param(
        nested,
        False,
        {
            **_OBJECT,
            "properties": {
                "home": {"$ref": "#/$defs/Address"},
                "work": {
                    "anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}],
                    "default": None,
                },
            },
            "required": ["home"],
            "$defs": {"Address": ADDRESS_DEF},
        },
        id="nested-struct-defined-once",
    ),
    pytest.param(
        nested,
        True,
        {
            **_OBJECT,
            "properties": {
                "home": {"$ref": "#/$defs/Address"},
                "work": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
            },
            "required": ["home", "work"],
            "$defs": {"Address": ADDRESS_DEF_STRICT},
        },
        id="nested-struct-strict",
    ),
    pytest.param(
        typed_dict,
        True,
        {
            **_OBJECT,
            "properties": {"p": {"$ref": "#/$defs/Point"}},
            "required": ["p"],
            "$defs": {
                "Point": {
                    "description": "A point.",
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                    "required": ["x", "y"],
                    "additionalProperties": False,
                }
            },
        },
        id="typed-dict-strict",
    ),
    pytest.param(
        annotated,
        False,
        {
            **_OBJECT,
            "properties": {
                "days": {
                    "description": "Days ahead.",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 16,
                    "default": 1,
                },
                "code": {
                    "type": "string",
                    "minLength": 2,
                    "maxLength": 3,
                    "pattern": "^[A-Z]+$",
                    "default": "FR",
                },
            },
            "required": [],
        },
        id="annotated-meta",
    ),
    pytest.param(
        annotated,
        True,
        {
            **_OBJECT,
            "properties": {
                "days": {
                    "description": "Days ahead.",
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 16},
                        {"type": "null"},
                    ],
                },
                "code": {
                    "anyOf": [{"type": "string", "pattern": "^[A-Z]+$"}, {"type": "null"}],
                },
            },
            "required": ["days", "code"],
        },
        id="annotated-meta-strict-drops-lengths",
    ),
    pytest.param(
        documented,
        False,
        {
            **_OBJECT,
            "properties": {
                "city": {"description": 'The city, e.g. "Paris".', "type": "string"},
                "days": {"description": "How many days.", "type": "integer"},
                "note": {"description": "Meta.", "type": "string"},
            },
            "required": ["city", "days", "note"],
        },
        id="docstring-args",
    ),
    pytest.param(
        described_struct,
        False,
        {
            **_OBJECT,
            "properties": {"where": {**ADDRESS_DEF, "description": "Where to go."}},
            "required": ["where"],
        },
        id="ref-with-description-inlined",
    ),
    pytest.param(
        recursive,
        False,
        {
            **_OBJECT,
            "properties": {"tree": {"$ref": "#/$defs/Tree"}},
            "required": ["tree"],
            "$defs": {
                "Tree": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "children": {
                            "type": "array",
                            "items": {"$ref": "#/$defs/Tree"},
                            "default": [],
                        },
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                }
            },
        },
        id="recursive",
    ),
    pytest.param(
        union,
        True,
        {
            **_OBJECT,
            "properties": {
                "pet": {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]},
            },
            "required": ["pet"],
            "$defs": {
                "Cat": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["Cat"], "type": "string"},
                        "lives": {"type": "integer"},
                    },
                    "required": ["type", "lives"],
                    "additionalProperties": False,
                },
                "Dog": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["Dog"], "type": "string"},
                        "good": {"type": "boolean"},
                    },
                    "required": ["type", "good"],
                    "additionalProperties": False,
                },
            },
        },
        id="tagged-union-strict",
    ),
    pytest.param(
        formats,
        False,
        {
            **_OBJECT,
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "amount": {"type": "string", "format": "decimal"},
                "labels": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
            "required": ["when", "day", "amount", "labels"],
        },
        id="formats",
    ),
    pytest.param(
        formats,
        True,
        {
            **_OBJECT,
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "amount": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["when", "day", "amount", "labels"],
        },
        id="formats-strict",
    ),
    pytest.param(
        times,
        True,
        {
            **_OBJECT,
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "at": {"anyOf": [{"type": "string", "format": "time"}, {"type": "null"}]},
                "log": {
                    "type": "array",
                    "items": {"description": "Entries.", "type": "string", "format": "date-time"},
                },
                "naive": {"type": "string"},
                "history": {
                    "anyOf": [
                        {"type": "array", "items": {"type": "string", "format": "date-time"}},
                        {"type": "null"},
                    ]
                },
            },
            "required": ["when", "at", "log", "naive", "history"],
        },
        id="times-get-their-format",
    ),
    pytest.param(
        maybe_pet,
        True,
        {
            **_OBJECT,
            "properties": {
                "pet": {
                    "anyOf": [
                        {"$ref": "#/$defs/Cat"},
                        {"$ref": "#/$defs/Dog"},
                        {"type": "null"},
                    ]
                },
            },
            "required": ["pet"],
            "$defs": {
                "Cat": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["Cat"], "type": "string"},
                        "lives": {"type": "integer"},
                    },
                    "required": ["type", "lives"],
                    "additionalProperties": False,
                },
                "Dog": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["Dog"], "type": "string"},
                        "good": {"type": "boolean"},
                    },
                    "required": ["type", "good"],
                    "additionalProperties": False,
                },
            },
        },
        id="optional-tagged-union-strict-flattened",
    ),
    pytest.param(
        trip,
        True,
        {
            **_OBJECT,
            "properties": {"trip": {"$ref": "#/$defs/Trip"}},
            "required": ["trip"],
            "$defs": {
                "Trip": {
                    "type": "object",
                    "properties": {
                        "to": {"$ref": "#/$defs/Address"},
                        "mode": {"enum": [None, "car", "train"], "type": ["null", "string"]},
                    },
                    "required": ["to", "mode"],
                    "additionalProperties": False,
                },
                "Address": ADDRESS_DEF_STRICT,
            },
        },
        id="transitive-defs-and-nullable-literal-strict",
    ),
    pytest.param(
        loop,
        False,
        {
            **_OBJECT,
            "properties": {"loop": {"$ref": "#/$defs/Loop"}},
            "required": ["loop"],
            "$defs": {
                "Loop": {
                    "type": "object",
                    "properties": {
                        "again": {"description": "Itself.", "anyOf": [{"$ref": "#/$defs/Loop"}]}
                    },
                    "required": ["again"],
                    "additionalProperties": False,
                }
            },
        },
        id="self-reference-with-description",
    ),
    pytest.param(
        described_default,
        True,
        {
            **_OBJECT,
            "properties": {"label": {"description": "The label.", "type": ["string", "null"]}},
            "required": ["label"],
        },
        id="meta-description-kept-when-made-nullable",
    ),
    pytest.param(
        no_arguments,
        True,
        {**_OBJECT, "properties": {}, "required": []},
        id="no-arguments",
    ),
    pytest.param(
        kinds,
        False,
        {
            **_OBJECT,
            "properties": {
                "a": {"type": "integer"},
                "b": {"type": "integer"},
                "c": {"type": "integer", "default": 0},
            },
            "required": ["a", "b"],
        },
        id="positional-only-and-keyword-only",
    ),
]


@pytest.mark.parametrize(("fn", "strict", "expected"), TABLE)
def test_schema_table(fn: Callable[..., Any], strict: bool, expected: dict[str, Any]) -> None:
    """Each signature gives exactly its expected parameters schema."""
    assert tool(fn, strict=strict).parameters == expected


# --------------------------------------------------------------------------------------
# Signatures that cannot be strict, or cannot be tools at all
# --------------------------------------------------------------------------------------


def free_map(m: dict[str, int]) -> None: ...


def bare_dict(m: dict) -> None:  # type: ignore[type-arg]
    ...


def any_value(v: Any) -> None: ...


def pair(t: tuple[int, str]) -> None: ...


def nested_default(w: WithDefault) -> None: ...


def sparse(s: Sparse) -> None: ...


def extra_keyword(x: Annotated[int, msgspec.Meta(extra_json_schema={"foo": 1})]) -> None: ...


@pytest.mark.parametrize(
    ("fn", "where"),
    [
        pytest.param(free_map, "(at #/properties/m)", id="dict-str-x"),
        pytest.param(bare_dict, "(at #/properties/m)", id="bare-dict"),
        pytest.param(any_value, "(at #/properties/v)", id="any"),
        pytest.param(pair, "(at #/properties/t)", id="tuple"),
        pytest.param(
            nested_default, "(at #/$defs/WithDefault/properties/size)", id="nested-default"
        ),
        pytest.param(sparse, "(at #/$defs/Sparse/properties/x)", id="typeddict-not-required"),
        pytest.param(extra_keyword, "(at #/properties/x)", id="unknown-keyword"),
    ],
)
def test_cannot_be_strict(fn: Callable[..., Any], where: str) -> None:
    """A schema strict mode cannot take is refused at definition time, naming the place."""
    tool(fn)  # fine when not strict
    with pytest.raises(ToolDefinitionError, match="cannot be strict") as info:
        tool(fn, strict=True)
    assert where in str(info.value)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        pytest.param(free_map, "free-form object", id="free-form"),
        pytest.param(any_value, "accepts any value", id="any"),
        pytest.param(pair, "a tuple is not supported", id="tuple"),
        pytest.param(nested_default, "must accept null", id="nested-default"),
        pytest.param(extra_keyword, "the keyword 'foo' is not supported", id="keyword"),
    ],
)
def test_cannot_be_strict_says_why(fn: Callable[..., Any], message: str) -> None:
    """The strict-mode error says which rule the schema breaks."""
    with pytest.raises(ToolDefinitionError, match=message):
        tool(fn, strict=True)


def star_args(*values: int) -> None: ...


def star_kwargs(**values: int) -> None: ...


def unannotated(x) -> None:  # type: ignore[no-untyped-def]
    ...


def method_like(self, x: int) -> None:  # type: ignore[no-untyped-def]
    ...


def mixed_enum(m: Mixed) -> None: ...


def unresolvable(x: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
    ...


async def async_fn(x: int) -> None: ...


class ArrayLike(msgspec.Struct, array_like=True):
    x: int


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: tool(star_args), r"\*values cannot be described", id="star-args"),
        pytest.param(lambda: tool(star_kwargs), r"\*\*values cannot be described", id="star-kw"),
        pytest.param(lambda: tool(unannotated), "'x' has no type annotation", id="unannotated"),
        pytest.param(lambda: tool(method_like), "bound method", id="self"),
        pytest.param(lambda: tool(mixed_enum), "type of parameter 'm'", id="unsupported-type"),
        pytest.param(lambda: tool(unresolvable), "NoSuchType", id="unresolvable-hint"),
        pytest.param(lambda: tool(lambda x: x), "'<lambda>' is not valid", id="lambda-name"),
        pytest.param(lambda: tool(scalars, name="a b"), "'a b' is not valid", id="bad-name"),
        pytest.param(lambda: tool(scalars, name="x" * 65), "is not valid", id="long-name"),
        pytest.param(lambda: tool(async_fn, thread=True), "thread=True", id="thread-async"),
        pytest.param(
            lambda: FunctionTool.from_struct(dict, fn=print),  # type: ignore[type-var]
            "takes a msgspec.Struct type",
            id="from-struct-not-struct",
        ),
        pytest.param(
            lambda: FunctionTool.from_struct(ArrayLike, fn=print),
            "must be a JSON object",
            id="from-struct-array-like",
        ),
    ],
)
def test_not_a_tool(make: Callable[[], object], message: str) -> None:
    """What cannot be described as a tool raises ToolDefinitionError saying why."""
    with pytest.raises(ToolDefinitionError, match=message):
        make()


def test_definition_error_is_caught_as_type_error_and_kkiai_error() -> None:
    """A function that cannot become a tool is caught by ``except TypeError`` and by
    ``except kk.KkiaiError`` alike."""
    import kkiai_async as kk

    def untyped(x):  # type: ignore[no-untyped-def]
        return x

    for catch in (TypeError, kk.KkiaiError):
        with pytest.raises(catch, match="x"):
            kk.tool(untyped)


class weather(msgspec.Struct):  # named like the tool below, on purpose
    t: float


def uses_weather(w: weather) -> None: ...


def test_user_type_named_like_the_tool() -> None:
    """A nested type whose name equals the tool name still gets a valid, resolvable $ref."""
    params = tool(uses_weather, name="weather").parameters
    ref = params["properties"]["w"]["$ref"]
    assert ref.startswith("#/$defs/")
    assert params["$defs"][ref.removeprefix("#/$defs/")]["properties"] == {"t": {"type": "number"}}


def test_from_struct_schema() -> None:
    """from_struct uses the Struct itself as the arguments object."""

    def handle(address: Address) -> str:
        return address.street

    t = FunctionTool.from_struct(Address, fn=handle)
    assert t.parameters == {
        **_OBJECT,
        "properties": ADDRESS_DEF["properties"],
        "required": ["street"],
    }
    assert t.description == "A postal address."
    assert FunctionTool.from_struct(Address, fn=handle, description="Go.").description == "Go."
    assert FunctionTool.from_struct(Address, fn=handle, strict=True).parameters == {
        **_OBJECT,
        "properties": ADDRESS_DEF_STRICT["properties"],
        "required": ["street", "zip"],
    }


def test_from_struct_recursive_keeps_root_definition() -> None:
    """A recursive Struct used as the arguments keeps its definition for the self-reference."""
    t = FunctionTool.from_struct(Tree, fn=lambda tree: None, name="tree")
    assert t.parameters["properties"]["children"]["items"] == {"$ref": "#/$defs/Tree"}
    assert t.parameters["$defs"]["Tree"]["required"] == ["name"]


# --------------------------------------------------------------------------------------
# Docstrings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(None, Docstring(), id="none"),
        pytest.param("", Docstring(), id="empty"),
        pytest.param("One line.", Docstring("One line."), id="one-line"),
        pytest.param(
            """First line
            continues here.

            Second paragraph is not the description.
            """,
            Docstring("First line continues here."),
            id="first-paragraph-only",
        ),
        pytest.param(
            """Summary.

            Args:
                a: The a.
                b (int): The b,
                    over two lines.
                c:
                    Starts on the next line.
                d: First paragraph.

                    Second paragraph.
                *rest: Ignored names still parse.

            Returns:
                a: not a parameter.
            """,
            Docstring(
                "Summary.",
                {
                    "a": "The a.",
                    "b": "The b, over two lines.",
                    "c": "Starts on the next line.",
                    "d": "First paragraph.\n\nSecond paragraph.",
                    "rest": "Ignored names still parse.",
                },
            ),
            id="google-args",
        ),
        pytest.param(
            """Summary:
            Args:
                x: The x.
            Keyword Args:
                y: The y.
            """,
            Docstring("Summary:", {"x": "The x.", "y": "The y."}),
            id="sections-without-blank-lines",
        ),
        pytest.param(
            """Args:
                x: Only args.
            """,
            Docstring(None, {"x": "Only args."}),
            id="no-summary",
        ),
        pytest.param(
            """A struct.

            Attributes:
                name: Its name.
            """,
            Docstring("A struct.", {"name": "Its name."}),
            id="attributes",
        ),
        pytest.param(
            "Summary.\n\n\tArgs:\n\t\tx: Tabs.\n",
            Docstring("Summary.", {"x": "Tabs."}),
            id="tabs",
        ),
    ],
)
def test_parse_docstring(doc: str | None, expected: Docstring) -> None:
    """Google-style docstrings give the first paragraph and the parameter descriptions."""
    assert parse_docstring(doc) == expected


def test_description_and_docstring() -> None:
    """A tool's description is the docstring's first paragraph unless one is given."""
    assert tool(documented).description == "Get the weather."
    assert tool(documented, description="Custom.").description == "Custom."
    assert tool(documented, description="").description is None
    assert tool(scalars).description is None


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        pytest.param(int, False, id="int"),
        pytest.param(int | None, True, id="optional"),
        pytest.param(Annotated[int | None, msgspec.Meta(ge=0)], True, id="annotated"),
        pytest.param(Literal["a", None], True, id="literal-none"),
        pytest.param(Literal["a"], False, id="literal"),
        pytest.param(Any, True, id="any"),
        pytest.param(None, True, id="none"),
    ],
)
def test_admits_none(annotation: object, expected: bool) -> None:
    """admits_none tells which annotations accept JSON null."""
    assert admits_none(annotation) is expected
