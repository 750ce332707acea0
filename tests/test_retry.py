"""Tests of kkiai_async._retry: timeouts, backoff, and what is retried."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkiai_async._config import RetryPolicy, Timeout
from kkiai_async._exceptions import (
    APIConnectionError,
    APIProtocolError,
    APIStreamError,
    APITimeoutError,
    IncompleteStreamError,
    InvalidParameterError,
    make_status_error,
)
from kkiai_async._retry import (
    describe_retry_reason,
    retry_decision,
    retry_delay,
)

NOW = 1_700_000_000.0  # a fixed "current time" for HTTP-date Retry-After values


class RecordingRandom:
    """An rng stand-in that records the bounds it is asked for and returns the upper one."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float, /) -> float:
        self.calls.append((a, b))
        return b


def http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


# --------------------------------------------------------------------------------------
# Timeout
# --------------------------------------------------------------------------------------


def test_timeout_defaults() -> None:
    """The default timeout is 10 s to connect, 600 s of read silence, no total limit."""
    t = Timeout()
    assert (t.connect, t.read, t.total) == (10.0, 600.0, None)


def test_timeout_repr_shows_values() -> None:
    """repr(Timeout) shows every limit, so a logged configuration is readable."""
    assert repr(Timeout(connect=2.5, read=30, total=None)) == (
        "Timeout(connect=2.5, read=30, total=None)"
    )


def test_timeout_positional_arguments() -> None:
    """Timeout takes connect, read and total positionally, in that order."""
    assert Timeout(1, 2, 3) == Timeout(connect=1, read=2, total=3)


def test_timeout_is_frozen_and_hashable() -> None:
    """A Timeout cannot be changed after creation and can be a dict key."""
    t = Timeout(connect=1.0)
    with pytest.raises(AttributeError):
        t.connect = 2.0  # type: ignore[misc]
    assert {t: "x"}[Timeout(connect=1.0)] == "x"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"connect": 0}, "timeout.connect", id="zero-connect"),
        pytest.param({"read": -1.0}, "timeout.read", id="negative-read"),
        pytest.param({"total": True}, "timeout.total", id="bool-total"),
        pytest.param({"read": "5"}, "timeout.read", id="string-read"),
        pytest.param({"connect": math.nan}, "timeout.connect", id="nan-connect"),
        pytest.param({"total": math.inf}, "timeout.total", id="infinite-total"),
    ],
)
def test_timeout_rejects_invalid_values(kwargs: dict[str, object], param: str) -> None:
    """A limit that is not a positive finite number or None raises, naming the limit."""
    with pytest.raises(InvalidParameterError) as info:
        Timeout(**kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


def test_timeout_accepts_none_for_every_limit() -> None:
    """None disables a limit."""
    t = Timeout(connect=None, read=None, total=None)
    assert (t.connect, t.read, t.total) == (None, None, None)


def test_coerce_returns_a_timeout_unchanged() -> None:
    """Timeout.coerce passes a Timeout through as the same object."""
    t = Timeout(connect=3.0)
    assert Timeout.coerce(t) is t


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(5, Timeout(connect=5, read=5, total=None), id="int"),
        pytest.param(2.5, Timeout(connect=2.5, read=2.5, total=None), id="float"),
        pytest.param(None, Timeout(connect=None, read=None, total=None), id="none"),
    ],
)
def test_coerce_number_or_none(value: float | None, expected: Timeout) -> None:
    """A number t means connect=t and read=t with no total limit; None means no limits."""
    assert Timeout.coerce(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="bool"),
        pytest.param("10", id="string"),
        pytest.param(0, id="zero"),
        pytest.param(-1.0, id="negative"),
        pytest.param((1, 2), id="tuple"),
    ],
)
def test_coerce_rejects_other_values(value: object) -> None:
    """Timeout.coerce rejects anything but a Timeout, a positive number or None."""
    with pytest.raises(InvalidParameterError) as info:
        Timeout.coerce(value)  # type: ignore[arg-type]
    assert info.value.param == "timeout"


# --------------------------------------------------------------------------------------
# RetryPolicy
# --------------------------------------------------------------------------------------


def test_retry_policy_defaults() -> None:
    """The default policy retries twice with a 0.5 s base, an 8 s cap and a 60 s server wait."""
    p = RetryPolicy()
    assert (p.max_retries, p.backoff_base, p.backoff_cap, p.max_server_delay) == (
        2,
        0.5,
        8.0,
        60.0,
    )


def test_retry_policy_allows_zero() -> None:
    """max_retries=0 and a zero backoff are valid (no retries; no waiting in tests)."""
    p = RetryPolicy(max_retries=0, backoff_base=0, backoff_cap=0)
    assert (p.max_retries, p.backoff_base, p.backoff_cap) == (0, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"max_retries": -1}, "max_retries", id="negative-retries"),
        pytest.param({"max_retries": True}, "max_retries", id="bool-retries"),
        pytest.param({"max_retries": 1.5}, "max_retries", id="float-retries"),
        pytest.param({"backoff_base": -0.1}, "backoff_base", id="negative-base"),
        pytest.param({"backoff_base": math.nan}, "backoff_base", id="nan-base"),
        pytest.param({"backoff_base": True}, "backoff_base", id="bool-base"),
        pytest.param({"backoff_cap": math.inf}, "backoff_cap", id="infinite-cap"),
        pytest.param({"backoff_cap": "8"}, "backoff_cap", id="string-cap"),
        pytest.param({"max_server_delay": -1}, "max_server_delay", id="negative-server-delay"),
        pytest.param({"max_server_delay": math.inf}, "max_server_delay", id="infinite-delay"),
    ],
)
def test_retry_policy_rejects_invalid_values(kwargs: dict[str, object], param: str) -> None:
    """An invalid retry setting raises InvalidParameterError naming it."""
    with pytest.raises(InvalidParameterError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


# --------------------------------------------------------------------------------------
# retry_decision
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(400, False, id="400"),
        pytest.param(401, False, id="401"),
        pytest.param(403, False, id="403"),
        pytest.param(404, False, id="404"),
        pytest.param(408, True, id="408"),
        pytest.param(409, True, id="409"),
        pytest.param(413, False, id="413"),
        pytest.param(422, False, id="422"),
        pytest.param(429, True, id="429"),
        pytest.param(500, True, id="500"),
        pytest.param(501, True, id="501"),
        pytest.param(502, True, id="502"),
        pytest.param(503, True, id="503"),
        pytest.param(504, True, id="504"),
        pytest.param(505, False, id="505"),
        pytest.param(520, False, id="520"),
        pytest.param(529, True, id="529"),
    ],
)
def test_retry_decision_by_status(status: int, expected: bool) -> None:
    """408, 409, 429, 500-504 and 529 are retried; other statuses are not."""
    assert retry_decision(status, {}, None) is expected


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        pytest.param(429, {"x-should-retry": "false"}, False, id="false-beats-429"),
        pytest.param(503, {"x-should-retry": "false"}, False, id="false-beats-503"),
        pytest.param(400, {"x-should-retry": "true"}, True, id="true-beats-400"),
        pytest.param(400, {"X-Should-Retry": "TRUE"}, True, id="case-insensitive"),
        pytest.param(400, {"x-should-retry": " true "}, True, id="whitespace"),
        pytest.param(400, {"x-should-retry": "maybe"}, False, id="junk-400-uses-table"),
        pytest.param(429, {"x-should-retry": "maybe"}, True, id="junk-429-uses-table"),
    ],
)
def test_x_should_retry_header_wins(
    status: int, headers: Mapping[str, str], expected: bool
) -> None:
    """x-should-retry: true/false overrides the status table; other values are ignored."""
    assert retry_decision(status, headers, None) is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(APIConnectionError("connection refused"), True, id="connection-error"),
        pytest.param(APITimeoutError("connect", 10.0), True, id="connect-timeout"),
        pytest.param(APITimeoutError("read", 600.0), True, id="read-timeout"),
        pytest.param(APITimeoutError("total", 30.0), False, id="total-timeout"),
        pytest.param(IncompleteStreamError("stream ended"), False, id="incomplete-stream"),
        pytest.param(APIProtocolError("not an event stream"), False, id="protocol-error"),
        pytest.param(APIStreamError("overloaded"), False, id="stream-error"),
        pytest.param(ValueError("boom"), False, id="foreign-exception"),
    ],
)
def test_retry_decision_by_exception(exc: BaseException, expected: bool) -> None:
    """Connection errors and connect/read timeouts are retried; nothing else without a status."""
    assert retry_decision(None, {}, exc) is expected


def test_incomplete_stream_is_never_retried_even_if_server_says_so() -> None:
    """A stream that may have given the caller data is not retried, whatever the headers."""
    exc = IncompleteStreamError("dropped")
    assert retry_decision(None, {"x-should-retry": "true"}, exc) is False


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(make_status_error(429, None), True, id="429"),
        pytest.param(make_status_error(400, None), False, id="400"),
        pytest.param(
            make_status_error(400, None, {"x-should-retry": "true"}), True, id="400-header-true"
        ),
        pytest.param(
            make_status_error(503, None, {"x-should-retry": "false"}), False, id="503-header-false"
        ),
    ],
)
def test_retry_decision_reads_status_from_status_error(exc: BaseException, expected: bool) -> None:
    """With no status given, an APIStatusError's own status and headers decide."""
    assert retry_decision(None, {}, exc) is expected


def test_retry_decision_without_status_or_exception() -> None:
    """Nothing to go on means no retry."""
    assert retry_decision(None, {}, None) is False


# --------------------------------------------------------------------------------------
# retry_delay: the server's wish
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"retry-after": "3"}, 3.0, id="seconds"),
        pytest.param({"retry-after": "1.5"}, 1.5, id="float-seconds"),
        pytest.param({"retry-after": "0"}, 0.0, id="zero"),
        pytest.param({"retry-after": "60"}, 60.0, id="sixty-is-accepted"),
        pytest.param({"Retry-After": " 2 "}, 2.0, id="mixed-case-name-and-spaces"),
        pytest.param({"retry-after": http_date(30)}, 30.0, id="http-date"),
        pytest.param({"retry-after": http_date(0)}, 0.0, id="http-date-now"),
        pytest.param(
            {"retry-after": email.utils.formatdate(NOW + 45)},  # "... -0000": parses naive
            45.0,
            id="http-date-minus-zero-zone",
        ),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="ms"),
        pytest.param({"retry-after-ms": "250.5"}, 0.2505, id="fractional-ms"),
        pytest.param({"retry-after-ms": "200", "retry-after": "7"}, 0.2, id="ms-wins"),
        pytest.param({"retry-after-ms": "soon", "retry-after": "7"}, 7.0, id="invalid-ms"),
        pytest.param({"retry-after-ms": "61000", "retry-after": "7"}, 7.0, id="too-large-ms"),
        pytest.param({"retry-after-ms": "-5", "retry-after": "7"}, 7.0, id="negative-ms"),
    ],
)
def test_retry_delay_honours_server(headers: Mapping[str, str], expected: float) -> None:
    """retry-after-ms, then Retry-After (seconds or HTTP-date) between 0 and 60 s is used as is."""
    rng = RecordingRandom()
    delay = retry_delay(RetryPolicy(), 0, headers, now=NOW, rng=rng)
    assert delay == pytest.approx(expected)
    assert rng.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"retry-after": "61"}, id="too-large"),
        pytest.param({"retry-after": "3600"}, id="an-hour"),
        pytest.param({"retry-after": "-1"}, id="negative"),
        pytest.param({"retry-after": "soon"}, id="invalid"),
        pytest.param({"retry-after": ""}, id="empty"),
        pytest.param({"retry-after": "nan"}, id="nan"),
        pytest.param({"retry-after": "inf"}, id="infinite"),
        pytest.param({"retry-after": http_date(-30)}, id="date-in-the-past"),
        pytest.param({"retry-after": http_date(120)}, id="date-too-far"),
        pytest.param({"retry-after": "Wed, 32 Foo 2023 99:99:99 GMT"}, id="broken-date"),
        pytest.param({"retry-after-ms": "90000"}, id="ms-too-large"),
        pytest.param({"retry-after-ms": "x"}, id="ms-invalid"),
        pytest.param({}, id="no-header"),
    ],
)
def test_retry_delay_falls_back_to_backoff(headers: Mapping[str, str]) -> None:
    """An absent, invalid, negative or over-60 s server value gives our capped backoff."""
    rng = RecordingRandom()
    delay = retry_delay(
        RetryPolicy(backoff_base=0.5, backoff_cap=8.0), 1, headers, now=NOW, rng=rng
    )
    assert rng.calls == [(0.0, 1.0)]
    assert delay == 1.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"retry-after": "300"}, 300.0, id="seconds"),
        pytest.param({"retry-after": http_date(240)}, 240.0, id="http-date"),
        pytest.param({"retry-after-ms": "90000"}, 90.0, id="ms"),
    ],
)
def test_max_server_delay_honours_longer_waits(headers: Mapping[str, str], expected: float) -> None:
    """With max_server_delay=300 (the batch runner's), a server wait of up to 300 s is used."""
    rng = RecordingRandom()
    policy = RetryPolicy(max_server_delay=300.0)
    assert retry_delay(policy, 0, headers, now=NOW, rng=rng) == pytest.approx(expected)
    assert rng.calls == []


def test_max_server_delay_bounds_what_is_honoured() -> None:
    """A server wait over max_server_delay falls back to the policy's own backoff."""
    rng = RecordingRandom()
    policy = RetryPolicy(max_server_delay=300.0)
    assert retry_delay(policy, 0, {"retry-after": "301"}, now=NOW, rng=rng) == 0.5
    assert rng.calls == [(0.0, 0.5)]


def test_http_date_uses_current_time_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without now=, an HTTP-date Retry-After is measured from time.time()."""
    monkeypatch.setattr(time, "time", lambda: NOW)
    assert retry_delay(RetryPolicy(), 0, {"retry-after": http_date(12)}) == 12.0


# --------------------------------------------------------------------------------------
# retry_delay: full jitter
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [
        pytest.param(0, 0.5, id="first-retry"),
        pytest.param(1, 1.0, id="second"),
        pytest.param(2, 2.0, id="third"),
        pytest.param(3, 4.0, id="fourth"),
        pytest.param(4, 8.0, id="reaches-cap"),
        pytest.param(5, 8.0, id="capped"),
        pytest.param(10_000, 8.0, id="huge-attempt-no-overflow"),
        pytest.param(-3, 0.5, id="negative-attempt-as-first"),
    ],
)
def test_full_jitter_ceiling(attempt: int, ceiling: float) -> None:
    """The jitter range is uniform(0, min(cap, base * 2**attempt))."""
    rng = RecordingRandom()
    assert retry_delay(RetryPolicy(), attempt, {}, rng=rng) == ceiling
    assert rng.calls == [(0.0, ceiling)]


def test_full_jitter_uses_the_given_rng() -> None:
    """A seeded random.Random gives the same delay as drawing from it directly."""
    expected = random.Random(1234).uniform(0.0, 2.0)
    assert retry_delay(RetryPolicy(), 2, {}, rng=random.Random(1234)) == expected


def test_zero_backoff_does_not_wait() -> None:
    """backoff_base=0 returns 0 without drawing from the rng."""
    rng = RecordingRandom()
    assert retry_delay(RetryPolicy(backoff_base=0), 3, {}, rng=rng) == 0.0
    assert rng.calls == []


def test_zero_backoff_still_honours_retry_after() -> None:
    """Turning our backoff off does not ignore the server's Retry-After."""
    assert retry_delay(RetryPolicy(backoff_base=0), 0, {"retry-after": "2"}) == 2.0


@given(
    attempt=st.integers(min_value=0, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
    base=st.floats(min_value=0.0, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=100.0),
)
def test_full_jitter_is_bounded(attempt: int, seed: int, base: float, cap: float) -> None:
    """Every backoff delay lies in [0, min(cap, base * 2**attempt)]."""
    policy = RetryPolicy(backoff_base=base, backoff_cap=cap)
    delay = retry_delay(policy, attempt, {}, rng=random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt, 62))


def test_default_rng_is_bounded() -> None:
    """Without rng=, the delay comes from the random module and stays in range."""
    assert 0.0 <= retry_delay(RetryPolicy(), 1, {}) <= 1.0


# --------------------------------------------------------------------------------------
# describe_retry_reason
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exc", "expected"),
    [
        pytest.param(429, None, "HTTP 429", id="status"),
        pytest.param(None, make_status_error(503, None), "HTTP 503", id="status-error"),
        pytest.param(None, APITimeoutError("connect", 10.0), "connect timeout", id="connect"),
        pytest.param(None, APITimeoutError("read", 600.0), "read timeout", id="read"),
        pytest.param(
            None,
            APIConnectionError("Connection refused", request_id="req_1"),
            "connection error: Connection refused",
            id="connection-error",
        ),
        pytest.param(
            None, APIProtocolError("bad json"), "APIProtocolError: bad json", id="other-kkiai"
        ),
        pytest.param(None, OSError("reset"), "OSError: reset", id="foreign"),
        pytest.param(None, OSError(), "OSError", id="foreign-no-message"),
        pytest.param(None, None, "unknown reason", id="nothing"),
    ],
)
def test_describe_retry_reason(
    status: int | None, exc: BaseException | None, expected: str
) -> None:
    """The log phrase names the status, the timeout kind or the connection error."""
    assert describe_retry_reason(status, exc) == expected


def test_structs_round_trip_through_msgspec() -> None:
    """Timeout and RetryPolicy encode and decode with msgspec, validation included."""
    t = msgspec.convert({"connect": 1.0, "read": 2.0}, Timeout)
    assert t == Timeout(connect=1.0, read=2.0, total=None)
    with pytest.raises(msgspec.ValidationError, match=r"timeout\.read"):
        msgspec.convert({"read": -1}, Timeout)


def test_a_per_request_retry_count_keeps_every_other_policy_setting() -> None:
    """max_retries= on a call (or with_options) changes the count and nothing else:
    a longer honoured Retry-After set on the policy survives."""
    from kkiai_async._client import _with_retries

    policy = RetryPolicy(max_retries=2, backoff_base=0.1, backoff_cap=3.0, max_server_delay=300.0)
    assert _with_retries(policy, 5) == RetryPolicy(
        max_retries=5, backoff_base=0.1, backoff_cap=3.0, max_server_delay=300.0
    )
