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
- :attr:`~PartialJSONParser.value` (and :meth:`~PartialJSONParser.feed_value`) is O(1),
  plus, when the one string still being written has grown since the last read, the
  placing of its new text after the text already placed. The parser takes that string
  out of the value and appends to it with ``+=``, which CPython does in place (amortised
  O(new text), a ``realloc``) when nothing else holds the string: so reading ``value``
  after every fragment stays linear in total even for one long string value (a file's
  content, say). A string that a caller still holds from an earlier read is never
  changed: it is copied instead (O(its length)), so reading after every fragment while
  keeping each string is quadratic for one long string, as any str-based view would be.
  :meth:`~PartialJSONParser.take_string_deltas` (only the new text, with its place in
  the value) and :meth:`~PartialJSONParser.peek` (the live value without bringing the
  open string up to date) are O(new text + depth) whatever the caller keeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from ._exceptions import PartialJSONError

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
# What may end a number, by where it is. A number is shown only when what ends it is
# valid there, so that after an error the value is that of the text before the error
# (where the number had not ended).
_ENDERS_IN_ARRAY: Final = _WS_CHARS + ",]"
_ENDERS_IN_OBJECT: Final = _WS_CHARS + ",}"
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
_EXPECT_SHORT_INT: Final = "an integer short enough for int()"


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
        "_closer",
        "_complete",
        "_consumed",
        "_deltas",
        "_dparts",
        "_enders",
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
        "_str_parts",
        "_str_placed",
        "_str_slot",
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
        # The character that closes it ("" at the top level).
        self._closer = ""
        # The characters that may end a number there.
        self._enders = _WS_CHARS
        # Key or index of each open container inside its parent (the root has none).
        self._path: list[str | int] = []
        self._key = ""
        self._str_is_key = False
        # The text of the string being written, in pieces joined when it is read or ends.
        self._str_parts: list[str] = []
        # Whether the string value being written has its place in the value (in
        # _str_slot of the innermost container, or as the root), holding its text up to
        # the last read; _str_parts then holds only what came after.
        self._str_placed = False
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
        O(1), plus placing the new text of the string being written if it grew since the
        last read (amortised O(new text); see the module docstring).
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
        # The search of a fragment that starts inside a string, made to find out whether
        # it stays there; the string scan starts from it instead of searching again.
        ahead: re.Match[str] | None = None
        if state == _STRING:
            if not self._carry:
                ahead = _STRING_STOP.search(fragment)
                if ahead is None:
                    # Fast path, the commonest fragment: more text of the string being
                    # written. It skips the set-up of the scan below, which would append
                    # the same text (tests check the two agree).
                    self._consumed += len(fragment)
                    if fragment:
                        self._str_parts.append(fragment)
                        if self._dparts is not None:
                            self._dparts.append(fragment)
                    return
        elif state >= _FAILED:
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
        # The dispatch by state. Strings, punctuation and whitespace are read here; a
        # number, literal or opening bracket by the scanner _VALUE_SCANNERS picks for its
        # first character; every change to the value is made by a method of its own (see
        # "building the value"). Strings are not a method: they are most of a text, and a
        # call per string cost 5-10% with fragments of a few characters. ``state`` is a
        # local: it is written to the instance before a scanner is called, which leaves
        # the next state there (or returns -1 after recording an error).
        n = len(text)
        pos = 0
        while pos < n:
            if state == _STRING:
                parts = self._str_parts
                dparts = self._dparts
                search = _STRING_STOP.search
                while True:
                    m = search(text, pos) if ahead is None else ahead
                    ahead = None
                    if m is None:
                        if pos < n:
                            piece = text[pos:]
                            parts.append(piece)
                            if dparts is not None:
                                dparts.append(piece)
                        pos = n
                        break
                    j = m.start()
                    c = text[j]
                    if c == '"':
                        string = text[pos:j]
                        if dparts is not None and string:
                            dparts.append(string)
                        if parts:
                            parts.append(string)
                            string = "".join(parts)
                            parts.clear()
                        # Else the commonest string: read in one piece, no list to join.
                        if self._str_is_key:
                            self._key = string
                            state = _COLON
                        elif self._str_placed or dparts is not None:
                            state = self._end_shown_string(string)
                        else:
                            # Read within one fragment, never shown: a complete value.
                            state = self._put(string)
                        pos = j + 1
                        break
                    if j > pos:
                        piece = text[pos:j]
                        parts.append(piece)
                        if dparts is not None:
                            dparts.append(piece)
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
            c = text[pos]
            if state == _AFTER:
                if c == ",":
                    state = _VALUE if self._top_is_list else _KEY
                    pos += 1
                    # Fast path: ", " and ": " are the usual separators, and skipping their
                    # space here spares it a pass through the dispatch (tests check that
                    # it reads as any whitespace does).
                    if pos < n and text[pos] == " ":
                        pos += 1
                    continue
                if c == self._closer:
                    state = self._close()
                    pos += 1
                    continue
            elif state == _COLON:
                if c == ":":
                    state = _VALUE
                    pos += 1
                    if pos < n and text[pos] == " ":  # as after a comma
                        pos += 1
                    continue
            elif state <= _FIRST_ITEM:  # _VALUE or _FIRST_ITEM
                if c == '"':
                    # A string value enters the value when it ends, or, if this fragment
                    # ends first, then (see _show_string).
                    self._str_is_key = False
                    self._str_placed = False
                    if self._deltas is not None:
                        self._dparts = []
                    state = _STRING
                    pos += 1
                    continue
                scan = _VALUE_SCANNERS.get(c)
                if scan is not None:
                    self._state = state
                    pos = scan(self, text, pos, base)
                    if pos < 0:
                        return
                    state = self._state
                    continue
            elif state <= _KEY:  # _FIRST_KEY or _KEY (smaller states are above)
                if c == '"':
                    self._str_is_key = True
                    self._dparts = None
                    state = _STRING
                    pos += 1
                    continue
            elif state == _NUMBER:
                # Only at the start of a fragment: a number cut by the last one goes on.
                self._state = state
                pos = self._scan_number(text, pos, base)
                if pos < 0:
                    return
                state = self._state
                continue
            # Not what the state expects: whitespace, the bracket that closes an empty
            # container, or the first error.
            if c in _WS_CHARS:
                # Mostly one space (", " and ": "); a regex skips indentation runs.
                pos += 1
                if pos < n and text[pos] in _WS_CHARS:
                    m = _NOT_WS.search(text, pos)
                    pos = n if m is None else m.start()
                continue
            if c == self._closer and state in (_FIRST_ITEM, _FIRST_KEY):
                state = self._close()
                pos += 1
                continue
            self._fail(base + pos, self._expected(state))
            return
        if state == _STRING and not (self._str_placed or self._str_is_key):
            self._show_string()
        self._state = state

    def feed_value(self, fragment: str) -> object:
        """:meth:`feed` the fragment, then return :attr:`value` (``None`` if it has none).

        One call instead of three for the caller that shows the value after every
        fragment (the stream accumulator does, for each arguments delta): with fragments
        of a few characters, the fixed cost of each call is most of the work. The cost of
        reading :attr:`value` applies (the string being written is brought up to date).

        Args:
            fragment: As for :meth:`feed`.

        Returns:
            The value after the fragment, ``None`` when there is none (see
            :attr:`has_value` to tell that from a JSON ``null``).

        Raises:
            RuntimeError: :meth:`finish` was already called.
        """
        self.feed(fragment)
        if self._str_parts and self._state == _STRING and not self._str_is_key:
            self._sync_string()
        return self._root

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

    # ------------------------------------------------------------------ scanning tokens
    #
    # Each scanner reads one token from ``text[pos]`` on, where ``base`` is the offset of
    # ``text`` in the whole text (for errors). It returns where scanning goes on and
    # leaves the next state in ``_state``; or it returns -1 after recording an error.
    # A token cut by the end of the fragment is either kept as it is read (strings,
    # numbers: their pieces are joined once at their end) or, if it is short, carried
    # whole in front of the next fragment (an escape, a literal).

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

    def _scan_literal(self, text: str, pos: int, base: int) -> int:
        """Read ``true``, ``false`` or ``null`` from ``text[pos]``, its first letter."""
        word, value = _LITERALS[text[pos]]
        if text.startswith(word, pos):
            self._state = self._put(value)
            return pos + len(word)
        n = len(text)
        k = 1
        while pos + k < n and text[pos + k] == word[k]:
            k += 1
        if pos + k == n:
            # Cut by the end of the fragment: read again with the next one.
            self._carry = text[pos:]
            return n
        self._fail(base + pos + k, f"'{word[k]}' (in '{word}')")
        return -1

    def _start_number(self, text: str, pos: int, base: int) -> int:
        """Read a number from ``text[pos]``, its first character."""
        m = _NUMBER_RE.match(text, pos)
        if m is not None:
            end = m.end()
            if end < len(text) and text[end] not in _NUMBER_CHARS:
                # Fast path, the common case: the whole number and what ends it are in
                # this fragment, so one match reads it (tests check it against the
                # character states of _scan_number on the same input).
                if text[end] not in self._enders:
                    self._fail(base + end, self._expected_after())
                    return -1
                self._state = self._put_number(m.group(), m.lastindex is None, base + pos)
                return -1 if self._state == _FAILED else end
        self._num_state = _N_BEGIN
        self._num_start = base + pos
        return self._scan_number(text, pos, base)

    def _scan_number(self, text: str, pos: int, base: int) -> int:
        """Follow the number being read through ``text[pos:]``, one state per character.

        The general path: for a number cut by fragment boundaries (its state is kept
        between them) and for one that is invalid (the state says where and why).
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
            self._state = _NUMBER
            return n
        if state not in _N_ACCEPT:
            self._fail(base + i, _EXPECT_DIGIT)
            return -1
        if text[i] not in self._enders:
            self._fail(base + i, self._expected_after())
            return -1
        parts.append(text[pos:i])
        token = "".join(parts)
        parts.clear()
        self._state = self._put_number(token, state in _N_INTEGER, self._num_start)
        return -1 if self._state == _FAILED else i

    def _put_number(self, token: str, integer: bool, start: int) -> int:
        """:meth:`_put` the number ``token`` (valid JSON) that started at offset ``start``."""
        if not integer:
            return self._put(float(token))
        try:
            number = int(token)
        except ValueError:
            # Python refuses to convert very long integers (sys.set_int_max_str_digits).
            self._fail(start, _EXPECT_SHORT_INT)
            return _FAILED
        return self._put(number)

    # ------------------------------------------------------------------ building the value
    #
    # A value that is complete when it is read enters with _put; a container, or a string
    # shown before its end, enters with _add, which gives its slot; every container is
    # closed by _close. _put and _close return the next state.

    def _add(self, item: object) -> str | int | None:
        """Put a new item in the innermost open container, or make it the root.

        Returns:
            Its key or index in that container (``None`` for the root).
        """
        top = self._top
        if top is None:
            self._root = item
            self._has_root = True
            return None
        if self._top_is_list:
            top.append(item)
            return len(top) - 1
        key = self._key
        top[key] = item
        return key

    def _put(self, item: object) -> int:
        """Add a complete value: a number, a literal, or a string read whole at once."""
        # _add written out, without the slot it returns: this runs for most values.
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

    def _scan_open(self, text: str, pos: int, base: int) -> int:
        """Add the array or object whose bracket is at ``text[pos]``; it is now innermost.

        A scanner (see above): returns where scanning goes on, or -1 after an error.
        """
        stack = self._stack
        if len(stack) >= self._max_depth:
            self._fail(
                base + pos, f"at most {self._max_depth} nested arrays and objects", _TOO_DEEP
            )
            return -1
        is_list = text[pos] == "["
        container: list[Any] | dict[str, Any] = [] if is_list else {}
        slot = self._add(container)
        if slot is not None:
            self._path.append(slot)
        stack.append(container)
        self._top = container
        self._top_is_list = is_list
        if is_list:
            self._closer = "]"
            self._enders = _ENDERS_IN_ARRAY
            self._state = _FIRST_ITEM
        else:
            self._closer = "}"
            self._enders = _ENDERS_IN_OBJECT
            self._state = _FIRST_KEY
        return pos + 1

    def _close(self) -> int:
        """The innermost container is complete: go back to its parent."""
        stack = self._stack
        stack.pop()
        if stack:
            self._path.pop()
            top = self._top = stack[-1]
            if type(top) is list:
                self._top_is_list = True
                self._closer = "]"
                self._enders = _ENDERS_IN_ARRAY
            else:
                self._top_is_list = False
                self._closer = "}"
                self._enders = _ENDERS_IN_OBJECT
            return _AFTER
        self._top = None
        self._top_is_list = False
        self._closer = ""
        self._enders = _WS_CHARS
        self._complete = True
        return _END

    def _show_string(self) -> None:
        """Give the string value being read its place in the value, showing ``""``.

        Done when scanning stops inside the string (the end of a fragment, an error, a
        delta to report): from then on the value shows the text up to the last read.
        A string read whole within one fragment skips this and enters with :meth:`_put`.
        """
        slot = self._add("")
        if slot is not None:
            self._str_slot = slot
        self._str_placed = True

    def _end_shown_string(self, string: str) -> int:
        """The string value being read, shown or with deltas to report, is complete.

        Args:
            string: Its text since the last read.
        """
        if self._dparts is not None:
            # A delta says where its string is: give the string its place first.
            if not self._str_placed:
                self._show_string()
            self._flush_delta()
            self._dparts = None
        self._str_placed = False
        # After the text a read of the value placed there.
        self._place(string)
        if self._top is None:
            self._complete = True
            return _END
        return _AFTER

    def _sync_string(self) -> None:
        """Place the text so far of the string value being written into the value."""
        # Between feeds the string being written has its place (see _show_string).
        parts = self._str_parts
        if parts:
            more = "".join(parts)
            parts.clear()
            self._place(more)

    def _place(self, more: str) -> None:
        """Append ``more`` to the text placed for the string value being written.

        The placed string is taken out of its slot first, so that when nothing else
        holds it (the caller kept no reference from an earlier read), ``text += more``
        lets CPython grow it in place instead of copying it: showing a long string after
        every fragment then costs the new text, not the whole string, each time. A
        string someone holds is never changed: it is copied, as ``str`` semantics require.
        """
        top = self._top
        if top is None:
            text = self._root
            self._root = None
            text += more
            self._root = text
        else:
            slot = self._str_slot
            text = top[slot]
            top[slot] = None
            text += more
            top[slot] = text

    def _flush_delta(self) -> None:
        dparts = self._dparts
        if dparts and self._deltas is not None:
            path = tuple(self._path)
            if self._top is not None:
                path += (self._str_slot,)
            self._deltas.append((path, "".join(dparts)))
            dparts.clear()

    # ------------------------------------------------------------------ errors and the end

    def _expected(self, state: int) -> str:
        return self._expected_after() if state == _AFTER else _EXPECTED[state]

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
            if not self._str_placed:
                self._show_string()
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
        else:
            expected = self._expected(state)
        self._fail(end, expected, _EOF)


# Where a value starts, its first character picks the method that reads it (strings
# excepted: the scan loop reads them itself).
_VALUE_SCANNERS: Final[dict[str, Callable[[PartialJSONParser, str, int, int], int]]] = {
    "{": PartialJSONParser._scan_open,
    "[": PartialJSONParser._scan_open,
    **dict.fromkeys("-0123456789", PartialJSONParser._start_number),
    **dict.fromkeys(_LITERALS, PartialJSONParser._scan_literal),
}


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
