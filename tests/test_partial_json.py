"""Tests for the incremental partial JSON parser (kkiai_async._partial_json).

The parser is checked against ``reference()``, a deliberately simple and slow model of
the display rules: tokenize a prefix, drop what may not be shown yet, close what is open,
and hand the result to ``json.loads``.
"""

from __future__ import annotations

import copy
import json
import pickle
import re
import sys
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kkiai_async._partial_json import (
    JSONPath,
    PartialJSONError,
    PartialJSONParser,
    parse_partial,
)

# --------------------------------------------------------------------------------------
# The reference: what a prefix should show, computed the slow and obvious way
# --------------------------------------------------------------------------------------

_HIGH_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")


def _close_cut_string(body: str) -> str:
    """The JSON string a cut string shows: ``body`` is the raw text after its quote."""
    items: list[str] = []
    k = 0
    while k < len(body):
        if body[k] != "\\":
            items.append(body[k])
            k += 1
        elif k + 1 == len(body):
            break  # a cut escape is not shown
        elif body[k + 1] == "u":
            if k + 6 > len(body):
                break
            items.append(body[k : k + 6])
            k += 6
        else:
            items.append(body[k : k + 2])
            k += 2
    # A high surrogate escape at the very end may still be paired: not shown yet.
    if items and _HIGH_SURROGATE_ESCAPE.fullmatch(items[-1]):
        items.pop()
    return '"' + "".join(items) + '"'


def _tokens(prefix: str, at_end: bool) -> list[tuple[str, str]]:
    """The tokens of a valid JSON prefix, a cut string closed, unfinished scalars dropped."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(prefix)
    while i < n:
        c = prefix[i]
        if c in " \t\n\r":
            i += 1
        elif c in "{}[]:,":
            tokens.append((c, c))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and prefix[j] != '"':
                j += 2 if prefix[j] == "\\" else 1
            if j < n:
                tokens.append(("str", prefix[i : j + 1]))
            else:
                tokens.append(("str", _close_cut_string(prefix[i + 1 :])))
            i = j + 1
        elif c in "tfn":
            j = i
            while j < n and prefix[j].isalpha():
                j += 1
            if prefix[i:j] in ("true", "false", "null"):
                tokens.append(("lit", prefix[i:j]))
            i = j
        else:
            j = i
            while j < n and prefix[j] in "+-.eE0123456789":
                j += 1
            if j < n or at_end:  # a number may still grow until something follows it
                tokens.append(("num", prefix[i:j]))
            i = j
    return tokens


def reference(prefix: str, *, at_end: bool = False) -> tuple[bool, Any]:
    """``(has_value, value)`` that the rules give for a valid JSON prefix."""
    tokens = _tokens(prefix, at_end)
    open_brackets: list[str] = []
    for kind, _ in tokens:
        if kind in "{[":
            open_brackets.append(kind)
        elif kind in "}]":
            open_brackets.pop()
    while tokens:
        kind = tokens[-1][0]
        if kind == ",":
            tokens.pop()
        elif kind == ":":
            del tokens[-2:]  # a key with no value yet
        elif (
            kind == "str"
            and open_brackets
            and open_brackets[-1] == "{"
            and tokens[-2][0] in ("{", ",")
        ):
            tokens.pop()  # a key, written or being written, without its ':'
        else:
            break
    if not tokens:
        return False, None
    closers = "".join("}" if b == "{" else "]" for b in reversed(open_brackets))
    return True, json.loads("".join(text for _, text in tokens) + closers)


def test_reference_follows_the_rules() -> None:
    """The reference itself shows cut strings, hides cut numbers and keys without values."""
    assert reference('{"a": 1, "b": "hel') == (True, {"a": 1, "b": "hel"})
    assert reference('{"a": 1, "b": 2') == (True, {"a": 1})
    assert reference('{"a": 1, "b": 2', at_end=True) == (True, {"a": 1, "b": 2})
    assert reference('{"a": 1, "b') == (True, {"a": 1})
    assert reference("[1, tr") == (True, [1])
    assert reference('"x\\ud83d') == (True, "x")
    assert reference("") == (False, None)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def same(a: object, b: object) -> bool:
    """Equal, and equal as JSON text too (so 1 != 1.0, -0.0 != 0.0 and key order counts)."""
    return a == b and json.dumps(a) == json.dumps(b)


def snapshot(parser: PartialJSONParser) -> tuple[bool, Any, tuple[int, str] | None, bool]:
    """What a parser shows, copied (its containers are live).

    The copy is a JSON round trip, which is exact for parsed values and, unlike
    copy.deepcopy, does not hit the recursion limit at 512 levels of nesting.
    """
    error = parser.error
    return (
        parser.has_value,
        json.loads(json.dumps(parser.value)),
        None if error is None else (error.offset, error.expected),
        parser.complete,
    )


def one_piece(prefix: str) -> tuple[bool, Any, tuple[int, str] | None, bool]:
    parser = PartialJSONParser()
    parser.feed(prefix)
    return snapshot(parser)


def feed_in(text: str, cuts: list[int]) -> PartialJSONParser:
    parser = PartialJSONParser()
    for start, stop in pairwise([0, *cuts, len(text)]):
        parser.feed(text[start:stop])
    return parser


CORPUS = [
    pytest.param('{"a": 1, "b": [true, false, null], "c": {"d": "e"}}', id="object"),
    pytest.param("[[], [[]], [1, [2, [3, {}]]], {}, [{}]]", id="nested-arrays"),
    pytest.param(
        "[0, -0, 1, -1, 12.5, -0.25, 1e10, 1E-7, -2.5e+3, 0.0, 10, 7e0, "
        "123456789012345678901234567890]",
        id="numbers",
    ),
    pytest.param(
        r'{"s": "\" \\ \/ \b \f \n \r \t \u00e9 \u4E2D \ud83d\ude00 \uD83D\uDE00 \u0000 '
        r'|\ud800| |\udc00| \ud83d\u0041 \ud83d\n \ud83d\ud83d\ude00 \\u0041 end"}',
        id="escapes",
    ),
    pytest.param('{"emoji": "😀 中文 é", "k😀": ["ü", "\U0001f600"]}', id="raw-unicode"),
    pytest.param(' \n\t{ "a" :\r\n [ 1 , 2 ] , "b" : { } , "c" : "x" } \n', id="whitespace"),
    pytest.param('"just a string"', id="top-string"),
    pytest.param("42 ", id="top-number"),
    pytest.param("-3.5e2", id="top-number-undelimited"),
    pytest.param("  true ", id="top-true"),
    pytest.param("null", id="top-null"),
    pytest.param('{"a": {}, "b": [], "": ""}', id="empty-containers"),
    pytest.param('{"a": 1, "b": 2, "a": "x", "a": [3, {"a": null}]}', id="duplicate-keys"),
    pytest.param(
        json.dumps(
            {
                "path": "src/app.py",
                "content": 'def f():\n    return "ok"\t# café\n',
                "mode": 420,
                "overwrite": False,
                "tags": ["x", "y"],
            }
        ),
        id="tool-arguments",
    ),
    pytest.param(r'{"a\"b": 1, "\u00e9": 2, "": 3, "\ud83d\ude00": [4.5]}', id="escaped-keys"),
]


# --------------------------------------------------------------------------------------
# Every prefix shows what the rules say
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", CORPUS)
def test_every_prefix_fed_char_by_char_matches_reference(text: str) -> None:
    """Fed one character at a time, the value after each prefix is the reference value."""
    parser = PartialJSONParser()
    for k, c in enumerate(text, start=1):
        parser.feed(c)
        expected_has, expected_value = reference(text[:k])
        assert parser.error is None
        assert parser.has_value == expected_has, text[:k]
        assert same(parser.value, expected_value), text[:k]
    final = parser.finish()
    assert parser.error is None
    assert parser.complete
    assert same(final, json.loads(text))
    assert reference(text, at_end=True) == (True, json.loads(text))


@pytest.mark.parametrize("text", CORPUS)
def test_every_prefix_in_one_piece_matches_reference(text: str) -> None:
    """Each prefix fed as one fragment shows the reference value (via parse_partial too)."""
    for k in range(len(text) + 1):
        has_value, value, error, _ = one_piece(text[:k])
        assert error is None
        assert (has_value, value) == reference(text[:k])
        assert same(value, reference(text[:k])[1])
        assert same(parse_partial(text[:k]), value)


@pytest.mark.parametrize("size", [pytest.param(s, id=f"size-{s}") for s in (2, 3, 5, 11)])
@pytest.mark.parametrize("text", CORPUS)
def test_fixed_size_fragments_match_reference(text: str, size: int) -> None:
    """Fragments of a fixed size show the reference value of each prefix they end."""
    parser = PartialJSONParser()
    for stop in range(size, len(text) + size, size):
        parser.feed(text[stop - size : stop])
        assert (parser.has_value, parser.value) == reference(text[:stop])
    assert same(parser.finish(), json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(r'"\ud800"', id="lone-high"),
        pytest.param(r'"\udc00"', id="lone-low"),
        pytest.param(r'"\ud800\u0041"', id="high-then-other-escape"),
        pytest.param(r'"\ud800\ud800\udc00"', id="high-then-pair"),
        pytest.param(r'"\ud800\n"', id="high-then-simple-escape"),
        pytest.param(r'"\udbff\udfff"', id="last-pair"),
        pytest.param(r'"a\ud83d"', id="high-before-quote"),
        pytest.param('"\ud83d\ude00 raw"', id="raw-surrogates"),
    ],
)
def test_surrogates_decode_like_json_loads_for_every_two_way_split(text: str) -> None:
    """Surrogate escapes, paired or lone, decode as json.loads does wherever they are cut."""
    for cut in range(len(text) + 1):
        parser = feed_in(text, [cut])
        assert same(parser.finish(), json.loads(text)), cut
        assert parser.error is None


# --------------------------------------------------------------------------------------
# Hypothesis: any JSON, any fragmentation
# --------------------------------------------------------------------------------------

_CHARS = st.characters() | st.sampled_from(
    ["\ud83d", "\ude00", "\ud800", "\udfff", "é", "😀", '"', "\\", "/", "\n", "\x00", "\x1f"]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARS, max_size=12)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(_CHARS, max_size=6), children)
    ),
    max_leaves=20,
)


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """A JSON text of a random value, ASCII-escaped or not, with random whitespace."""
    value = draw(JSON_VALUES)
    indent = draw(st.sampled_from([None, 0, 1, 4, "\t", " \r"]))
    separators = draw(st.sampled_from([None, (",", ":"), (" , ", " :\t"), (",\n", ": ")]))
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=indent, separators=separators)
    return draw(st.sampled_from(["", " ", "\n\t"])) + text + draw(st.sampled_from(["", "\r\n"]))


@st.composite
def fragmented(draw: st.DrawFn) -> tuple[str, list[int]]:
    """A JSON text and sorted cut points, often dense (fragments of a few characters)."""
    text = draw(json_texts())
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=min(40, len(text))))
    return text, sorted(set(cuts))


@given(fragmented())
@settings(max_examples=300, deadline=None)
def test_any_fragmentation_gives_json_loads_and_one_piece_prefix_values(
    case: tuple[str, list[int]],
) -> None:
    """After each fragment the value is that of the prefix fed whole; the end is json.loads."""
    text, cuts = case
    parser = PartialJSONParser()
    for start, stop in pairwise([0, *cuts, len(text)]):
        parser.feed(text[start:stop])
        shown = snapshot(parser)
        assert shown == one_piece(text[:stop])
        assert same(shown[1], one_piece(text[:stop])[1])
        assert shown[:2] == reference(text[:stop])
    final = parser.finish()
    assert parser.error is None
    assert same(final, json.loads(text))


def _strings_by_path(value: object, path: JSONPath = ()) -> dict[JSONPath, str]:
    if isinstance(value, str):
        return {path: value}
    found: dict[JSONPath, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(_strings_by_path(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(_strings_by_path(item, (*path, index)))
    return found


@given(fragmented())
@settings(max_examples=150, deadline=None)
def test_string_deltas_rebuild_every_string_value(case: tuple[str, list[int]]) -> None:
    """Concatenating the deltas of each path gives the string there, open or complete."""
    text, cuts = case
    parser = PartialJSONParser(track_string_deltas=True)
    rebuilt: dict[JSONPath, str] = {}
    for start, stop in pairwise([0, *cuts, len(text)]):
        parser.feed(text[start:stop])
        for path, delta in parser.take_string_deltas():
            assert delta
            rebuilt[path] = rebuilt.get(path, "") + delta
        for path, string in _strings_by_path(parser.value).items():
            assert rebuilt.get(path, "") == string
    parser.finish()
    assert parser.take_string_deltas() == []
    assert rebuilt == {p: s for p, s in _strings_by_path(json.loads(text)).items() if s}


# --------------------------------------------------------------------------------------
# Invalid input: where and what
# --------------------------------------------------------------------------------------

DEPTH_513 = "[" * 513

INVALID = [
    pytest.param('{"a" 1}', 5, "':'", id="missing-colon"),
    pytest.param("[1,]", 3, "a value", id="trailing-comma-array"),
    pytest.param('{"a": 1,}', 8, "'\"' (a key)", id="trailing-comma-object"),
    pytest.param("{,}", 1, "'\"' (a key) or '}'", id="comma-first"),
    pytest.param("tru e", 3, "'e' (in 'true')", id="split-literal"),
    pytest.param("nulx", 3, "'l' (in 'null')", id="bad-literal"),
    pytest.param(r'"\x"', 2, 'an escape character (one of " \\ / b f n r t u)', id="bad-escape"),
    pytest.param(r'"ab\u12g4"', 7, "a hex digit", id="bad-hex"),
    pytest.param('"a\tb"', 2, "an escape instead of a raw control character", id="raw-tab"),
    pytest.param("01", 1, "end of input", id="leading-zero"),
    pytest.param("[01]", 2, "',' or ']'", id="leading-zero-in-array"),
    pytest.param("[1.]", 3, "a digit", id="dot-without-digits"),
    pytest.param("[1e+]", 4, "a digit", id="exponent-without-digits"),
    pytest.param("-x", 1, "a digit", id="minus-alone"),
    pytest.param("[1x", 2, "',' or ']'", id="junk-after-number"),
    pytest.param("[1 2]", 3, "',' or ']'", id="missing-comma"),
    pytest.param('{"a": 1]', 7, "',' or '}'", id="wrong-closer"),
    pytest.param("[}", 1, "a value or ']'", id="wrong-closer-first"),
    pytest.param("[1] 2", 4, "end of input", id="trailing-value"),
    pytest.param('{"a": 1}}', 8, "end of input", id="extra-closer"),
    pytest.param("NaN", 0, "a value", id="nan"),
    pytest.param("[Infinity]", 1, "a value or ']'", id="infinity"),
    pytest.param('{"a": "x"  "b"', 11, "',' or '}'", id="missing-comma-object"),
    pytest.param(r'"\ud83d\x"', 8, 'an escape character (one of " \\ / b f n r t u)', id="hi-bad"),
    pytest.param('"\\ud83d\t"', 7, "an escape instead of a raw control character", id="hi-tab"),
    pytest.param(r'"\ud83d\ude0z"', 12, "a hex digit", id="hi-bad-hex"),
    pytest.param(
        DEPTH_513, 512, "at most 512 nested arrays and objects", id="depth-exceeded-default"
    ),
]


@pytest.mark.parametrize(("text", "offset", "expected"), INVALID)
def test_invalid_text_reports_first_bad_offset_and_what_was_expected(
    text: str, offset: int, expected: str
) -> None:
    """The first invalid character's offset and what was expected, whatever the fragments."""
    for cuts in ([], list(range(1, len(text))), [offset]):
        parser = feed_in(text, cuts)
        error = parser.error
        assert error is not None
        assert (error.offset, error.expected) == (offset, expected)
        assert isinstance(error, ValueError)
        assert f"offset {offset}" in str(error) and expected in str(error)


@pytest.mark.parametrize(("text", "offset", "expected"), INVALID)
def test_after_an_error_the_value_is_that_of_the_valid_text_before_it(
    text: str, offset: int, expected: str
) -> None:
    """An error keeps the best value of text[:offset]; later input changes nothing."""
    parser = PartialJSONParser()
    parser.feed(text)
    before = snapshot(parser)
    assert before[:2] == reference(text[:offset])
    parser.feed('"more", 1, [2]}')
    assert snapshot(parser) == before
    assert parser.consumed == len(text) + len('"more", 1, [2]}')
    assert same(parser.finish(), before[1])
    error = parser.error
    assert error is not None and (error.offset, error.expected) == (offset, expected)


def test_depth_bound_is_configurable() -> None:
    """Opening one container more than max_depth is a 'nesting too deep' error at it."""
    parser = PartialJSONParser(max_depth=2)
    parser.feed('{"a": [[1]]}')
    assert parser.error is not None
    assert (parser.error.offset, parser.error.reason) == (7, "nesting too deep")
    assert parser.value == {"a": []}
    shallow = PartialJSONParser(max_depth=3)
    shallow.feed('{"a": [[1]]}')
    assert shallow.error is None and shallow.value == {"a": [[1]]}


def test_default_depth_allows_512_levels() -> None:
    """512 nested arrays are within the default bound."""
    text = "[" * 512 + "]" * 512
    parser = PartialJSONParser()
    parser.feed(text)
    assert parser.error is None and parser.complete


def test_max_depth_zero_allows_only_scalars() -> None:
    """With max_depth=0 a scalar parses and any container is too deep."""
    scalar = PartialJSONParser(max_depth=0)
    scalar.feed('"x"')
    assert scalar.value == "x" and scalar.error is None
    container = PartialJSONParser(max_depth=0)
    container.feed("[]")
    assert container.error is not None and container.error.offset == 0


def test_negative_max_depth_is_refused() -> None:
    """A negative max_depth is a programming error."""
    with pytest.raises(ValueError, match="max_depth"):
        PartialJSONParser(max_depth=-1)


@pytest.mark.skipif(
    not hasattr(sys, "get_int_max_str_digits") or sys.get_int_max_str_digits() == 0,
    reason="no integer string conversion limit",
)
def test_integer_too_long_for_int_is_an_error_at_its_start() -> None:
    """An integer longer than Python converts is reported, not raised."""
    digits = "1" * (sys.get_int_max_str_digits() + 1)
    parser = PartialJSONParser()
    parser.feed(f"[7, {digits}]")
    assert parser.error is not None
    assert parser.error.offset == 4
    assert parser.value == [7]


def test_error_pickles_with_its_fields() -> None:
    """A PartialJSONError survives pickling with offset, expected and reason."""
    error = PartialJSONError("invalid JSON", 3, "a value")
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.offset, copied.expected, copied.reason) == (3, "a value", "invalid JSON")
    assert str(copied) == "invalid JSON at offset 3: expected a value"


# --------------------------------------------------------------------------------------
# finish()
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("123", 123, id="integer"),
        pytest.param("-0.5e3", -500.0, id="float"),
        pytest.param("0", 0, id="zero"),
        pytest.param(" 7", 7, id="after-whitespace"),
    ],
)
def test_finish_completes_a_trailing_top_level_number(text: str, value: object) -> None:
    """A number at the end of the text is complete at finish()."""
    parser = PartialJSONParser()
    parser.feed(text)
    before = (parser.has_value, parser.complete)
    assert same(parser.finish(), value)
    assert (before, parser.error, parser.has_value, parser.complete) == (
        (False, False),
        None,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("text", "value", "offset", "expected"),
    [
        pytest.param("[1, 23", [1, 23], 6, "',' or ']'", id="number-in-array"),
        pytest.param('{"a": 1', {"a": 1}, 7, "',' or '}'", id="number-in-object"),
        pytest.param('{"a": "hel', {"a": "hel"}, 10, "'\"' (end of the string)", id="string"),
        pytest.param('"ab\\', "ab", 4, 'an escape character (one of " \\ / b f n r t u)', id="esc"),
        pytest.param('"ab\\u00', "ab", 7, "a hex digit", id="cut-hex"),
        pytest.param('"ab\\ud83d', "ab", 9, "'\"' (end of the string)", id="held-high"),
        pytest.param('"ab\\ud83d\\ude', "ab", 13, "a hex digit", id="cut-pair"),
        pytest.param('{"a"', {}, 4, "':'", id="key-only"),
        pytest.param('{"a": ', {}, 6, "a value", id="key-colon"),
        pytest.param("[1.", [], 3, "a digit", id="cut-fraction"),
        pytest.param("-", None, 1, "a digit", id="minus"),
        pytest.param("tru", None, 3, "'e' (in 'true')", id="cut-literal"),
        pytest.param("", None, 0, "a value", id="empty"),
        pytest.param(" \n", None, 2, "a value", id="only-whitespace"),
        pytest.param("[", [], 1, "a value or ']'", id="open-array"),
    ],
)
def test_finish_on_incomplete_text_records_unexpected_end(
    text: str, value: object, offset: int, expected: str
) -> None:
    """finish() on a cut text records 'unexpected end of input' and keeps the value."""
    parser = PartialJSONParser()
    parser.feed(text)
    assert same(parser.finish(), value)
    error = parser.error
    assert error is not None
    assert (error.reason, error.offset, error.expected) == (
        "unexpected end of input",
        offset,
        expected,
    )
    assert str(error).startswith("unexpected end of input at offset")


def test_finish_is_idempotent_and_feed_after_it_raises() -> None:
    """A second finish() returns the same value; feeding after finish() is a misuse."""
    parser = PartialJSONParser()
    parser.feed("[1")
    assert parser.finish() == [1]
    assert parser.finish() == [1]
    with pytest.raises(RuntimeError, match="after finish"):
        parser.feed("]")


def test_finish_after_an_error_keeps_that_error() -> None:
    """finish() does not replace an earlier error with an end-of-input one."""
    parser = PartialJSONParser()
    parser.feed("[1,]")
    parser.finish()
    assert parser.error is not None and parser.error.offset == 3


# --------------------------------------------------------------------------------------
# The value object
# --------------------------------------------------------------------------------------


def test_null_is_a_value_and_nothing_is_not() -> None:
    """has_value tells a parsed JSON null from no value at all."""
    parser = PartialJSONParser()
    assert (parser.has_value, parser.value) == (False, None)
    parser.feed("nul")
    assert (parser.has_value, parser.value) == (False, None)
    parser.feed("l")
    assert (parser.has_value, parser.value, parser.complete) == (True, None, True)


@given(fragmented())
@settings(max_examples=100, deadline=None)
def test_feed_value_is_feed_then_value(case: tuple[str, list[int]]) -> None:
    """feed_value() returns what value shows after feed(), None while there is none."""
    text, cuts = case
    one, other = PartialJSONParser(), PartialJSONParser()
    for start, stop in pairwise([0, *cuts, len(text)]):
        shown = one.feed_value(text[start:stop])
        other.feed(text[start:stop])
        assert same(shown, other.value if other.has_value else None)
        assert snapshot(one) == snapshot(other)


@pytest.mark.parametrize(
    ("fragments", "shown"),
    [
        pytest.param(['{"a": "x', "y", 'z"'], [{"a": "x"}, {"a": "xy"}, {"a": "xyz"}], id="open"),
        pytest.param(['"ab', "c", '"'], ["ab", "abc", "abc"], id="root-string"),
        pytest.param(['{"k', 'ey": "', "v"], [{}, {"key": ""}, {"key": "v"}], id="key-first"),
        pytest.param(["nu", "ll"], [None, None], id="null"),
        pytest.param(["[1", "2,", " x"], [[], [12], [12]], id="error"),
    ],
)
def test_feed_value_after_each_fragment(fragments: list[str], shown: list[object]) -> None:
    """feed_value() brings the string being written up to date, as value does."""
    parser = PartialJSONParser()
    # Copies: the value is live, so a kept container would show the last state.
    assert [copy.deepcopy(parser.feed_value(f)) for f in fragments] == shown


def test_containers_are_live_and_updated_in_place() -> None:
    """The value is the same object across feeds, mutated as text arrives."""
    parser = PartialJSONParser()
    parser.feed('{"items": [')
    root = parser.value
    assert isinstance(root, dict)
    assert root == {"items": []}
    items = root["items"]
    parser.feed('1, {"b": "x')
    assert parser.value is root
    assert root["items"] is items
    assert items == [1, {"b": "x"}]


def test_strings_taken_from_the_value_keep_their_text() -> None:
    """A string read earlier is not changed by later feeds (str is immutable)."""
    parser = PartialJSONParser()
    parser.feed('["ab')
    taken = parser.value[0]  # type: ignore[index]
    parser.feed('cd"]')
    assert taken == "ab"
    assert parser.value == ["abcd"]


@pytest.mark.parametrize(
    ("opening", "path"),
    [
        pytest.param('{"a": "', ("a",), id="object"),
        pytest.param('[0, "', (1,), id="array"),
        pytest.param('"', (), id="root"),
    ],
)
def test_string_read_after_every_fragment_is_never_changed_under_a_holder(
    opening: str, path: tuple[str | int, ...]
) -> None:
    """Strings read from the value keep their text while the parser grows its own copy."""
    parser = PartialJSONParser()
    parser.feed(opening)
    taken: list[tuple[object, str]] = []
    expected = ""
    for count, piece in enumerate(["ab", "cd", "é", "😀", "ef", "gh"] * 3):
        expected += piece
        value = parser.feed_value(piece)
        for key in path:
            value = value[key]  # type: ignore[index]
        assert value == expected
        # Every third string is kept; the others are let go before the next fragment,
        # which lets the parser grow them in place.
        if count % 3 == 0:
            taken.append((value, expected))
        del value
    assert all(text == original for text, original in taken)


def test_peek_leaves_the_open_string_as_last_read() -> None:
    """peek() shows the string being written as of the last value read."""
    parser = PartialJSONParser()
    parser.feed('{"a": "xy')
    assert parser.peek() == {"a": ""}
    assert parser.value == {"a": "xy"}
    parser.feed("z")
    assert parser.peek() == {"a": "xy"}
    assert parser.value == {"a": "xyz"}
    parser.feed('", "b": 2}')
    assert parser.peek() == {"a": "xyz", "b": 2}


def test_consumed_counts_every_character_fed() -> None:
    """consumed counts fed characters, including those kept for the next fragment."""
    parser = PartialJSONParser()
    parser.feed('["a\\u00')
    assert parser.consumed == 7
    parser.feed("e9")
    assert parser.consumed == 9
    assert parser.value == ["a\u00e9"]


def test_complete_is_set_once_the_top_level_value_ends() -> None:
    """complete turns true at the closing bracket, not before."""
    parser = PartialJSONParser()
    seen = []
    for fragment in ('{"a": [1]', "}", "  \n"):
        parser.feed(fragment)
        seen.append(parser.complete)
    assert seen == [False, True, True]
    assert parser.error is None


def test_string_deltas_report_paths_and_new_text_only() -> None:
    """take_string_deltas() gives each string value's new text with its path, keys excluded."""
    parser = PartialJSONParser(track_string_deltas=True)
    parser.feed('{"files": [{"path": "a.py", "body": "pri')
    assert parser.take_string_deltas() == [
        (("files", 0, "path"), "a.py"),
        (("files", 0, "body"), "pri"),
    ]
    parser.feed("nt(1)\\n")
    assert parser.take_string_deltas() == [(("files", 0, "body"), "nt(1)\n")]
    assert parser.take_string_deltas() == []
    parser.feed('"}], "t": "x"}')
    assert parser.take_string_deltas() == [(("t",), "x")]
    top = PartialJSONParser(track_string_deltas=True)
    top.feed('"hello')
    assert top.take_string_deltas() == [((), "hello")]


def test_string_deltas_need_tracking() -> None:
    """take_string_deltas() on a parser made without tracking is a misuse."""
    with pytest.raises(RuntimeError, match="track_string_deltas"):
        PartialJSONParser().take_string_deltas()


def test_string_deltas_stop_at_an_error() -> None:
    """Text before an error inside a string is reported; nothing after it."""
    parser = PartialJSONParser(track_string_deltas=True)
    parser.feed('["ab\\q more"]')
    assert parser.take_string_deltas() == [((0,), "ab")]
    assert parser.value == ["ab"]


def test_parse_partial_hides_a_trailing_number_and_never_raises() -> None:
    """parse_partial is one feed: trailing numbers wait, invalid text gives its valid prefix."""
    assert parse_partial('{"a": 12') == {}
    assert parse_partial('{"a": 12}') == {"a": 12}
    assert parse_partial('{"a": 1,,') == {"a": 1}
    assert parse_partial("") is None


# --------------------------------------------------------------------------------------
# Fast paths agree with the general path on the same input
# --------------------------------------------------------------------------------------

_NUMBERISH = st.text(st.sampled_from("-+.eE0123456789"), min_size=1, max_size=8)


@given(_NUMBERISH, st.sampled_from(["[{}]", '{{"k": {}}}', "{} ", "[{} ]", "[{}x"]))
@settings(max_examples=300, deadline=None)
def test_number_read_in_one_match_agrees_with_the_character_states(token: str, frame: str) -> None:
    """A number read whole (one regex match) shows and fails as one followed char by char."""
    text = frame.format(token)
    whole = PartialJSONParser()  # the number and what ends it in one fragment
    whole.feed(text)
    chars = PartialJSONParser()  # every number cut by a boundary: the character states
    for c in text:
        chars.feed(c)
    assert snapshot(whole) == snapshot(chars)
    whole.finish()
    chars.finish()
    assert snapshot(whole) == snapshot(chars)


@pytest.mark.parametrize(
    "track", [pytest.param(False, id="plain"), pytest.param(True, id="deltas")]
)
@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"body": "' + "abcdefgh" * 40 + '", "n": 1}', id="object"),
        pytest.param('["' + "é😀 x" * 50 + '", "' + "y" * 30 + '"]', id="array"),
        pytest.param('"' + "long text " * 40 + '"', id="root"),
        pytest.param('{"' + "k" * 60 + '": "' + "v" * 60 + '"}', id="long-key"),
    ],
)
@pytest.mark.parametrize("size", [1, 3, 7])
def test_fragment_inside_a_string_agrees_with_the_scan(text: str, track: bool, size: int) -> None:
    """Fragments wholly inside a string (taken without a scan) show what the scan shows."""
    parser = PartialJSONParser(track_string_deltas=track)
    rebuilt: dict[JSONPath, str] = {}
    for stop in range(size, len(text) + size, size):
        parser.feed(text[stop - size : stop])
        scanned = PartialJSONParser()
        scanned.feed(text[:stop])
        assert snapshot(parser) == snapshot(scanned)
        assert parser.peek() == parser.value
        if track:
            for path, delta in parser.take_string_deltas():
                rebuilt[path] = rebuilt.get(path, "") + delta
            assert rebuilt == {p: s for p, s in _strings_by_path(parser.value).items() if s}
    assert same(parser.finish(), json.loads(text))


@given(JSON_VALUES, st.booleans())
@settings(max_examples=150, deadline=None)
def test_one_space_after_a_separator_reads_as_any_whitespace(value: object, ascii_: bool) -> None:
    """', ' and ': ' (one space, skipped at once) show what ',\\t' and ':\\t' show, per prefix."""
    spaced = json.dumps(value, ensure_ascii=ascii_, separators=(", ", ": "))
    tabbed = json.dumps(value, ensure_ascii=ascii_, separators=(",\t", ":\t"))
    assert len(spaced) == len(tabbed)
    for k in range(len(spaced) + 1):
        # Each prefix, and each prefix followed by something that may be invalid there.
        for more in ("", "x", ",", "]", "}", '"'):
            assert one_piece(spaced[:k] + more) == one_piece(tabbed[:k] + more)


# --------------------------------------------------------------------------------------
# What the parser promises across fragments
# --------------------------------------------------------------------------------------


def extends(old: object, new: object) -> bool:
    """Whether ``new`` is ``old`` with more text read: nothing shown is taken back."""
    if isinstance(old, str):
        return isinstance(new, str) and new.startswith(old)
    if isinstance(old, list):
        return (
            isinstance(new, list)
            and len(new) >= len(old)
            and all(extends(a, b) for a, b in zip(old, new, strict=False))
        )
    if isinstance(old, dict):
        return (
            isinstance(new, dict)
            and list(new)[: len(old)] == list(old)
            and all(extends(item, new[key]) for key, item in old.items())
        )
    return same(old, new)


@given(fragmented())
@settings(max_examples=200, deadline=None)
def test_each_value_shown_extends_the_one_before(case: tuple[str, list[int]]) -> None:
    """Without duplicate keys, what a fragment shows keeps all that was shown before it."""
    text, cuts = case
    parser = PartialJSONParser()
    shown: tuple[bool, Any] = (False, None)
    for start, stop in pairwise([0, *cuts, len(text)]):
        parser.feed(text[start:stop])
        now = snapshot(parser)[:2]
        if shown[0]:
            assert now[0] and extends(shown[1], now[1]), (shown, now)
        shown = now
    final = parser.finish()
    assert not shown[0] or extends(shown[1], final)
    assert same(final, json.loads(text))


@given(fragmented())
@settings(max_examples=100, deadline=None)
def test_text_read_again_with_the_next_fragment_is_short(case: tuple[str, list[int]]) -> None:
    """At most 11 characters (a cut escape, surrogate pair or literal) are re-read: O(n)."""
    text, cuts = case
    parser = PartialJSONParser()
    for start, stop in pairwise([0, *cuts, len(text)]):
        parser.feed(text[start:stop])
        assert len(parser._carry) <= 11
