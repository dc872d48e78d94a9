"""The till's arithmetic: redemption limits, points per line, refunds. Pure and exact.

A purchase's points are computed per line in exact arithmetic (the points discount spread over
the lines in proportion to their amounts; category and tier multipliers per line) and rounded
once, down, for the whole purchase. Refunds take back earned points rounded up and give back
redeemed points rounded down, cumulatively, so that several partial refunds add up exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from app.errors import InsufficientPoints, InvalidInput, LinesMismatch, RedemptionNotAllowed
from app.program.rules import ProgramRules, Tier

# Minor units: 10 000 000.00, far beyond any basket, and below GraphQL's 32-bit Int, so that an
# absurd total sent through the API is refused as INVALID_INPUT rather than accepted.
MAX_AMOUNT = 10**9
MAX_LINES = 500
MAX_POINTS = 10**8  # one purchase: far beyond any basket, far inside the API's 32-bit Int


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    category: str | None
    quantity: int
    amount: int  # minor units, the line's total after item discounts


@dataclass(frozen=True, slots=True)
class Quote:
    points_to_earn: int
    base_points: int  # qualifying: before the tier multiplier
    points_to_redeem: int
    discount: int  # minor units paid with points
    amount_due: int  # minor units paid with money


def point_value(rules: ProgramRules, points: int) -> Fraction:
    return Fraction(points * rules.point_value_amount, rules.point_value_points)


def max_redeemable(rules: ProgramRules, *, total: int | None, available: int) -> int:
    """The most points this member may pay with on a total (all of the balance without one)."""
    cap = max(available, 0)
    if total is not None:
        money_cap = Fraction(total * rules.redeem_max_percent, 100)
        if rules.point_value_amount > 0:
            cap = min(cap, int(money_cap * rules.point_value_points / rules.point_value_amount))
    return cap if cap >= rules.redeem_min_points else 0


def check_lines(total: int, lines: list[Line] | None) -> list[Line]:
    if total <= 0:
        raise InvalidInput("The total must be more than zero.", field="total")
    if total > MAX_AMOUNT:
        raise InvalidInput("The total is too large.", field="total")
    if not lines:
        return [Line(sku="", category=None, quantity=1, amount=total)]
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"At most {MAX_LINES} lines.", field="lines")
    for line in lines:
        if line.amount < 0 or line.amount > MAX_AMOUNT:
            raise InvalidInput("A line's amount is zero or more.", field="lines")
        if line.quantity <= 0 or line.quantity > 1_000_000:
            raise InvalidInput("A line's quantity is 1 or more.", field="lines")
        if not line.sku.strip() or len(line.sku) > 64 or not line.sku.isprintable():
            raise InvalidInput("A line needs a SKU of at most 64 characters.", field="lines")
        if line.category is not None and (
            len(line.category) > 50 or not line.category.isprintable()
        ):
            raise InvalidInput("A line's category is at most 50 characters.", field="lines")
    if sum(line.amount for line in lines) != total:
        raise LinesMismatch(
            f"The lines add up to {sum(line.amount for line in lines)}, the total is {total}.",
            field="lines",
        )
    return lines


def quote(
    rules: ProgramRules,
    tier: Tier,
    *,
    total: int,
    lines: list[Line],
    redeem_points: int,
    available: int,
) -> Quote:
    """What a purchase earns and costs. `lines` were checked by `check_lines`."""
    if redeem_points < 0:
        raise InvalidInput("Points to redeem cannot be negative.", field="redeemPoints")
    discount = Fraction(0)
    if redeem_points:
        if redeem_points < rules.redeem_min_points:
            raise RedemptionNotAllowed(
                f"Redeem at least {rules.redeem_min_points} points at a time.", field="redeemPoints"
            )
        limit = max_redeemable(rules, total=total, available=10**18)
        if redeem_points > limit:
            raise RedemptionNotAllowed(
                f"At most {limit} points can pay for this purchase "
                f"({rules.redeem_max_percent} % of the total).",
                field="redeemPoints",
            )
        discount = point_value(rules, redeem_points)
        if discount.denominator != 1:
            step = rules.point_value_points // math.gcd(
                rules.point_value_points, rules.point_value_amount
            )
            raise RedemptionNotAllowed(f"Redeem a multiple of {step} points.", field="redeemPoints")
        if redeem_points > available:
            raise InsufficientPoints(available=max(available, 0), field="redeemPoints")
    rate = Fraction(rules.earn_points, rules.earn_per_amount)
    base = Fraction(0)
    earned = Fraction(0)
    tier_multiplier = Fraction(tier.multiplier_percent, 100)
    for line in lines:
        paid = line.amount - discount * Fraction(line.amount, total)
        rule = rules.category_rules.get(line.category or "")
        category_multiplier = Fraction(rule.multiplier_percent, 100) if rule else Fraction(1)
        line_base = paid * rate * category_multiplier
        base += line_base
        earned += line_base * tier_multiplier
    if earned > MAX_POINTS:
        raise InvalidInput(
            f"This purchase would earn more than {MAX_POINTS} points.", field="total"
        )
    return Quote(
        points_to_earn=int(earned),  # int() of a non-negative Fraction rounds down
        base_points=int(base),
        points_to_redeem=redeem_points,
        discount=int(discount),
        amount_due=total - int(discount),
    )


@dataclass(frozen=True, slots=True)
class RefundSplit:
    points_reversed: int  # earned points taken back by this refund
    points_restored: int  # redeemed points given back by this refund
    qualifying_reversed: int


def refund_split(
    *,
    amount_paid: int,
    refunded_before: int,
    amount: int,
    points_earned: int,
    points_redeemed: int,
    base_points: int,
    reversed_before: int,
    restored_before: int,
    qualifying_reversed_before: int,
) -> RefundSplit:
    """Cumulative proportions: after refunding R of P, ceil(earned * R / P) has been taken back
    and floor(redeemed * R / P) given back, whatever the number of partial refunds."""
    refunded_after = refunded_before + amount
    reversed_after = _ceil_div(points_earned * refunded_after, amount_paid)
    restored_after = (points_redeemed * refunded_after) // amount_paid
    qualifying_after = _ceil_div(base_points * refunded_after, amount_paid)
    return RefundSplit(
        points_reversed=reversed_after - reversed_before,
        points_restored=restored_after - restored_before,
        qualifying_reversed=qualifying_after - qualifying_reversed_before,
    )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
