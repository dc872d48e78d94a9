"""The till's arithmetic: redemption limits, points per line, refunds. Pure and exact.

A purchase's points are computed per line in exact arithmetic (the points discount spread over
the lines in proportion to their amounts; category and tier multipliers per line) and rounded
once, down, for the whole purchase. Refunds take back earned points rounded up and give back
redeemed points rounded down, cumulatively, so that several partial refunds add up exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from app.errors import InsufficientPoints, InvalidInput, LinesMismatch, RedemptionNotAllowed
from app.program.rules import ProgramRules, Tier

# Minor units: 10 000 000.00, far beyond any basket, and below GraphQL's 32-bit Int, so that an
# absurd total sent through the API is refused as INVALID_INPUT rather than accepted.
MAX_QUANTITY = 1_000_000
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
class OfferTerms:
    """An offer this member may use on this purchase (who, when and where were checked by the
    offers' rules): what it gives, on which lines."""

    id: uuid.UUID
    title: str
    kind: str  # BONUS_POINTS | POINTS_MULTIPLIER | PERCENT_DISCOUNT
    value: int  # points; or percent (200 = x2; 10 = 10 % off)
    categories: frozenset[str] = frozenset()  # empty: every line
    min_spend: int | None = None  # on the matching lines, before discounts

    def matches(self, line: Line) -> bool:
        return not self.categories or (line.category or "") in self.categories


@dataclass(frozen=True, slots=True)
class AppliedOffer:
    id: uuid.UUID
    title: str
    kind: str
    points: int  # what it added to the points earned
    discount: int  # minor units it took off the total


@dataclass(frozen=True, slots=True)
class Quote:
    points_to_earn: int  # all of it, offers' points included
    base_points: int  # qualifying: before the tier multiplier
    points_to_redeem: int
    discount: int  # minor units paid with points
    amount_due: int  # minor units paid with money
    offer_discount: int = 0  # minor units taken off by offers
    applied_offers: tuple[AppliedOffer, ...] = ()

    @property
    def offer_points(self) -> int:
        return sum(offer.points for offer in self.applied_offers)


def point_value(rules: ProgramRules, points: int) -> Fraction:
    return Fraction(points * rules.point_value_amount, rules.point_value_points)


def redemption_step(rules: ProgramRules) -> int:
    """The points that pay for whole minor units: 1 when a point is worth a cent or more, 100
    when 100 points are worth ¥1."""
    return rules.point_value_unit[0]


def max_redeemable(rules: ProgramRules, *, total: int | None, available: int) -> int:
    """The most points this member may pay with on a total (all of the balance without one),
    in whole steps, so that the number shown can be redeemed as it is."""
    cap = max(available, 0)
    if total is not None:
        money_cap = Fraction(total * rules.redeem_max_percent, 100)
        if rules.point_value_amount > 0:
            cap = min(cap, int(money_cap * rules.point_value_points / rules.point_value_amount))
    cap -= cap % redemption_step(rules)
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
            raise InvalidInput(f"A line's amount is 0 to {MAX_AMOUNT}.", field="lines")
        if line.quantity <= 0 or line.quantity > MAX_QUANTITY:
            raise InvalidInput(f"A line's quantity is 1 to {MAX_QUANTITY}.", field="lines")
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
    offers: Sequence[OfferTerms] = (),
) -> Quote:
    """What a purchase earns and costs. `lines` were checked by `check_lines`.

    Offers first take their discounts off the lines they match (on each line the best
    percentage), then points pay for at most the redeemable share of what is left, spread over
    the lines; each line earns on what was paid for it with money, times its category's and the
    tier's multipliers, times the best points multiplier among the offers that match it; bonus
    points are added. Everything is exact until one rounding down for the whole purchase (and
    one for the offers' money discount); each offer's share comes from cumulative roundings, so
    the shares add up to the totals exactly."""
    playing = [offer for offer in offers if _in_play(offer, lines)]
    exact_cut = [_best(playing, line, "PERCENT_DISCOUNT") for line in lines]
    cut_by_offer: dict[uuid.UUID, Fraction] = {}
    for line, best in zip(lines, exact_cut, strict=True):
        if best is not None:
            cut = Fraction(line.amount * best.value, 100)
            cut_by_offer[best.id] = cut_by_offer.get(best.id, Fraction(0)) + cut
    exact_offer_discount = sum(cut_by_offer.values(), Fraction(0))
    offer_discount = int(exact_offer_discount)  # rounded down, once
    scale = offer_discount / exact_offer_discount if exact_offer_discount else Fraction(0)
    amounts = [
        line.amount - (Fraction(line.amount * best.value, 100) * scale if best else 0)
        for line, best in zip(lines, exact_cut, strict=True)
    ]
    subtotal = total - offer_discount
    if redeem_points < 0:
        raise InvalidInput("Points to redeem cannot be negative.", field="redeemPoints")
    discount = Fraction(0)
    if redeem_points:
        if redeem_points < rules.redeem_min_points:
            raise RedemptionNotAllowed(
                f"Redeem at least {rules.redeem_min_points} points at a time.", field="redeemPoints"
            )
        limit = max_redeemable(rules, total=subtotal, available=10**18)
        if redeem_points > limit:
            raise RedemptionNotAllowed(
                f"At most {limit} points can pay for this purchase "
                f"({rules.redeem_max_percent} % of the total).",
                field="redeemPoints",
            )
        discount = point_value(rules, redeem_points)
        if discount.denominator != 1:
            step = redemption_step(rules)
            raise RedemptionNotAllowed(f"Redeem a multiple of {step} points.", field="redeemPoints")
        if redeem_points > available:
            raise InsufficientPoints(available=max(available, 0), field="redeemPoints")
    rate = Fraction(rules.earn_points, rules.earn_per_amount)
    base = Fraction(0)
    earned = Fraction(0)
    tier_multiplier = Fraction(tier.multiplier_percent, 100)
    extra: dict[uuid.UUID, Fraction] = {}
    for line, amount in zip(lines, amounts, strict=True):
        paid = amount - (discount * amount / subtotal if subtotal else 0)
        rule = rules.category_rules.get(line.category or "")
        category_multiplier = Fraction(rule.multiplier_percent, 100) if rule else Fraction(1)
        line_base = paid * rate * category_multiplier
        base += line_base
        line_earned = line_base * tier_multiplier
        earned += line_earned
        boost = _best(playing, line, "POINTS_MULTIPLIER")
        if boost is not None:
            more = line_earned * Fraction(boost.value - 100, 100)
            extra[boost.id] = extra.get(boost.id, Fraction(0)) + more
    for offer in playing:
        if offer.kind == "BONUS_POINTS":
            extra[offer.id] = extra.get(offer.id, Fraction(0)) + offer.value
    if earned + sum(extra.values(), Fraction(0)) > MAX_POINTS:
        raise InvalidInput(
            f"This purchase would earn more than {MAX_POINTS} points.", field="total"
        )
    # Cumulative roundings: the purchase's points are floor(earned + every offer's part),
    # rounded once; an offer's share is what adding its part adds to that floor.
    applied = []
    points_so_far, running = int(earned), earned
    cut_so_far, cut_running = 0, Fraction(0)
    for offer in playing:
        running += extra.get(offer.id, Fraction(0))
        cut_running += cut_by_offer.get(offer.id, Fraction(0))
        points, money = int(running) - points_so_far, int(cut_running) - cut_so_far
        points_so_far, cut_so_far = points_so_far + points, cut_so_far + money
        if points or money:
            applied.append(AppliedOffer(offer.id, offer.title, offer.kind, points, money))
    return Quote(
        points_to_earn=points_so_far,  # int() of a non-negative Fraction rounds down
        base_points=int(base),
        points_to_redeem=redeem_points,
        discount=int(discount),
        amount_due=subtotal - int(discount),
        offer_discount=offer_discount,
        applied_offers=tuple(applied),
    )


def _in_play(offer: OfferTerms, lines: list[Line]) -> bool:
    """An offer plays when the basket has lines it matches, for at least its minimum spend."""
    spend = sum(line.amount for line in lines if offer.matches(line))
    return spend > 0 and spend >= (offer.min_spend or 0)


def _best(offers: list[OfferTerms], line: Line, kind: str) -> OfferTerms | None:
    """The offer of `kind` giving the most on this line (the first of equals): offers of one
    kind do not stack on a line."""
    best = None
    for offer in offers:
        better = best is None or offer.value > best.value
        if offer.kind == kind and offer.matches(line) and better:
            best = offer
    return best


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
