"""Tier progress. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.program.rules import ProgramRules, Tier


@dataclass(frozen=True, slots=True)
class TierStatus:
    current: Tier
    next: Tier | None
    qualifying_points: int
    points_to_next: int
    percent: int  # 0..100, towards the next tier's threshold; 100 at the top tier
    period_ends_at: dt.datetime


def status(
    rules: ProgramRules, *, tier_code: str, qualifying_points: int, period_ends_at: dt.datetime
) -> TierStatus:
    # A tier removed from the rules after the member reached it reads as the one it sits under.
    current = rules.tier(tier_code) or rules.tier_for(qualifying_points)
    upcoming = rules.next_tier(current.code)
    if upcoming is None:
        return TierStatus(current, None, qualifying_points, 0, 100, period_ends_at)
    to_next = max(0, upcoming.threshold - qualifying_points)
    percent = min(100, max(0, qualifying_points * 100 // upcoming.threshold))
    return TierStatus(current, upcoming, qualifying_points, to_next, percent, period_ends_at)
