"""Backoff: exponential with full jitter, capped; Retry-After is a floor."""

from __future__ import annotations

import random

from app.outbox import rules


class Fixed(random.Random):
    """A generator whose uniform(a, b) answers a fixed fraction of the way from a to b."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


def test_the_ceiling_doubles_per_attempt_up_to_the_cap():
    top = Fixed(1.0)
    ceilings = [rules.backoff_seconds(n, base=2, cap=60, rng=top) for n in range(1, 8)]
    assert ceilings == [2, 4, 8, 16, 32, 60, 60]


def test_the_wait_is_anywhere_between_zero_and_the_ceiling():
    assert rules.backoff_seconds(3, base=2, cap=60, rng=Fixed(0.0)) == 0
    assert rules.backoff_seconds(3, base=2, cap=60, rng=Fixed(0.25)) == 2


def test_jitter_spreads_the_waits():
    rng = random.Random(42)
    waits = [rules.backoff_seconds(5, base=2, cap=3600, rng=rng) for _ in range(1000)]
    assert min(waits) >= 0
    assert max(waits) <= 32
    assert len({round(w, 3) for w in waits}) > 900
    assert 12 < sum(waits) / len(waits) < 20  # the mean of uniform(0, 32) is 16


def test_retry_after_is_a_floor_within_the_cap():
    assert rules.backoff_seconds(1, base=2, cap=60, rng=Fixed(0.0), retry_after=30) == 30
    assert rules.backoff_seconds(1, base=2, cap=60, rng=Fixed(0.0), retry_after=600) == 60
    assert rules.backoff_seconds(6, base=2, cap=60, rng=Fixed(1.0), retry_after=5) == 60


def test_a_huge_attempt_number_does_not_overflow():
    assert rules.backoff_seconds(10_000, base=2, cap=3600, rng=Fixed(1.0)) == 3600
