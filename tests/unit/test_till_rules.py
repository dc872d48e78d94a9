"""The till's pure arithmetic (app/checkout/rules.py): earning, redeeming, lines, refunds.

Default rules (DESIGN.md) in USD: 1 point per 1.00 (100 cents) paid, 100 points = 1.00 (so one
point pays one cent), redeem at least 100 points and at most 50 % of the total, gift-cards earn
nothing, tiers earn x1.0 / x1.25 / x1.5 / x2.0.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.checkout import rules as till
from app.checkout.rules import Line, Quote, RefundSplit
from app.errors import DomainError, InsufficientPoints
from app.program.rules import CategoryRule, default_rules

RULES = default_rules(name="Loyalty", currency="USD")
BRONZE, SILVER, GOLD, PLATINUM = RULES.tiers
CATEGORIES = dataclasses.replace(
    RULES,
    category_rules={
        "gift-cards": CategoryRule(0),
        "coffee": CategoryRule(300),
        "bakery": CategoryRule(150),
    },
)


def quote(total, lines=None, *, rules=RULES, tier=BRONZE, redeem=0, available=0) -> Quote:
    return till.quote(
        rules,
        tier,
        total=total,
        lines=till.check_lines(total, lines),
        redeem_points=redeem,
        available=available,
    )


def error_of(call, *args, **kwargs) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as raised:
        call(*args, **kwargs)
    return raised.value.code, raised.value.field


# -- earning -------------------------------------------------------------------------------------


def test_earns_one_point_per_whole_unit_paid_rounded_down() -> None:
    # when: 19.99 paid -> 19.99 points, rounded down
    result = quote(1999)

    # then
    assert result == Quote(
        points_to_earn=19, base_points=19, points_to_redeem=0, discount=0, amount_due=1999
    )


def test_a_purchase_without_lines_is_one_line_of_no_category() -> None:
    # when
    without = till.check_lines(1999, None)
    empty = till.check_lines(1999, [])

    # then
    assert without == [Line(sku="", category=None, quantity=1, amount=1999)]
    assert empty == without


def test_category_multipliers_and_exclusions_apply_per_line() -> None:
    # given: 8000 = 1000 + 1010 + 5000 + 990
    lines = [
        Line("ESPRESSO", "coffee", 2, 1000),
        Line("CROISSANT", "bakery", 1, 1010),
        Line("GIFT-50", "gift-cards", 1, 5000),
        Line("MILK", None, 1, 990),
    ]

    # when
    result = quote(8000, lines, rules=CATEGORIES)

    # then: 10.00 x3 = 30 ; 10.10 x1.5 = 15.15 ; gift-cards 50.00 x0 = 0 ; 9.90 x1 = 9.90
    #       30 + 15.15 + 0 + 9.90 = 55.05 -> 55
    assert (result.points_to_earn, result.base_points) == (55, 55)


def test_gift_cards_earn_nothing() -> None:
    # when
    result = quote(5000, [Line("GIFT-50", "gift-cards", 1, 5000)])

    # then
    assert (result.points_to_earn, result.base_points, result.amount_due) == (0, 0, 5000)


def test_a_category_without_a_rule_earns_the_base_rate() -> None:
    # when: "toys" has no rule: 12.50 x1 = 12.5 -> 12
    result = quote(1250, [Line("BEAR", "toys", 1, 1250)], rules=CATEGORIES)

    # then
    assert (result.points_to_earn, result.base_points) == (12, 12)


@pytest.mark.parametrize(
    ("tier", "earned"),
    [
        (BRONZE, 12),  # 12.34 x1.00 = 12.34 -> 12
        (SILVER, 15),  # 12.34 x1.25 = 15.425 -> 15
        (GOLD, 18),  # 12.34 x1.50 = 18.51 -> 18
        (PLATINUM, 24),  # 12.34 x2.00 = 24.68 -> 24
    ],
)
def test_the_tier_multiplies_what_a_purchase_earns(tier, earned) -> None:
    # when
    result = quote(1234, tier=tier)

    # then: the qualifying (base) points are before the tier multiplier
    assert (result.points_to_earn, result.base_points) == (earned, 12)


def test_tier_and_category_multipliers_combine_per_line() -> None:
    # given: 40.00 = 10.00 coffee + 30.00 gift cards
    lines = [Line("ESPRESSO", "coffee", 1, 1000), Line("GIFT-30", "gift-cards", 1, 3000)]

    # when
    result = quote(4000, lines, rules=CATEGORIES, tier=GOLD)

    # then: 10.00 x3 = 30 base, x1.5 = 45 ; gift cards 0
    assert (result.points_to_earn, result.base_points) == (45, 30)


def test_the_purchase_is_rounded_once_not_per_line() -> None:
    # given: two lines of 1.50 for a SILVER member
    lines = [Line("A", None, 1, 150), Line("B", None, 1, 150)]

    # when
    whole = quote(300, lines, tier=SILVER)
    per_line = sum(quote(150, [line], tier=SILVER).points_to_earn for line in lines)

    # then: once: (1.50 + 1.50) x1.25 = 3.75 -> 3 ; per line: 1.875 -> 1, twice = 2
    assert (whole.points_to_earn, whole.base_points) == (3, 3)
    assert per_line == 2


def test_the_points_discount_is_spread_over_the_lines_in_proportion() -> None:
    # given: 100.00 = 60.00 coffee + 40.00 gift cards, paying 10.00 with 1000 points
    lines = [Line("BEANS", "coffee", 1, 6000), Line("GIFT-40", "gift-cards", 1, 4000)]

    # when
    result = quote(10000, lines, redeem=1000, available=1000)

    # then: the discount splits 60 % / 40 %: coffee pays 60.00 - 6.00 = 54.00 -> 54 points,
    #       gift cards 40.00 - 4.00 = 36.00 -> 0. (All of it on the coffee would earn 50, all of
    #       it on the gift cards 60.)
    assert result == Quote(
        points_to_earn=54, base_points=54, points_to_redeem=1000, discount=1000, amount_due=9000
    )


def test_a_discount_spread_in_thirds_is_kept_exact_until_the_end() -> None:
    # given: 30.00 = 10.00 coffee (x3) + 20.00 plain, paying 10.00 with points
    lines = [Line("ESPRESSO", "coffee", 1, 1000), Line("MUG", None, 1, 2000)]

    # when
    result = quote(3000, lines, rules=CATEGORIES, redeem=1000, available=5000)

    # then: coffee pays 10.00 - 10.00/3 = 6.666.. -> x3 = 20 exactly ; the mug pays
    #       20.00 - 20.00/3 = 13.333.. ; 20 + 13.333.. = 33.333.. -> 33, rounded once
    assert (result.points_to_earn, result.base_points, result.amount_due) == (33, 33, 2000)


def test_a_zero_amount_line_earns_nothing_and_is_allowed() -> None:
    # when: 5.00 + a free 0.00 line
    result = quote(500, [Line("BAG", None, 1, 0), Line("SOAP", None, 1, 500)])

    # then
    assert (result.points_to_earn, result.amount_due) == (5, 500)


# -- redeeming -----------------------------------------------------------------------------------


def test_redeeming_pays_one_cent_per_point_and_earns_on_the_rest() -> None:
    # when: 100.00 paying 1.00 with 100 points
    result = quote(10000, redeem=100, available=100)

    # then: 99.00 paid -> 99 points
    assert result == Quote(
        points_to_earn=99, base_points=99, points_to_redeem=100, discount=100, amount_due=9900
    )


def test_redeeming_under_the_minimum_is_refused() -> None:
    # when
    error = error_of(quote, 10000, redeem=99, available=1000)

    # then
    assert error == ("REDEMPTION_NOT_ALLOWED", "redeemPoints")


def test_redeeming_half_the_total_is_allowed() -> None:
    # when: 100.00, 50 % = 50.00 = 5000 points
    result = quote(10000, redeem=5000, available=5000)

    # then: 50.00 paid -> 50 points
    assert result == Quote(
        points_to_earn=50, base_points=50, points_to_redeem=5000, discount=5000, amount_due=5000
    )


def test_redeeming_over_half_the_total_is_refused() -> None:
    # when
    error = error_of(quote, 10000, redeem=5001, available=10000)

    # then
    assert error == ("REDEMPTION_NOT_ALLOWED", "redeemPoints")


def test_the_cap_of_an_odd_total_rounds_down_to_a_whole_point() -> None:
    # when: 50 % of 123.45 is 61.725 -> 6172.5 points -> 6172
    cap = till.max_redeemable(RULES, total=12345, available=10000)
    at_cap = quote(12345, redeem=6172, available=10000)
    over = error_of(quote, 12345, redeem=6173, available=10000)

    # then: 123.45 - 61.72 = 61.73 paid -> 61 points
    assert cap == 6172
    assert (at_cap.discount, at_cap.amount_due, at_cap.points_to_earn) == (6172, 6173, 61)
    assert over == ("REDEMPTION_NOT_ALLOWED", "redeemPoints")


@pytest.mark.parametrize(
    ("total", "available", "expected"),
    [
        (None, 250, 250),  # without a total: all of the balance
        (10000, 150, 150),  # the balance is under the cap of 5000
        (10000, 9000, 5000),  # the cap: 50 % of 100.00
        (10000, 99, 0),  # under the minimum of 100: nothing
        (199, 1000, 0),  # the cap of 1.99 is 99 points: under the minimum
        (200, 1000, 100),  # the cap of 2.00 is exactly the minimum
        (None, -40, 0),  # a debt: nothing
    ],
)
def test_max_redeemable(total, available, expected) -> None:
    # when
    result = till.max_redeemable(RULES, total=total, available=available)

    # then
    assert result == expected


def test_redeeming_more_than_available_is_refused_with_the_balance() -> None:
    # when
    with pytest.raises(InsufficientPoints) as raised:
        quote(10000, redeem=400, available=300)

    # then
    assert (raised.value.code, raised.value.field, raised.value.available) == (
        "INSUFFICIENT_POINTS",
        "redeemPoints",
        300,
    )


def test_a_member_in_debt_is_told_zero_is_available() -> None:
    # when
    with pytest.raises(InsufficientPoints) as raised:
        quote(10000, redeem=100, available=-50)

    # then
    assert raised.value.available == 0


def test_redeeming_negative_points_is_refused() -> None:
    # when
    error = error_of(quote, 10000, redeem=-100, available=1000)

    # then
    assert error == ("INVALID_INPUT", "redeemPoints")


def test_redemption_is_in_whole_units_of_money() -> None:
    # given: in yen, 100 points = 1 yen, so 150 points would be 1.5 yen
    yen = default_rules(name="Loyalty", currency="JPY")

    # when
    error = error_of(quote, 10000, rules=yen, redeem=150, available=1000)
    allowed = quote(10000, rules=yen, redeem=200, available=1000)

    # then: 200 points = 2 yen ; 9998 yen paid at 1 point per yen
    assert error == ("REDEMPTION_NOT_ALLOWED", "redeemPoints")
    assert (allowed.discount, allowed.amount_due, allowed.points_to_earn) == (2, 9998, 9998)


def test_the_most_redeemable_is_in_whole_units_of_money() -> None:
    # given: in yen, 100 points = 1 yen
    yen = default_rules(name="Loyalty", currency="JPY")

    # when: half of 1999 yen is 999.5 yen, 99950 points; a balance of 250 points
    on_total = till.max_redeemable(yen, total=1999, available=10**6)
    on_balance = till.max_redeemable(yen, total=None, available=250)

    # then: what is shown can be redeemed as it is
    assert (on_total, on_balance) == (99900, 200)
    assert quote(1999, rules=yen, redeem=on_total, available=10**6).discount == 999


# -- lines and totals ----------------------------------------------------------------------------


def test_lines_that_do_not_add_up_are_refused() -> None:
    # when: 6.00 + 3.00 != 10.00
    error = error_of(till.check_lines, 1000, [Line("A", None, 1, 600), Line("B", None, 1, 300)])

    # then
    assert error == ("LINES_MISMATCH", "lines")


def test_lines_adding_up_are_kept_as_given() -> None:
    # given
    lines = [Line("A", "coffee", 2, 600), Line("B", None, 1, 400)]

    # when
    checked = till.check_lines(1000, lines)

    # then
    assert checked == lines


@pytest.mark.parametrize("total", [0, -1, -10000, 10**9 + 1, 2**31, 10**18])
def test_zero_negative_and_absurd_totals_are_refused(total) -> None:
    # when
    error = error_of(till.check_lines, total, None)

    # then
    assert error == ("INVALID_INPUT", "total")


def test_the_largest_total_earns_exactly() -> None:
    # when: 10**9 cents (10 000 000.00), half of it paid with points, at PLATINUM x2
    result = quote(10**9, tier=PLATINUM, redeem=5 * 10**8, available=10**9)

    # then: 5 * 10**8 cents paid -> 5 * 10**6 base points, x2 = 10**7
    assert result == Quote(
        points_to_earn=10**7,
        base_points=5 * 10**6,
        points_to_redeem=5 * 10**8,
        discount=5 * 10**8,
        amount_due=5 * 10**8,
    )


def test_a_line_over_the_largest_amount_is_refused() -> None:
    # when: a line of 10**9 + 1 against a negative one would add up to the total of 1
    error = error_of(
        till.check_lines, 1, [Line("A", None, 1, 10**9 + 1), Line("B", None, 1, -(10**9))]
    )

    # then
    assert error == ("INVALID_INPUT", "lines")


@pytest.mark.parametrize(
    "bad",
    [
        Line("A", None, 1, -1),  # negative amount
        Line("A", None, 0, 100),  # no quantity
        Line("A", None, -2, 100),  # negative quantity
        Line("", None, 1, 100),  # no SKU
        Line("   ", None, 1, 100),  # a blank SKU
        Line("A" * 65, None, 1, 100),  # a SKU over 64 characters
        Line("A\x00B", None, 1, 100),  # a control character
        Line("A", "c" * 51, 1, 100),  # a category over 50 characters
        Line("A", "gift\x00cards", 1, 100),  # a control character in the category
    ],
)
def test_a_bad_line_is_refused(bad) -> None:
    # when
    error = error_of(till.check_lines, 100, [bad])

    # then
    assert error == ("INVALID_INPUT", "lines")


def test_more_than_500_lines_are_refused() -> None:
    # when
    error = error_of(till.check_lines, 501, [Line(f"S{i}", None, 1, 1) for i in range(501)])

    # then
    assert error == ("INVALID_INPUT", "lines")


def test_unicode_skus_are_accepted() -> None:
    # given
    lines = [Line("café-au-lait", "coffee", 1, 450), Line("茶", None, 1, 550)]

    # when
    checked = till.check_lines(1000, lines)

    # then
    assert checked == lines


# -- refunds -------------------------------------------------------------------------------------


def split(amount_paid, refunded_before, amount, earned, redeemed, base, before=(0, 0, 0)):
    return till.refund_split(
        amount_paid=amount_paid,
        refunded_before=refunded_before,
        amount=amount,
        points_earned=earned,
        points_redeemed=redeemed,
        base_points=base,
        reversed_before=before[0],
        restored_before=before[1],
        qualifying_reversed_before=before[2],
    )


def test_a_full_refund_takes_back_all_earned_and_gives_back_all_redeemed() -> None:
    # when: 399.00 paid, 399 earned, 100 redeemed
    result = split(39900, 0, 39900, 399, 100, 399)

    # then
    assert result == RefundSplit(points_reversed=399, points_restored=100, qualifying_reversed=399)


def test_a_partial_refund_takes_back_rounded_up_and_gives_back_rounded_down() -> None:
    # when: a third of 399.00 back: 399 / 3 = 133 earned back ; 100 / 3 = 33.3 -> 33 given back
    first = split(39900, 0, 13300, 399, 100, 399)
    # and the other two thirds: 399 - 133 = 266 ; 100 - 33 = 67
    second = split(39900, 13300, 26600, 399, 100, 399, before=(133, 33, 133))

    # then
    assert first == RefundSplit(points_reversed=133, points_restored=33, qualifying_reversed=133)
    assert second == RefundSplit(points_reversed=266, points_restored=67, qualifying_reversed=266)


def test_three_odd_partial_refunds_add_up_exactly() -> None:
    # given: 10.00 paid, 10 earned (8 of them base points), 7 redeemed
    # when: 0.01 back: ceil(10 x 1/1000) = 1 ; floor(7 x 1/1000) = 0 ; ceil(8 x 1/1000) = 1
    one = split(1000, 0, 1, 10, 7, 8)
    # 3.33 more (3.34 in all): ceil(10 x 0.334) = ceil(3.34) = 4 -> 3 more ;
    #   floor(7 x 0.334) = floor(2.338) = 2 ; ceil(8 x 0.334) = ceil(2.672) = 3 -> 2 more
    two = split(1000, 1, 333, 10, 7, 8, before=(1, 0, 1))
    # the last 6.66: 10 - 4 = 6 ; 7 - 2 = 5 ; 8 - 3 = 5
    three = split(1000, 334, 666, 10, 7, 8, before=(4, 2, 3))

    # then
    assert one == RefundSplit(points_reversed=1, points_restored=0, qualifying_reversed=1)
    assert two == RefundSplit(points_reversed=3, points_restored=2, qualifying_reversed=2)
    assert three == RefundSplit(points_reversed=6, points_restored=5, qualifying_reversed=5)


@st.composite
def refund_sequences(draw):
    amount_paid = draw(st.integers(min_value=1, max_value=10**9))
    cuts = draw(
        st.lists(
            st.integers(min_value=1, max_value=max(amount_paid - 1, 1)),
            max_size=min(12, amount_paid - 1),
            unique=True,
        )
    )
    bounds = [0, *sorted(cuts), amount_paid]
    amounts = [b - a for a, b in itertools.pairwise(bounds)]
    earned = draw(st.integers(min_value=0, max_value=10**7))
    redeemed = draw(st.integers(min_value=0, max_value=10**7))
    base = draw(st.integers(min_value=0, max_value=earned))
    return amount_paid, amounts, earned, redeemed, base


@given(refund_sequences())
def test_any_sequence_of_partial_refunds_adds_up_exactly(case) -> None:
    # given
    amount_paid, amounts, earned, redeemed, base = case
    reversed_, restored, qualifying, refunded = 0, 0, 0, 0

    # when / then: after each step, exactly ceil(earned x R/P) taken back and
    # floor(redeemed x R/P) given back, where R is what was refunded so far
    for amount in amounts:
        step = split(
            amount_paid, refunded, amount, earned, redeemed, base, (reversed_, restored, qualifying)
        )
        assert step.points_reversed >= 0
        assert step.points_restored >= 0
        assert step.qualifying_reversed >= 0
        refunded += amount
        reversed_ += step.points_reversed
        restored += step.points_restored
        qualifying += step.qualifying_reversed
        share = Fraction(refunded, amount_paid)
        assert reversed_ == math.ceil(earned * share)
        assert restored == math.floor(redeemed * share)
        assert qualifying == math.ceil(base * share)

    assert refunded == amount_paid
    assert (reversed_, restored, qualifying) == (earned, redeemed, base)
