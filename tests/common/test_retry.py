"""The backoff policy, through outages longer than any retry loop expects."""

from __future__ import annotations

from common.retry import Backoff


def test_delays_double_up_to_the_ceiling_and_jitter_within_its_upper_half() -> None:
    backoff = Backoff(0.5, 30.0)
    assert [backoff.delay(n, jitter=False) for n in range(1, 9)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0,
    ]  # fmt: skip
    for n in (1, 3, 6):
        ceiling = backoff.delay(n, jitter=False)
        assert all(ceiling / 2 <= backoff.delay(n) <= ceiling for _ in range(200))


def test_a_retry_count_from_hours_of_outage_still_gets_the_ceiling() -> None:
    # a consumer retrying its claim every 15-30 s through a six-hour outage counts past
    # 1,000, where 2.0 ** attempt no longer fits in a float
    for backoff in (Backoff(0.5, 30.0), Backoff(0.1, 5.0), Backoff(1e-6, 1.0)):
        for attempt in (1_025, 1_100, 10**6):
            assert backoff.delay(attempt, jitter=False) == backoff.max_s
            assert backoff.max_s / 2 <= backoff.delay(attempt) <= backoff.max_s
    assert Backoff(0.5, 30.0).delay(0, jitter=False) == 0.5
