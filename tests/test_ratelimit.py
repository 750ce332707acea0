"""The batch rate limiter, on a fake clock (no test here sleeps for real)."""

from __future__ import annotations

import asyncio

import pytest

from kkiai_async._ratelimit import RateLimiter, parse_reset


class FakeClock:
    """A monotonic clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **kwargs: float | None) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("1s", 1.0, id="seconds"),
        pytest.param("6m0s", 360.0, id="minutes-seconds"),
        pytest.param("20ms", 0.02, id="milliseconds"),
        pytest.param("1m2.5s", 62.5, id="fractional-seconds"),
        pytest.param("1h2m3.5s", 3600.0, id="capped-at-an-hour"),
        pytest.param("2.5", 2.5, id="bare-number"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("1s2x", None, id="trailing-garbage"),
        pytest.param("", None, id="empty"),
        pytest.param("-3", None, id="negative"),
    ],
)
def test_parse_reset(value: str, seconds: float | None) -> None:
    """x-ratelimit-reset values in every format servers send are read as seconds."""
    assert parse_reset(value) == (pytest.approx(seconds) if seconds is not None else None)


async def test_rpm_spaces_requests_so_no_window_exceeds_the_limit() -> None:
    """With rpm=600, no 10-second window ever holds more than 100 sends."""
    clock = FakeClock()
    rl = limiter(clock, rpm=600)
    sends: list[float] = []
    for _ in range(350):
        await rl.acquire()
        sends.append(clock.now)
    for i, start in enumerate(sends):
        in_window = sum(1 for t in sends[i:] if t <= start + 10.0)
        assert in_window <= 100


async def test_first_request_goes_at_once() -> None:
    """The limiter does not delay the first request."""
    clock = FakeClock()
    rl = limiter(clock, rpm=60)
    await rl.acquire()
    assert clock.sleeps == []


async def test_tpm_waits_for_tokens_to_refill() -> None:
    """A request whose estimate exceeds the tokens left waits for the refill."""
    clock = FakeClock()
    rl = limiter(clock, tpm=6000)  # 100 tokens a second
    await rl.acquire(6000)
    start = clock.now
    await rl.acquire(1000)
    assert clock.now - start == pytest.approx(10.0)


async def test_correct_returns_overestimated_tokens() -> None:
    """Settling an estimate with the real usage gives back the unused tokens."""
    clock = FakeClock()
    rl = limiter(clock, tpm=6000)
    await rl.acquire(6000)
    rl.correct(6000, 1000)  # 5000 were never used
    start = clock.now
    await rl.acquire(5000)
    assert clock.now == start


async def test_pause_holds_everyone() -> None:
    """A pause (after a 429) delays every later request, not only one."""
    clock = FakeClock()
    rl = limiter(clock)
    rl.pause(3.0)
    start = clock.now
    await asyncio.gather(rl.acquire(), rl.acquire(), rl.acquire())
    assert clock.now - start == pytest.approx(3.0)


async def test_observe_remaining_zero_pauses_until_reset() -> None:
    """x-ratelimit-remaining-requests: 0 pauses everyone until the reset time."""
    clock = FakeClock()
    rl = limiter(clock)
    rl.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"})
    assert rl.paused_for == pytest.approx(2.0)
    start = clock.now
    await rl.acquire()
    assert clock.now - start == pytest.approx(2.0)


async def test_observe_believes_the_servers_token_count() -> None:
    """When the server reports fewer tokens left than we think, the server wins."""
    clock = FakeClock()
    rl = limiter(clock, tpm=6000)
    rl.observe({"x-ratelimit-remaining-tokens": "100"})
    start = clock.now
    await rl.acquire(600)  # 500 short at 100 tokens a second
    assert clock.now - start == pytest.approx(5.0)


@pytest.mark.parametrize("kwargs", [{"rpm": 0}, {"tpm": -1}], ids=["rpm-zero", "tpm-negative"])
def test_limits_must_be_positive(kwargs: dict[str, float]) -> None:
    """A limit of zero or below is refused at construction."""
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)
