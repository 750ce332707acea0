"""Incremental parsing of partial JSON: tool-call arguments shown while they arrive.

A model streams a tool call's ``arguments`` (and JSON-mode content) as a JSON text cut
into fragments of a few characters. Re-parsing the whole text at every fragment, as
"complete the prefix, then ``json.loads``" helpers do, costs O(n) per fragment and
O(n²) per call. :class:`PartialJSONParser` instead consumes each fragment once and keeps
the best value of the text so far up to date in place.

What the value shows, for the text fed so far:

- every object and array opened so far, with what it holds so far;
- a string value cut mid-way, as the text so far (escapes already decoded; an escape
  cut by a fragment boundary waits for the rest; so does a ``\\uD800``-``\\uDBFF`` escape
  at the very end, since the next escape may complete a surrogate pair);
- a number only once it can no longer grow: when a delimiter follows it or at
  :meth:`~PartialJSONParser.finish` (``12`` may still become ``123``);
- ``true``, ``false`` and ``null`` once complete;
- nothing for an object key still being written, or a key whose value has not started
  (``{"a": 1, "b": `` shows ``{"a": 1}``).

The JSON is strict RFC 8259, as :func:`json.loads` reads it: no ``NaN``/``Infinity``, no
leading zeros (``01`` is ``0`` followed by an unexpected ``1``), no raw control
characters in strings; a lone surrogate escape becomes a lone surrogate character,
as with :func:`json.loads`; duplicate keys keep the last value at the first key's place.

Errors. :meth:`~PartialJSONParser.feed` never raises for invalid JSON: it records a
:class:`PartialJSONError` with the offset (into the whole text) of the first character
that cannot be valid JSON and what was expected there. From then on the parser is
frozen: later fragments are counted in ``consumed`` but otherwise ignored, and ``value``
stays the best value of the valid text before the offset (``text[:error.offset]``).
Nesting deeper than ``max_depth`` objects and arrays is an error too: the parser itself
does not recurse, but whoever walks the value afterwards (``copy.deepcopy``,
``json.dumps``, ``msgspec``) does.

The value is live. Containers are the parser's own ``dict``/``list`` objects, mutated in
place by later fragments; a caller that keeps a value across feeds and needs it to stay
as it was must copy it (``copy.deepcopy``, O(size)). Strings are immutable, so a string
taken from the value keeps the text it had.

Cost, for a text of n characters in fragments of any sizes:

- :meth:`~PartialJSONParser.feed` is amortised O(len(fragment)): each character is
  looked at once (by ``re`` searches and ``str`` methods, not a Python loop per
  character), except that an escape, ``true``/``false``/``null`` or a surrogate pair cut
  by a fragment boundary (at most 11 characters) is looked at again. Numbers and strings
  cut by boundaries are kept as lists of pieces and joined once. Total: O(n).
- :attr:`~PartialJSONParser.value` is O(1), except that when the one string still being
  written has grown since the last read, reading materialises it: O(length of that
  string), one ``str.join`` (a memory copy). Reading ``value`` after every fragment is
  therefore still O(fragment) per read for arguments made of many short strings, but
  O(n²/fragment size) for one long string value (a file's content, say). Callers that
  stream such strings use :meth:`~PartialJSONParser.take_string_deltas` (only the new
  text, with its place in the value) and :meth:`~PartialJSONParser.peek` (the live value
  without bringing the open string up to date), both O(new text + depth).
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeAlias

__all__ = ["JSONPath", "PartialJSONError", "PartialJSONParser", "parse_partial"]

JSONPath: TypeAlias = tuple[str | int, ...]
"""Where a value sits in the parsed value: object keys and array indexes, outermost first."""

# Parser states (what the next significant character must be).
_VALUE: Final = 0  # a value: at the top, after ':' or after ',' in an array
_FIRST_ITEM: Final = 1  # just after '[': a value or ']'
_FIRST_KEY: Final = 2  # just after '{': a key or '}'
_KEY: Final = 3  # after ',' in an object: a key
_COLON: Final = 4  # after a key
_AFTER: Final = 5  # after a value in a container: ',' or the closing bracket
_END: Final = 6  # the top-level value is complete: only whitespace may follow
_STRING: Final = 7  # inside a string (a key or a value)
_NUMBER: Final = 8  # inside a number that may still grow
_FAILED: Final = 9  # an error was recorded
_DONE: Final = 10  # finish() was called and found no error

# RFC 8259 section 2: the only insignificant whitespace.
_WS_CHARS: Final = " \t\n\r"
_NOT_WS: Final = re.compile(r"[^ \t\n\r]")
# RFC 8259 section 7: inside a string, '"' ends it, '\' starts an escape and U+0000-U+001F
# must be escaped; everything else is the character itself.
_STRING_STOP: Final = re.compile(r'["\\\x00-\x1f]')
_HEX4: Final = re.compile(r"[0-9a-fA-F]{1,4}")
_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS: Final[dict[str, tuple[str, object]]] = {
    "t": ("true", True),
    "f": ("false", False),
    "n": ("null", None),
}

# RFC 8259 section 6. A number is complete when the character after it cannot continue it:
# the whole-number regex decides that in one match when that character is in the same
# fragment; otherwise the states below follow it across fragments.
_NUMBER_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_NUMBER_CHARS: Final = frozenset("+-.eE0123456789")
_NOT_DIGIT: Final = re.compile(r"[^0-9]")
_N_BEGIN, _N_MINUS, _N_ZERO, _N_INT, _N_DOT, _N_FRAC, _N_E, _N_ESIGN, _N_EXP = range(9)
_N_ACCEPT: Final = frozenset({_N_ZERO, _N_INT, _N_FRAC, _N_EXP})
_N_INTEGER: Final = frozenset({_N_ZERO, _N_INT})
_N_DIGIT_RUN: Final = frozenset({_N_INT, _N_FRAC, _N_EXP})


def _number_transitions() -> tuple[dict[str, int], ...]:
    digits, nonzero = "0123456789", "123456789"
    table: list[dict[str, int]] = [{} for _ in range(9)]
    table[_N_BEGIN] = {"-": _N_MINUS, "0": _N_ZERO, **dict.fromkeys(nonzero, _N_INT)}
    table[_N_MINUS] = {"0": _N_ZERO, **dict.fromkeys(nonzero, _N_INT)}
    table[_N_ZERO] = {".": _N_DOT, "e": _N_E, "E": _N_E}
    table[_N_INT] = {".": _N_DOT, "e": _N_E, "E": _N_E, **dict.fromkeys(digits, _N_INT)}
    table[_N_DOT] = dict.fromkeys(digits, _N_FRAC)
    table[_N_FRAC] = {"e": _N_E, "E": _N_E, **dict.fromkeys(digits, _N_FRAC)}
    table[_N_E] = {"+": _N_ESIGN, "-": _N_ESIGN, **dict.fromkeys(digits, _N_EXP)}
    table[_N_ESIGN] = dict.fromkeys(digits, _N_EXP)
    table[_N_EXP] = dict.fromkeys(digits, _N_EXP)
    return tuple(table)


_NUMBER_NEXT: Final = _number_transitions()

_INVALID: Final = "invalid JSON"
_EOF: Final = "unexpected end of input"
_TOO_DEEP: Final = "nesting too deep"

_EXPECTED: Final = {
    _VALUE: "a value",
    _FIRST_ITEM: "a value or ']'",
    _FIRST_KEY: "'\"' (a key) or '}'",
    _KEY: "'\"' (a key)",
    _COLON: "':'",
    _END: "end of input",
}
_EXPECT_AFTER_ITEM: Final = "',' or ']'"
_EXPECT_AFTER_MEMBER: Final = "',' or '}'"
_EXPECT_STRING_END: Final = "'\"' (end of the string)"
_EXPECT_ESCAPE: Final = 'an escape character (one of " \\ / b f n r t u)'
_EXPECT_HEX: Final = "a hex digit"
_EXPECT_NOT_CONTROL: Final = "an escape instead of a raw control character"
_EXPECT_DIGIT: Final = "a digit"


class PartialJSONError(ValueError):
    """Where a text stops being valid JSON, and what should have been there.

    Attributes:
        offset: The offset in the whole text (all fragments together) of the first
            character that cannot be part of valid JSON; for an incomplete text at
            :meth:`PartialJSONParser.finish`, the length of the text.
        expected: What could have come at ``offset``, e.g. ``"',' or '}'"``.
        reason: ``"invalid JSON"``, ``"unexpected end of input"`` or
            ``"nesting too deep"``.
    """

    offset: int
    expected: str
    reason: str

    def __init__(self, reason: str, offset: int, expected: str) -> None:
        super().__init__(f"{reason} at offset {offset}: expected {expected}")
        self.reason = reason
        self.offset = offset
        self.expected = expected

    def __reduce__(self) -> tuple[type[PartialJSONError], tuple[str, int, str]]:
        # The message is derived, so unpickling must call __init__ with the parts.
        return (type(self), (self.reason, self.offset, self.expected))


class PartialJSONParser:
    """Parses one JSON text fed in fragments, keeping the best value of the text so far.

    Feed fragments with :meth:`feed`, read :attr:`value` whenever you like, and call
    :meth:`finish` when the text is over. See the module docstring for what the value
    shows, how errors are recorded, and what each call costs.

    Args:
        max_depth: How many objects and arrays may be nested (a top-level ``[]`` is depth
            1). Opening one more records a ``"nesting too deep"`` error.
        track_string_deltas: Record the text added to string values, for
            :meth:`take_string_deltas`. Off by default: the deltas are a second copy of
            the string text until they are taken.

    Raises:
        ValueError: ``max_depth`` is negative.
    """

    __slots__ = (
        "_carry",
        "_complete",
        "_consumed",
        "_deltas",
        "_dparts",
        "_error",
        "_finished",
        "_has_root",
        "_key",
        "_max_depth",
        "_num_parts",
        "_num_start",
        "_num_state",
        "_path",
        "_root",
        "_stack",
        "_state",
        "_str_is_key",
        "_str_parent",
        "_str_parts",
        "_str_slot",
        "_str_synced",
        "_top",
        "_top_is_list",
    )

    def __init__(self, *, max_depth: int = 512, track_string_deltas: bool = False) -> None:
        if max_depth < 0:
            raise ValueError(f"max_depth must be >= 0, not {max_depth}")
        self._max_depth = max_depth
        self._state = _VALUE
        self._consumed = 0
        # Unconsumed end of the previous fragment: a cut escape, a held high surrogate or a
        # cut literal, at most 11 characters, re-read in front of the next fragment.
        self._carry = ""
        self._error: PartialJSONError | None = None
        self._finished = False
        self._complete = False
        self._root: Any = None
        self._has_root = False
        self._stack: list[dict[str, Any] | list[Any]] = []
        # The innermost open container (a dict or a list), or None at the top level.
        self._top: Any = None
        self._top_is_list = False
        # Key or index of each open container inside its parent (the root has none).
        self._path: list[str | int] = []
        self._key = ""
        self._str_is_key = False
        self._str_parts: list[str] = []
        # 1 when _str_parts[0] is the text already placed in the value, else 0.
        self._str_synced = 0
        self._str_parent: Any = None
        self._str_slot: str | int = 0
        self._num_parts: list[str] = []
        self._num_state = _N_BEGIN
        self._num_start = 0
        self._deltas: list[tuple[JSONPath, str]] | None = [] if track_string_deltas else None
        self._dparts: list[str] | None = None

    # ------------------------------------------------------------------ public surface

    @property
    def value(self) -> object:
        """The best value of the text so far (``None`` also when there is none yet).

        The live object: containers change with later fragments (copy to keep them).
        O(1), plus O(length) of the string being written if it grew since the last read.
        """
        if self._state == _STRING and not self._str_is_key:
            self._sync_string()
        return self._root

    @property
    def has_value(self) -> bool:
        """Whether :attr:`value` shows something, which tells a JSON ``null`` from nothing."""
        return self._has_root

    @property
    def error(self) -> PartialJSONError | None:
        """The first error in the text, or ``None`` while it is valid JSON so far."""
        return self._error

    @property
    def complete(self) -> bool:
        """Whether a whole top-level value has been parsed (even if an error followed)."""
        return self._complete

    @property
    def consumed(self) -> int:
        """How many characters have been fed, including any ignored after an error."""
        return self._consumed

    def peek(self) -> object:
        """The live value without bringing the string being written up to date, in O(1).

        The string being written shows the text it had at the last :attr:`value` read (or
        ``""``); for callers that follow it with :meth:`take_string_deltas` instead.
        """
        return self._root

    def take_string_deltas(self) -> list[tuple[JSONPath, str]]:
        """The text added to string values since the last call, with where each string is.

        One ``(path, text)`` per string value that received text, in text order; the
        last may be the string still being written. Concatenating every delta taken for
        a path gives that string's text so far. Object keys are not reported.

        Returns:
            The new deltas; O(their length + nesting depth).

        Raises:
            RuntimeError: The parser was made without ``track_string_deltas=True``.
        """
        deltas = self._deltas
        if deltas is None:
            raise RuntimeError("take_string_deltas() needs track_string_deltas=True")
        if self._state == _STRING:
            self._flush_delta()
        self._deltas = []
        return deltas

    def feed(self, fragment: str) -> None:
        """Parse the next fragment of the text and update :attr:`value` in place.

        Never raises for invalid JSON: the first error is recorded in :attr:`error` and
        the rest of the input is ignored.

        Args:
            fragment: The next characters of the text, of any length (``""`` is a no-op).

        Raises:
            RuntimeError: :meth:`finish` was already called.
        """
        state = self._state
        if state >= _FAILED:
            if self._finished:
                raise RuntimeError("feed() after finish()")
            self._consumed += len(fragment)
            return
        base = self._consumed
        self._consumed = base + len(fragment)
        text = fragment
        carry = self._carry
        if carry:
            # Bounded (a cut escape or literal), so this copy is O(len(fragment)).
            self._carry = ""
            text = carry + fragment
            base -= len(carry)
        # One method for the whole scan: with fragments of a few characters the fixed cost
        # per feed() dominates, so the common paths avoid further calls.
        n = len(text)
        pos = 0
        while pos < n:
            if state == _STRING:
                parts = self._str_parts
                dparts = self._dparts
                search = _STRING_STOP.search
                while True:
                    m = search(text, pos)
                    if m is None:
                        if pos < n:
                            piece = text[pos:]
                            parts.append(piece)
                            if dparts is not None:
                                dparts.append(piece)
                        pos = n
                        break
                    j = m.start()
                    if j > pos:
                        piece = text[pos:j]
                        parts.append(piece)
                        if dparts is not None:
                            dparts.append(piece)
                    c = text[j]
                    if c == '"':
                        pos = j + 1
                        if self._str_is_key:
                            self._key = "".join(parts)
                            parts.clear()
                            state = _COLON
                        else:
                            state = self._close_string()
                        break
                    if c != "\\":
                        self._fail_in_string(base + j, _EXPECT_NOT_CONTROL)
                        return
                    esc = _SIMPLE_ESCAPES.get(text[j + 1]) if j + 1 < n else None
                    if esc is not None:
                        parts.append(esc)
                        if dparts is not None:
                            dparts.append(esc)
                        pos = j + 2
                    else:
                        pos = self._escape(text, j, base)
                        if pos < 0:
                            return
                continue
            if state == _NUMBER:
                pos, state = self._scan_number(text, pos, base)
                if pos < 0:
                    return
                continue
            c = text[pos]
            if c in _WS_CHARS:
                # Mostly one space (", " and ": "); a regex skips indentation runs.
                pos += 1
                if pos < n and text[pos] in _WS_CHARS:
                    m = _NOT_WS.search(text, pos)
                    pos = n if m is None else m.start()
                continue
            if state == _AFTER:
                if c == ",":
                    state = _VALUE if self._top_is_list else _KEY
                elif c == ("]" if self._top_is_list else "}"):
                    state = self._close()
                else:
                    self._fail(base + pos, self._expected_after())
                    return
                pos += 1
            elif state in (_VALUE, _FIRST_ITEM):
                if c == '"':
                    self._open_value_string()
                    state = _STRING
                    pos += 1
                elif c == "{" or c == "[":
                    state = self._open(c == "[", base + pos)
                    if state == _FAILED:
                        return
                    pos += 1
                elif c == "-" or "0" <= c <= "9":
                    m = _NUMBER_RE.match(text, pos)
                    if m is not None:
                        end = m.end()
                        if end < n and text[end] not in _NUMBER_CHARS:
                            # The common case: the number and what ends it in one fragment.
                            if not self._may_end_number(text[end]):
                                self._fail(base + end, self._expected_after())
                                return
                            integer = m.lastindex is None
                            state = self._put_number(m.group(), integer, base + pos)
                            if state == _FAILED:
                                return
                            pos = end
                            continue
                    self._num_state = _N_BEGIN
                    self._num_start = base + pos
                    state = _NUMBER
                elif c in _LITERALS:
                    word, literal = _LITERALS[c]
                    if text.startswith(word, pos):
                        state = self._put(literal)
                        pos += len(word)
                        continue
                    k = 1
                    while pos + k < n and text[pos + k] == word[k]:
                        k += 1
                    if pos + k == n:
                        self._carry = text[pos:]
                        break
                    self._fail(base + pos + k, f"'{word[k]}' (in '{word}')")
                    return
                elif c == "]" and state == _FIRST_ITEM:
                    state = self._close()
                    pos += 1
                else:
                    self._fail(base + pos, _EXPECTED[state])
                    return
            elif state in (_FIRST_KEY, _KEY):
                if c == '"':
                    self._str_is_key = True
                    self._dparts = None
                    state = _STRING
                elif c == "}" and state == _FIRST_KEY:
                    state = self._close()
                else:
                    self._fail(base + pos, _EXPECTED[state])
                    return
                pos += 1
            elif state == _COLON:
                if c != ":":
                    self._fail(base + pos, _EXPECTED[_COLON])
                    return
                state = _VALUE
                pos += 1
            else:
                self._fail(base + pos, _EXPECTED[_END])
                return
        self._state = state

    def finish(self) -> object:
        """Mark the end of the text: complete a trailing number and return the final value.

        If the text ends before its top-level value is complete, an ``"unexpected end of
        input"`` error is recorded (offset = length of the text). Calling it again just
        returns the value.

        Returns:
            :attr:`value`.
        """
        if not self._finished:
            self._finished = True
            if self._state != _FAILED:
                self._finish()
                if self._state != _FAILED:
                    self._state = _DONE
        return self.value

    # ------------------------------------------------------------------ the scanner

    def _escape(self, text: str, j: int, base: int) -> int:
        """Decode the escape at ``text[j]`` (a backslash) that is not a one-letter escape.

        Returns:
            Where scanning goes on; ``len(text)`` when the escape is cut by the end of
            the fragment (it is kept for the next one); -1 after recording an error.
        """
        n = len(text)
        if j + 1 == n:
            self._carry = text[j:]
            return n
        if text[j + 1] != "u":
            self._fail_in_string(base + j + 1, _EXPECT_ESCAPE)
            return -1
        m = _HEX4.match(text, j + 2)
        hex1 = "" if m is None else m.group()
        if len(hex1) < 4:
            return self._cut_or_bad_hex(text, j, j + 2 + len(hex1), base)
        code = int(hex1, 16)
        if not 0xD800 <= code <= 0xDBFF:
            self._emit(chr(code))
            return j + 6
        # A high surrogate: json.loads pairs it with a following \uDC00-\uDFFF escape and
        # otherwise keeps it alone. Until the next escape is readable it cannot be shown;
        # and if what follows is invalid, the error comes first, with the surrogate unshown
        # as for the prefix that ends before the error.
        k = j + 6
        if k == n:
            self._carry = text[j:]
            return n
        c = text[k]
        if c != "\\":
            if c < " ":
                self._fail_in_string(base + k, _EXPECT_NOT_CONTROL)
                return -1
            self._emit(chr(code))
            return k
        if k + 1 == n:
            self._carry = text[j:]
            return n
        c = text[k + 1]
        if c != "u":
            esc = _SIMPLE_ESCAPES.get(c)
            if esc is None:
                self._fail_in_string(base + k + 1, _EXPECT_ESCAPE)
                return -1
            self._emit(chr(code) + esc)
            return k + 2
        m = _HEX4.match(text, k + 2)
        hex2 = "" if m is None else m.group()
        if len(hex2) < 4:
            return self._cut_or_bad_hex(text, j, k + 2 + len(hex2), base)
        low = int(hex2, 16)
        if 0xDC00 <= low <= 0xDFFF:
            self._emit(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
            return k + 6
        self._emit(chr(code))
        return k

    def _cut_or_bad_hex(self, text: str, start: int, stop: int, base: int) -> int:
        """Keep a ``\\u`` escape cut at ``stop`` for the next fragment, or fail there."""
        if stop == len(text):
            self._carry = text[start:]
            return stop
        self._fail_in_string(base + stop, _EXPECT_HEX)
        return -1

    def _emit(self, decoded: str) -> None:
        self._str_parts.append(decoded)
        if self._dparts is not None:
            self._dparts.append(decoded)

    def _scan_number(self, text: str, pos: int, base: int) -> tuple[int, int]:
        """Follow the number being read through ``text[pos:]``.

        Returns:
            ``(where scanning goes on, new state)``; ``(-1, _FAILED)`` after an error.
        """
        n = len(text)
        state = self._num_state
        nxt = _NUMBER_NEXT
        i = pos
        # One iteration per sign, '.', 'e' or digit run: a handful per number.
        while i < n:
            following = nxt[state].get(text[i])
            if following is None:
                break
            state = following
            i += 1
            if state in _N_DIGIT_RUN:
                m = _NOT_DIGIT.search(text, i)
                i = n if m is None else m.start()
        parts = self._num_parts
        if i == n:
            parts.append(text[pos:])
            self._num_state = state
            return n, _NUMBER
        if state not in _N_ACCEPT:
            self._fail(base + i, _EXPECT_DIGIT)
            return -1, _FAILED
        if not self._may_end_number(text[i]):
            self._fail(base + i, self._expected_after())
            return -1, _FAILED
        parts.append(text[pos:i])
        token = "".join(parts)
        parts.clear()
        new_state = self._put_number(token, state in _N_INTEGER, self._num_start)
        if new_state == _FAILED:
            return -1, _FAILED
        return i, new_state

    def _may_end_number(self, c: str) -> bool:
        # A number is shown only when what ends it is valid there, so that after an error
        # the value is that of the text before the error (where the number had not ended).
        if c in _WS_CHARS:
            return True
        if self._top is None:
            return False
        return c == "," or c == ("]" if self._top_is_list else "}")

    def _put_number(self, token: str, integer: bool, start: int) -> int:
        if not integer:
            return self._put(float(token))
        try:
            number = int(token)
        except ValueError:
            # Python refuses to convert very long integers (sys.set_int_max_str_digits).
            self._fail(start, "an integer short enough for int()")
            return _FAILED
        return self._put(number)

    # ------------------------------------------------------------------ building the value

    def _put(self, item: object) -> int:
        """Add a complete scalar to the open container (or make it the root)."""
        top = self._top
        if top is None:
            self._root = item
            self._has_root = True
            self._complete = True
            return _END
        if self._top_is_list:
            top.append(item)
        else:
            top[self._key] = item
        return _AFTER

    def _open(self, is_list: bool, offset: int) -> int:
        stack = self._stack
        if len(stack) >= self._max_depth:
            self._fail(offset, f"at most {self._max_depth} nested arrays and objects", _TOO_DEEP)
            return _FAILED
        container: dict[str, Any] | list[Any] = [] if is_list else {}
        top = self._top
        if top is None:
            self._root = container
            self._has_root = True
        elif self._top_is_list:
            self._path.append(len(top))
            top.append(container)
        else:
            self._path.append(self._key)
            top[self._key] = container
        stack.append(container)
        self._top = container
        self._top_is_list = is_list
        return _FIRST_ITEM if is_list else _FIRST_KEY

    def _close(self) -> int:
        stack = self._stack
        stack.pop()
        if not stack:
            self._top = None
            self._complete = True
            return _END
        self._path.pop()
        top = stack[-1]
        self._top = top
        self._top_is_list = type(top) is list
        return _AFTER

    def _open_value_string(self) -> None:
        # The empty string is placed at once, so the string has a fixed slot in its parent.
        top = self._top
        if top is None:
            self._root = ""
            self._has_root = True
        elif self._top_is_list:
            self._str_slot = len(top)
            top.append("")
        else:
            self._str_slot = self._key
            top[self._key] = ""
        self._str_parent = top
        self._str_is_key = False
        if self._deltas is not None:
            self._dparts = []

    def _close_string(self) -> int:
        """Put the completed string value in its place (keys are completed inline)."""
        parts = self._str_parts
        text = "".join(parts)
        parts.clear()
        self._str_synced = 0
        if self._dparts is not None:
            self._flush_delta()
            self._dparts = None
        top = self._str_parent
        if top is None:
            self._root = text
            self._complete = True
            return _END
        top[self._str_slot] = text
        return _AFTER

    def _sync_string(self) -> None:
        """Place the text so far of the string value being written into the value."""
        parts = self._str_parts
        if len(parts) > self._str_synced:
            text = "".join(parts)
            parts.clear()
            parts.append(text)
            self._str_synced = 1
            top = self._str_parent
            if top is None:
                self._root = text
            else:
                top[self._str_slot] = text

    def _flush_delta(self) -> None:
        dparts = self._dparts
        if dparts and self._deltas is not None:
            path = tuple(self._path)
            if self._str_parent is not None:
                path += (self._str_slot,)
            self._deltas.append((path, "".join(dparts)))
            dparts.clear()

    # ------------------------------------------------------------------ errors and the end

    def _expected_after(self) -> str:
        if self._top is None:
            return _EXPECTED[_END]
        return _EXPECT_AFTER_ITEM if self._top_is_list else _EXPECT_AFTER_MEMBER

    def _fail(self, offset: int, expected: str, reason: str = _INVALID) -> None:
        self._error = PartialJSONError(reason, offset, expected)
        self._state = _FAILED
        self._carry = ""

    def _fail_in_string(self, offset: int, expected: str, reason: str = _INVALID) -> None:
        # The value keeps the string's text up to the error, as for the valid prefix.
        if not self._str_is_key:
            self._sync_string()
            self._flush_delta()
        self._fail(offset, expected, reason)

    def _finish(self) -> None:
        end = self._consumed
        state = self._state
        carry = self._carry
        if state == _NUMBER:
            # The end of the text ends the number.
            if self._num_state not in _N_ACCEPT:
                self._fail(end, _EXPECT_DIGIT, _EOF)
                return
            token = "".join(self._num_parts)
            self._num_parts.clear()
            state = self._put_number(token, self._num_state in _N_INTEGER, self._num_start)
            if state == _FAILED:
                return
            self._state = state
        if state == _END:
            return
        if state == _STRING:
            # What is carried: "\", "\u" + up to 3 hex digits, or a held high surrogate
            # escape (6 characters) followed by the same.
            cut = len(carry) % 6
            if cut == 0:
                expected = _EXPECT_STRING_END
            elif cut == 1:
                expected = _EXPECT_ESCAPE
            else:
                expected = _EXPECT_HEX
            self._fail_in_string(end, expected, _EOF)
            return
        if carry:
            word = _LITERALS[carry[0]][0]
            expected = f"'{word[len(carry)]}' (in '{word}')"
        elif state == _AFTER:
            expected = self._expected_after()
        else:
            expected = _EXPECTED[state]
        self._fail(end, expected, _EOF)


def parse_partial(text: str) -> object:
    """The best value of a possibly incomplete JSON text, fed to a parser in one piece.

    A trailing number is not shown (it might go on); invalid text gives the value of the
    valid text before the error. Never raises for invalid JSON.

    Args:
        text: The JSON text so far.

    Returns:
        The value, or ``None`` when there is nothing to show yet.
    """
    parser = PartialJSONParser()
    parser.feed(text)
    return parser.value
