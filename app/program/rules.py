"""The program's rules as plain values, and their checks. Pure: no session, no clock."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from app.errors import InvalidInput
from app.kit.money import one_unit

# Matched with fullmatch: `$` would let a trailing newline through.
TIER_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,19}")
CATEGORY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,49}")


@dataclass(frozen=True, slots=True)
class Tier:
    code: str
    name: str
    threshold: int  # qualifying points in the tier window
    multiplier_percent: int  # 125 = x1.25
    benefits: tuple[str, ...] = ()
    # A benefit the rules apply: offers open to this tier this many days before their start.
    early_access_days: int = 0

    @property
    def earn_multiplier(self) -> Decimal:
        return Decimal(self.multiplier_percent) / 100

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "threshold": self.threshold,
            "multiplier_percent": self.multiplier_percent,
            "benefits": list(self.benefits),
        }
        if self.early_access_days:
            data["early_access_days"] = self.early_access_days
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tier:
        return cls(
            code=data["code"],
            name=data["name"],
            threshold=int(data["threshold"]),
            multiplier_percent=int(data["multiplier_percent"]),
            benefits=tuple(data.get("benefits", ())),
            early_access_days=int(data.get("early_access_days", 0)),
        )


@dataclass(frozen=True, slots=True)
class CategoryRule:
    multiplier_percent: int = 100  # 0 excludes the category from earning

    def to_json(self) -> dict[str, Any]:
        return {"multiplier_percent": self.multiplier_percent}


DEFAULT_TIERS = (
    Tier("BRONZE", "Bronze", 0, 100, ("Earn 1 point per 1.00",)),
    Tier("SILVER", "Silver", 1000, 125, ("Earn 25 % more points",)),
    Tier("GOLD", "Gold", 5000, 150, ("Earn 50 % more points", "Gold-only offers")),
    Tier(
        "PLATINUM",
        "Platinum",
        15000,
        200,
        ("Earn double points", "Platinum-only rewards", "Early access to sales"),
    ),
)


@dataclass(frozen=True, slots=True)
class ProgramRules:
    version: int
    name: str
    currency: str
    earn_points: int
    earn_per_amount: int
    point_value_points: int
    point_value_amount: int
    redeem_min_points: int
    redeem_max_percent: int
    pending_days: int
    expiry_days: int
    tier_window_days: int
    tiers: tuple[Tier, ...]
    category_rules: dict[str, CategoryRule] = field(default_factory=dict)
    referral_points: int = 500
    referral_min_purchase: int = 1000
    referral_monthly_cap: int = 10
    birthday_points: int = 200

    @property
    def point_value_unit(self) -> tuple[int, int]:
        """(points, minor units): the fewest points worth a whole number of minor units, and
        what they pay. (1, 1) when 100 points are worth 1.00 (a point is a cent); (100, 1) when
        100 points are worth ¥1. What the API shows as `pointValuePoints` and `pointValue`."""
        common = math.gcd(self.point_value_points, self.point_value_amount)
        return self.point_value_points // common, self.point_value_amount // common

    @property
    def lowest_tier(self) -> Tier:
        return self.tiers[0]

    def tier(self, code: str) -> Tier | None:
        return next((tier for tier in self.tiers if tier.code == code), None)

    def next_tier(self, code: str) -> Tier | None:
        for index, tier in enumerate(self.tiers):
            if tier.code == code:
                return self.tiers[index + 1] if index + 1 < len(self.tiers) else None
        return None

    def tier_for(self, qualifying_points: int) -> Tier:
        reached = [tier for tier in self.tiers if tier.threshold <= qualifying_points]
        return reached[-1] if reached else self.lowest_tier


def default_rules(*, name: str, currency: str) -> ProgramRules:
    """DESIGN.md's defaults for a program in `currency`."""
    unit = one_unit(currency)
    return ProgramRules(
        version=1,
        name=name,
        currency=currency,
        earn_points=1,
        earn_per_amount=unit,
        point_value_points=100,
        point_value_amount=unit,
        redeem_min_points=100,
        redeem_max_percent=50,
        pending_days=0,
        expiry_days=365,
        tier_window_days=365,
        tiers=DEFAULT_TIERS,
        category_rules={"gift-cards": CategoryRule(multiplier_percent=0)},
        referral_points=500,
        referral_min_purchase=10 * unit,
        referral_monthly_cap=10,
        birthday_points=200,
    )


_LIMITS: dict[str, tuple[int, int]] = {
    "earn_points": (0, 1_000_000),
    "earn_per_amount": (1, 1_000_000_000),
    "point_value_points": (1, 1_000_000),
    "point_value_amount": (0, 1_000_000_000),
    "redeem_min_points": (1, 1_000_000_000),
    "redeem_max_percent": (0, 100),
    "pending_days": (0, 365),
    "expiry_days": (1, 3650),
    "tier_window_days": (1, 3650),
    "referral_points": (0, 1_000_000),
    "referral_min_purchase": (0, 1_000_000_000),
    "referral_monthly_cap": (0, 1_000),
    "birthday_points": (0, 1_000_000),
}


def check_rules(rules: ProgramRules) -> ProgramRules:
    """Refuse rules that cannot be applied, naming the offending field (camelCase, as the API)."""
    if not rules.name.strip() or len(rules.name) > 100:
        raise InvalidInput("The program needs a name of at most 100 characters.", field="name")
    for name, (low, high) in _LIMITS.items():
        value = getattr(rules, name)
        if not low <= value <= high:
            raise InvalidInput(f"Must be between {low} and {high}.", field=_camel(name))
    check_tiers(rules.tiers)
    for category, rule in rules.category_rules.items():
        if not CATEGORY.fullmatch(category):
            raise InvalidInput(f"{category!r} is not a category name.", field="categoryRules")
        if not 0 <= rule.multiplier_percent <= 10_000:
            raise InvalidInput(
                "A category multiplier is 0 to 10000 percent.", field="categoryRules"
            )
    return rules


def check_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise InvalidInput("The program needs at least one tier.", field="tiers")
    if len(tiers) > 20:
        raise InvalidInput("At most 20 tiers.", field="tiers")
    codes = [tier.code for tier in tiers]
    if len(set(codes)) != len(codes):
        raise InvalidInput("Tier codes must be unique.", field="code")
    if tiers[0].threshold != 0:
        raise InvalidInput("The lowest tier must start at 0 qualifying points.", field="threshold")
    for tier in tiers:
        if not TIER_CODE.fullmatch(tier.code):
            raise InvalidInput(
                "A tier code is 1 to 20 capital letters, digits or underscores, "
                "starting with a letter.",
                field="code",
            )
        if not tier.name.strip() or len(tier.name) > 50:
            raise InvalidInput("A tier needs a name of at most 50 characters.", field="name")
        if not 0 <= tier.threshold <= 100_000_000:
            raise InvalidInput("A threshold is 0 to 100000000 points.", field="threshold")
        if not 100 <= tier.multiplier_percent <= 1000:
            raise InvalidInput(
                "An earn multiplier is between 1.00 and 10.00.", field="earnMultiplier"
            )
        if len(tier.benefits) > 20 or any(len(b) > 200 or not b.strip() for b in tier.benefits):
            raise InvalidInput(
                "At most 20 benefits of at most 200 characters each.", field="benefits"
            )
        if not 0 <= tier.early_access_days <= 90:
            raise InvalidInput("Early access is 0 to 90 days.", field="earlyAccessDays")
    thresholds = [tier.threshold for tier in tiers]
    if thresholds != sorted(set(thresholds)):
        raise InvalidInput("Tier thresholds must rise strictly.", field="threshold")


def with_tier(rules: ProgramRules, tier: Tier) -> ProgramRules:
    """The rules with `tier` added or replaced (by code), tiers kept in threshold order."""
    others = [t for t in rules.tiers if t.code != tier.code]
    tiers = tuple(sorted([*others, tier], key=lambda t: t.threshold))
    return replace(rules, tiers=tiers)


def without_tier(rules: ProgramRules, code: str) -> ProgramRules:
    return replace(rules, tiers=tuple(t for t in rules.tiers if t.code != code))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
