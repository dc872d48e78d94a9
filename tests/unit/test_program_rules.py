from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from app.errors import InvalidInput
from app.program import rules
from app.program.rules import CategoryRule, ProgramRules, Tier

BRONZE = Tier("BRONZE", "Bronze", 0, 100, ("Earn 1 point per 1.00",))
SILVER = Tier("SILVER", "Silver", 1000, 125, ("Earn 25 % more points",))
GOLD = Tier("GOLD", "Gold", 5000, 150, ("Earn 50 % more points", "Gold-only offers"))
PLATINUM = Tier(
    "PLATINUM",
    "Platinum",
    15000,
    200,
    ("Earn double points", "Platinum-only rewards", "Early access to sales"),
)


def _usd() -> ProgramRules:
    return rules.default_rules(name="Loyalty", currency="USD")


def _refusal_of_rules(**changes: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        rules.check_rules(dataclasses.replace(_usd(), **changes))
    return raised.value


def _refusal_of_tiers(tiers: tuple[Tier, ...]) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        rules.check_tiers(tiers)
    return raised.value


def test_default_rules_in_usd_are_design_md_defaults() -> None:
    # when
    program = rules.default_rules(name="Loyalty", currency="USD")

    # then
    assert program == ProgramRules(
        version=1,
        name="Loyalty",
        currency="USD",
        earn_points=1,
        earn_per_amount=100,
        point_value_points=100,
        point_value_amount=100,
        redeem_min_points=100,
        redeem_max_percent=50,
        pending_days=0,
        expiry_days=365,
        tier_window_days=365,
        tiers=(BRONZE, SILVER, GOLD, PLATINUM),
        category_rules={"gift-cards": CategoryRule(multiplier_percent=0)},
        referral_points=500,
        referral_min_purchase=1000,
        referral_monthly_cap=10,
        birthday_points=200,
    )


@pytest.mark.parametrize(
    ("currency", "unit"),
    [("JPY", 1), ("KRW", 1), ("KWD", 1000), ("BHD", 1000), ("EUR", 100)],
)
def test_default_rules_count_one_unit_of_the_currency_in_its_minor_units(
    currency: str, unit: int
) -> None:
    # when
    program = rules.default_rules(name="Loyalty", currency=currency)

    # then
    assert (
        program.currency,
        program.earn_points,
        program.earn_per_amount,
        program.point_value_points,
        program.point_value_amount,
        program.referral_min_purchase,
    ) == (currency, 1, unit, 100, unit, 10 * unit)


def test_default_rules_pass_their_own_checks() -> None:
    # given
    program = _usd()

    # when
    checked = rules.check_rules(program)

    # then
    assert checked is program


def test_tier_multiplier_is_exact() -> None:
    # when
    multipliers = [tier.earn_multiplier for tier in _usd().tiers]

    # then
    assert multipliers == [Decimal("1"), Decimal("1.25"), Decimal("1.5"), Decimal("2")]


def test_tier_round_trips_through_json() -> None:
    # given
    data = GOLD.to_json()

    # when
    tier = Tier.from_json(data)

    # then
    assert data == {
        "code": "GOLD",
        "name": "Gold",
        "threshold": 5000,
        "multiplier_percent": 150,
        "benefits": ["Earn 50 % more points", "Gold-only offers"],
    }
    assert tier == GOLD


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"earn_points": -1}, "earnPoints"),
        ({"earn_per_amount": 0}, "earnPerAmount"),
        ({"point_value_points": 0}, "pointValuePoints"),
        ({"point_value_amount": -1}, "pointValueAmount"),
        ({"redeem_min_points": 0}, "redeemMinPoints"),
        ({"redeem_max_percent": 101}, "redeemMaxPercent"),
        ({"redeem_max_percent": -1}, "redeemMaxPercent"),
        ({"pending_days": 366}, "pendingDays"),
        ({"expiry_days": 0}, "expiryDays"),
        ({"expiry_days": 3651}, "expiryDays"),
        ({"tier_window_days": 0}, "tierWindowDays"),
        ({"referral_points": 1_000_001}, "referralPoints"),
        ({"referral_min_purchase": -1}, "referralMinPurchase"),
        ({"referral_monthly_cap": 1001}, "referralMonthlyCap"),
        ({"birthday_points": -1}, "birthdayPoints"),
        ({"tiers": ()}, "tiers"),
        ({"category_rules": {"Gift Cards": CategoryRule(0)}}, "categoryRules"),
        ({"category_rules": {"gift-cards\n": CategoryRule(0)}}, "categoryRules"),
        ({"category_rules": {"": CategoryRule(0)}}, "categoryRules"),
        ({"category_rules": {"-gifts": CategoryRule(0)}}, "categoryRules"),
        ({"category_rules": {"g" * 51: CategoryRule(0)}}, "categoryRules"),
        ({"category_rules": {"wine": CategoryRule(10_001)}}, "categoryRules"),
        ({"category_rules": {"wine": CategoryRule(-1)}}, "categoryRules"),
    ],
)
def test_check_rules_refuses_with_the_field_named(changes: dict[str, Any], field: str) -> None:
    # when
    error = _refusal_of_rules(**changes)

    # then
    assert (error.code, error.field) == ("INVALID_INPUT", field)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "x" * 100},
        {"earn_points": 0},
        {"redeem_max_percent": 0},
        {"redeem_max_percent": 100},
        {"pending_days": 365},
        {"expiry_days": 3650},
        {"point_value_amount": 0},
        {"category_rules": {}},
        {"category_rules": {"wine": CategoryRule(10_000), "g" * 50: CategoryRule(100)}},
        {"category_rules": {"0.dairy_milk-2": CategoryRule(150)}},
    ],
)
def test_check_rules_accepts_values_at_their_limits(changes: dict[str, Any]) -> None:
    # given
    program = dataclasses.replace(_usd(), **changes)

    # when
    checked = rules.check_rules(program)

    # then
    assert checked == program


def test_check_rules_names_the_message_of_a_limit() -> None:
    # when
    error = _refusal_of_rules(redeem_max_percent=150)

    # then
    assert (error.code, error.field, error.message) == (
        "INVALID_INPUT",
        "redeemMaxPercent",
        "Must be between 0 and 100.",
    )


@pytest.mark.parametrize(
    ("tiers", "field"),
    [
        ((), "tiers"),
        (tuple(Tier(f"T{i}", f"T{i}", i * 10, 100) for i in range(21)), "tiers"),
        ((BRONZE, SILVER, dataclasses.replace(GOLD, code="SILVER")), "code"),
        ((dataclasses.replace(BRONZE, threshold=1), SILVER), "threshold"),
        ((SILVER, GOLD), "threshold"),
        ((BRONZE, SILVER, dataclasses.replace(GOLD, threshold=1000)), "threshold"),
        ((BRONZE, GOLD, SILVER), "threshold"),
        ((BRONZE, dataclasses.replace(SILVER, threshold=100_000_001)), "threshold"),
        ((BRONZE, dataclasses.replace(SILVER, threshold=-5)), "threshold"),
        ((BRONZE, dataclasses.replace(SILVER, multiplier_percent=99)), "earnMultiplier"),
        ((BRONZE, dataclasses.replace(SILVER, multiplier_percent=1001)), "earnMultiplier"),
        ((dataclasses.replace(BRONZE, multiplier_percent=0), SILVER), "earnMultiplier"),
        ((BRONZE, dataclasses.replace(SILVER, code="silver")), "code"),
        ((BRONZE, dataclasses.replace(SILVER, code="")), "code"),
        ((BRONZE, dataclasses.replace(SILVER, code="1SILVER")), "code"),
        ((BRONZE, dataclasses.replace(SILVER, code="SIL-VER")), "code"),
        ((BRONZE, dataclasses.replace(SILVER, code="SILVER\n")), "code"),
        ((BRONZE, dataclasses.replace(SILVER, code="S" * 21)), "code"),
        ((BRONZE, dataclasses.replace(SILVER, code="SİLVER")), "code"),
        ((BRONZE, dataclasses.replace(SILVER, name="")), "name"),
        ((BRONZE, dataclasses.replace(SILVER, name=" \t ")), "name"),
        ((BRONZE, dataclasses.replace(SILVER, name="n" * 51)), "name"),
        ((BRONZE, dataclasses.replace(SILVER, benefits=("",))), "benefits"),
        ((BRONZE, dataclasses.replace(SILVER, benefits=("  ",))), "benefits"),
        ((BRONZE, dataclasses.replace(SILVER, benefits=("b" * 201,))), "benefits"),
        ((BRONZE, dataclasses.replace(SILVER, benefits=("b",) * 21)), "benefits"),
    ],
)
def test_check_tiers_refuses_with_the_field_named(tiers: tuple[Tier, ...], field: str) -> None:
    # when
    error = _refusal_of_tiers(tiers)

    # then
    assert (error.code, error.field) == ("INVALID_INPUT", field)


@pytest.mark.parametrize(
    "tiers",
    [
        (BRONZE,),
        tuple(Tier(f"T{i}", f"T{i}", i * 10, 100) for i in range(20)),
        (
            dataclasses.replace(BRONZE, multiplier_percent=1000),
            dataclasses.replace(SILVER, code="S" * 20, name="n" * 50, threshold=100_000_000),
        ),
        (BRONZE, dataclasses.replace(SILVER, benefits=("b" * 200,) * 20)),
        (Tier("A", "A", 0, 100), Tier("B_2", "B", 1, 100)),
    ],
)
def test_check_tiers_accepts_values_at_their_limits(tiers: tuple[Tier, ...]) -> None:
    # when
    result = rules.check_tiers(tiers)

    # then
    assert result is None


def test_with_tier_adds_a_tier_in_threshold_order() -> None:
    # given
    diamond = Tier("DIAMOND", "Diamond", 50_000, 300)
    copper = Tier("COPPER", "Copper", 3000, 110)

    # when
    program = rules.with_tier(rules.with_tier(_usd(), diamond), copper)

    # then
    assert program.tiers == (BRONZE, SILVER, copper, GOLD, PLATINUM, diamond)
    assert _usd().tiers == (BRONZE, SILVER, GOLD, PLATINUM)


def test_with_tier_replaces_a_tier_of_the_same_code() -> None:
    # given
    silver = Tier("SILVER", "Silver plus", 6000, 175, ("More",))

    # when
    program = rules.with_tier(_usd(), silver)

    # then
    assert program.tiers == (BRONZE, GOLD, silver, PLATINUM)


def test_without_tier_removes_that_tier_only() -> None:
    # when
    program = rules.without_tier(_usd(), "GOLD")

    # then
    assert program.tiers == (BRONZE, SILVER, PLATINUM)


def test_without_an_unknown_tier_changes_nothing() -> None:
    # when
    program = rules.without_tier(_usd(), "DIAMOND")

    # then
    assert program == _usd()


def test_removing_the_lowest_tier_is_refused_by_the_checks() -> None:
    # given
    program = rules.without_tier(_usd(), "BRONZE")

    # when
    error = _refusal_of_rules(tiers=program.tiers)

    # then
    assert (error.code, error.field) == ("INVALID_INPUT", "threshold")


@pytest.mark.parametrize(
    ("qualifying_points", "code"),
    [
        (-300, "BRONZE"),
        (0, "BRONZE"),
        (999, "BRONZE"),
        (1000, "SILVER"),
        (4999, "SILVER"),
        (5000, "GOLD"),
        (14_999, "GOLD"),
        (15_000, "PLATINUM"),
        (10**12, "PLATINUM"),
    ],
)
def test_tier_for_is_the_highest_threshold_reached(qualifying_points: int, code: str) -> None:
    # when
    tier = _usd().tier_for(qualifying_points)

    # then
    assert tier.code == code


@pytest.mark.parametrize(
    ("code", "next_code"),
    [("BRONZE", "SILVER"), ("SILVER", "GOLD"), ("GOLD", "PLATINUM"), ("PLATINUM", None)],
)
def test_next_tier_is_the_one_above(code: str, next_code: str | None) -> None:
    # when
    upcoming = _usd().next_tier(code)

    # then
    assert (upcoming.code if upcoming else None) == next_code


def test_next_tier_of_an_unknown_code_is_none() -> None:
    # when
    upcoming = _usd().next_tier("DIAMOND")

    # then
    assert upcoming is None


def test_tier_looks_up_by_code() -> None:
    # given
    program = _usd()

    # when
    found = (program.tier("GOLD"), program.tier("gold"), program.tier("DIAMOND"))

    # then
    assert found == (GOLD, None, None)
    assert program.lowest_tier == BRONZE


@pytest.mark.parametrize(
    ("currency", "unit"), [("USD", (1, 1)), ("JPY", (100, 1)), ("KWD", (1, 10))]
)
def test_a_points_value_is_told_per_the_fewest_points_worth_whole_minor_units(currency, unit):
    # given: the defaults, 100 points worth one unit of money
    program = rules.default_rules(name="Loyalty", currency=currency)

    # then
    assert program.point_value_unit == unit
