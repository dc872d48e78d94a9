"""Pure rules of delivery: when to try again, and how long a finished delivery is kept."""

from __future__ import annotations

import random

# Delivered events (and those no target wanted) are kept this long, for the operators' look back
# and the receivers' duplicates, then deleted. Dead and pending deliveries, and their events,
# stay until they are delivered or given up (`loyalty outbox retry-dead`).
RETENTION_DAYS = 30


def backoff_seconds(
    attempts: int,
    *,
    base: float,
    cap: float,
    rng: random.Random | None = None,
    retry_after: float | None = None,
) -> float:
    """The wait before the next attempt, after `attempts` failed ones: exponential backoff with
    full jitter, uniform in [0, min(cap, base * 2^(attempts - 1))], so that receivers that failed
    together are not retried together. A `Retry-After` the receiver sent is a floor (capped)."""
    ceiling = min(cap, base * 2 ** min(max(attempts - 1, 0), 62))
    delay = (rng or random).uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay
