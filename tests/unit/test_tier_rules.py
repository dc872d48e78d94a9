from __future__ import annotations

import datetime as dt

from app.program import rules as program_rules
from app.tiers import rules
from app.tiers.rules import TierStatus

PROGRAM = program_rules.default_rules(name="Loyalty", currency="USD")
BRONZE, SILVER, GOLD, PLATINUM = PROGRAM.tiers
PERIOD_ENDS = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)


def test_new_member_is_at_zero_towards_the_second_tier() -> None:
    # when
    status = rules.status(
        PROGRAM, tier_code="BRONZE", qualifying_points=0, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(BRONZE, SILVER, 0, 1000, 0, PERIOD_ENDS)


def test_progress_is_the_share_of_the_next_threshold_rounded_down() -> None:
    # when
    status = rules.status(
        PROGRAM, tier_code="BRONZE", qualifying_points=333, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(BRONZE, SILVER, 333, 667, 33, PERIOD_ENDS)


def test_progress_mid_way_in_a_middle_tier() -> None:
    # when
    status = rules.status(
        PROGRAM, tier_code="SILVER", qualifying_points=2500, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(SILVER, GOLD, 2500, 2500, 50, PERIOD_ENDS)


def test_exactly_at_a_threshold_the_next_tier_is_the_one_above() -> None:
    # when
    status = rules.status(
        PROGRAM, tier_code="SILVER", qualifying_points=1000, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(SILVER, GOLD, 1000, 4000, 20, PERIOD_ENDS)


def test_points_past_the_next_threshold_before_the_upgrade_read_as_complete() -> None:
    # when
    status = rules.status(
        PROGRAM, tier_code="BRONZE", qualifying_points=1200, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(BRONZE, SILVER, 1200, 0, 100, PERIOD_ENDS)


def test_a_kept_tier_shows_its_own_progress_when_points_fell_below_it() -> None:
    # when
    status = rules.status(
        PROGRAM, tier_code="GOLD", qualifying_points=300, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(GOLD, PLATINUM, 300, 14_700, 2, PERIOD_ENDS)


def test_top_tier_has_no_next_and_is_complete() -> None:
    # when
    status = rules.status(
        PROGRAM, tier_code="PLATINUM", qualifying_points=20_000, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(PLATINUM, None, 20_000, 0, 100, PERIOD_ENDS)


def test_a_removed_tier_falls_back_to_the_tier_the_points_reach() -> None:
    # given
    without_gold = program_rules.without_tier(PROGRAM, "GOLD")

    # when
    status = rules.status(
        without_gold, tier_code="GOLD", qualifying_points=6000, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(SILVER, PLATINUM, 6000, 9000, 40, PERIOD_ENDS)


def test_a_removed_tier_with_few_points_falls_back_to_the_lowest() -> None:
    # given
    without_gold = program_rules.without_tier(PROGRAM, "GOLD")

    # when
    status = rules.status(
        without_gold, tier_code="GOLD", qualifying_points=-50, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(BRONZE, SILVER, -50, 1050, 0, PERIOD_ENDS)


def test_a_single_tier_program_is_always_complete() -> None:
    # given
    only_bronze = program_rules.without_tier(
        program_rules.without_tier(program_rules.without_tier(PROGRAM, "SILVER"), "GOLD"),
        "PLATINUM",
    )

    # when
    status = rules.status(
        only_bronze, tier_code="BRONZE", qualifying_points=0, period_ends_at=PERIOD_ENDS
    )

    # then
    assert status == TierStatus(BRONZE, None, 0, 0, 100, PERIOD_ENDS)
