"""Offers without a database: who may use an offer when and where, the arithmetic of offers on
a basket (app.checkout.rules.quote), the checks of a new offer, and the ranking by fit."""

from __future__ import annotations

import datetime as dt
import uuid
from fractions import Fraction

import pytest

from app.checkout import rules as till
from app.checkout.rules import AppliedOffer, Line, OfferTerms
from app.errors import InvalidInput, RedemptionNotAllowed
from app.kit.pagination import InvalidCursor
from app.offers import rules
from app.offers.models import Audience, Offer
from app.offers.rules import MemberFacts, NewOffer, Spend, Unavailable
from app.program import rules as program_rules

PROGRAM = program_rules.default_rules(name="Loyalty", currency="USD")
BRONZE, SILVER, GOLD, PLATINUM = PROGRAM.tiers
NOW = dt.datetime(2026, 6, 3, 12, 0, tzinfo=dt.UTC)  # a Wednesday
MEMBER = uuid.UUID("00000000-0000-4000-8000-000000000001")
STORE = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
DAY = dt.timedelta(days=1)


def offer(title: str = "offer", **fields) -> Offer:
    values = {
        "id": uuid.uuid5(uuid.NAMESPACE_URL, title),
        "title": title,
        "description": title,
        "kind": "BONUS_POINTS",
        "value": 100,
        "created_at": NOW - DAY,
    }
    values.update(fields)
    return Offer(**values)


def facts(**fields) -> MemberFacts:
    values = {
        "member_id": MEMBER,
        "tier_code": "BRONZE",
        "early_access_days": 0,
        "joined_at": NOW - 400 * DAY,
        "birth_date": None,
        "last_purchase_at": NOW - 3 * DAY,
    }
    values.update(fields)
    return MemberFacts(**values)


def terms(kind: str, value: int, *, title: str = "", **fields) -> OfferTerms:
    name = title or f"{kind} {value}"
    return OfferTerms(uuid.uuid5(uuid.NAMESPACE_URL, name), name, kind, value, **fields)


def quote(total: int, lines: list[Line] | None = None, *, tier=BRONZE, redeem: int = 0, offers=()):
    checked = till.check_lines(total, lines)
    return till.quote(
        PROGRAM, tier, total=total, lines=checked, redeem_points=redeem, available=10**6,
        offers=offers,
    )  # fmt: skip


# -- availability ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "member", "expected"),
    [
        ({}, {}, None),
        ({"ends_at": NOW}, {}, Unavailable.ENDED),
        ({"starts_at": NOW + DAY}, {}, Unavailable.NOT_STARTED),
        ({"starts_at": NOW + DAY}, {"early_access_days": 1}, None),
        ({"starts_at": NOW + 2 * DAY}, {"early_access_days": 1}, Unavailable.NOT_STARTED),
        ({"tier_codes": ["GOLD"]}, {}, Unavailable.TIER),
        ({"tier_codes": ["GOLD"]}, {"tier_code": "GOLD"}, None),
        ({"audience": Audience.NEW_MEMBERS}, {}, Unavailable.AUDIENCE),
        ({"audience": Audience.NEW_MEMBERS}, {"joined_at": NOW - 29 * DAY}, None),
        ({"audience": Audience.BIRTHDAY}, {"birth_date": dt.date(1990, 7, 3)}, "AUDIENCE"),
        ({"audience": Audience.BIRTHDAY}, {"birth_date": dt.date(1990, 6, 30)}, None),
        ({"audience": Audience.WIN_BACK}, {"last_purchase_at": NOW - 59 * DAY}, "AUDIENCE"),
        ({"audience": Audience.WIN_BACK}, {"last_purchase_at": NOW - 60 * DAY}, None),
        ({"audience": Audience.WIN_BACK}, {"last_purchase_at": None}, None),
        (
            {"audience": Audience.WIN_BACK},
            {"last_purchase_at": None, "joined_at": NOW - 10 * DAY},
            Unavailable.AUDIENCE,
        ),
        ({"uses_per_member": 2}, {"uses": {offer().id: 1}}, None),
        ({"uses_per_member": 2}, {"uses": {offer().id: 2}}, Unavailable.USED_UP),
    ],
)
def test_availability(fields, member, expected) -> None:
    # when
    why = rules.unavailable(offer(**fields), facts(**member), NOW)

    # then
    assert why == expected


def test_a_rollout_picks_the_same_members_every_time_and_about_its_share() -> None:
    # given
    members = [uuid.UUID(int=n) for n in range(2000)]
    some = offer(rollout_percent=30)

    # when
    reached = [m for m in members if rules.in_rollout(some.id, m, 30)]
    again = [m for m in members if rules.in_rollout(some.id, m, 30)]

    # then
    assert reached == again
    assert 500 < len(reached) < 700
    assert rules.unavailable(some, facts(member_id=reached[0]), NOW) is None
    outside = next(m for m in members if m not in set(reached))
    assert rules.unavailable(some, facts(member_id=outside), NOW) == Unavailable.ROLLOUT


@pytest.mark.parametrize(
    ("fields", "timezone", "expected"),
    [
        ({}, "UTC", True),
        ({"store_ids": [str(STORE)]}, "UTC", True),
        ({"store_ids": [str(uuid.uuid4())]}, "UTC", False),
        ({"weekdays": [3]}, "UTC", True),  # Wednesday
        ({"weekdays": [6, 7]}, "UTC", False),
        ({"hour_from": 12, "hour_to": 13}, "UTC", True),
        ({"hour_from": 13, "hour_to": 18}, "UTC", False),
        # 12:00 UTC is 08:00 in New York: the store's time zone decides
        ({"hour_from": 7, "hour_to": 9}, "America/New_York", True),
        ({"hour_from": 12, "hour_to": 13}, "America/New_York", False),
        # 12:00 UTC is 22:00 in Sydney, across midnight: 21 to 2
        ({"hour_from": 21, "hour_to": 2}, "Australia/Sydney", True),
        ({"hour_from": 23, "hour_to": 2}, "Australia/Sydney", False),
        # at UTC+14 (Kiritimati) 12:00 UTC is already Thursday, 02:00
        ({"weekdays": [4]}, "Pacific/Kiritimati", True),
    ],
)
def test_store_weekday_and_hours_at_the_stores_local_time(fields, timezone, expected) -> None:
    # when
    usable = rules.usable_at_purchase(
        offer(**fields), facts(), now=NOW, store_id=STORE, timezone=timezone
    )

    # then
    assert usable is expected


def test_an_offer_needing_activation_applies_only_once_activated() -> None:
    # given
    needs = offer(requires_activation=True)

    # when
    before = rules.usable_at_purchase(needs, facts(), now=NOW, store_id=STORE, timezone="UTC")
    after = rules.usable_at_purchase(
        needs, facts(activated=frozenset({needs.id})), now=NOW, store_id=STORE, timezone="UTC"
    )

    # then
    assert (before, after) == (False, True)


# -- the arithmetic on a basket --------------------------------------------------------------------


def test_without_offers_the_quote_is_unchanged() -> None:
    # when
    result = quote(1050)

    # then
    assert (result.points_to_earn, result.offer_discount, result.applied_offers) == (10, 0, ())


def test_bonus_points_are_added_once() -> None:
    # given
    bonus = terms("BONUS_POINTS", 50)

    # when
    result = quote(1050, offers=[bonus])

    # then: 10.50 -> 10 base, + 50
    assert (result.points_to_earn, result.base_points, result.amount_due) == (60, 10, 1050)
    assert result.applied_offers == (AppliedOffer(bonus.id, bonus.title, "BONUS_POINTS", 50, 0),)


def test_a_multiplier_applies_to_the_lines_of_its_categories_only() -> None:
    # given: coffee 3.00, bread 2.00 ; double points on coffee
    lines = [Line("C1", "coffee", 1, 300), Line("B1", "bread", 1, 200)]
    double = terms("POINTS_MULTIPLIER", 200, categories=frozenset({"coffee"}))

    # when
    result = quote(500, lines, offers=[double])

    # then: 3 + 2 = 5 base, + 3 for coffee's second x1
    assert (result.points_to_earn, result.base_points, result.offer_points) == (8, 5, 3)


def test_a_multiplier_multiplies_the_tier_multiplier() -> None:
    # given: GOLD x1.5 ; triple points
    triple = terms("POINTS_MULTIPLIER", 300)

    # when
    result = quote(1000, tier=GOLD, offers=[triple])

    # then: 10 x 1.5 = 15, x3 = 45: the offer adds 30
    assert (result.points_to_earn, result.offer_points, result.base_points) == (45, 30, 10)


def test_a_percent_discount_lowers_the_amount_due_and_the_points() -> None:
    # given: 20 % off coffee: 3.33 of coffee, 2.00 of bread
    lines = [Line("C1", "coffee", 1, 333), Line("B1", "bread", 1, 200)]
    off = terms("PERCENT_DISCOUNT", 20, categories=frozenset({"coffee"}))

    # when
    result = quote(533, lines, offers=[off])

    # then: 3.33 x 20 % = 0.666 -> 0.66 off, rounded down once; 4.67 due -> 4 points
    assert (result.offer_discount, result.amount_due, result.points_to_earn) == (66, 467, 4)
    assert result.applied_offers == (AppliedOffer(off.id, off.title, "PERCENT_DISCOUNT", 0, 66),)


def test_points_pay_for_at_most_half_of_what_is_left_after_a_discount() -> None:
    # given: 50 % off 20.00 -> 10.00 left ; points may pay 5.00 = 500 points
    off = terms("PERCENT_DISCOUNT", 50)

    # when
    paid = quote(2000, redeem=500, offers=[off])

    # then
    assert (paid.offer_discount, paid.discount, paid.amount_due, paid.points_to_earn) == (
        1000,
        500,
        500,
        5,
    )
    with pytest.raises(RedemptionNotAllowed):
        quote(2000, redeem=600, offers=[off])


def test_a_full_discount_leaves_nothing_to_pay_or_earn() -> None:
    # when
    result = quote(1000, offers=[terms("PERCENT_DISCOUNT", 100)])

    # then
    assert (result.amount_due, result.points_to_earn, result.base_points) == (0, 0, 0)


def test_minimum_spend_counts_the_matching_lines_before_discounts() -> None:
    # given: 8.00 of coffee, 5.00 of bread ; a bonus for 10.00 of coffee
    lines = [Line("C1", "coffee", 1, 800), Line("B1", "bread", 1, 500)]
    coffee = terms("BONUS_POINTS", 100, categories=frozenset({"coffee"}), min_spend=1000)
    basket = terms("BONUS_POINTS", 7, title="any 10.00", min_spend=1000)

    # when
    result = quote(1300, lines, offers=[coffee, basket])

    # then: only the basket-wide offer reaches its minimum
    assert [(o.title, o.points) for o in result.applied_offers] == [("any 10.00", 7)]


def test_offers_of_one_kind_do_not_stack_on_a_line_the_best_applies() -> None:
    # given
    ten = terms("PERCENT_DISCOUNT", 10)
    twenty = terms("PERCENT_DISCOUNT", 20)
    double = terms("POINTS_MULTIPLIER", 200)
    triple = terms("POINTS_MULTIPLIER", 300)

    # when
    result = quote(1000, offers=[ten, twenty, double, triple])

    # then: 20 % off -> 8.00 -> 8 points, x3 -> 24
    assert (result.offer_discount, result.points_to_earn) == (200, 24)
    assert [o.title for o in result.applied_offers] == [twenty.title, triple.title]


def test_offers_shares_add_up_to_a_purchase_rounded_once() -> None:
    # given: 0.99 earns 0.99 points ; two multipliers on different lines each add a fraction
    lines = [Line("A", "a", 1, 50), Line("B", "b", 1, 49)]
    on_a = terms("POINTS_MULTIPLIER", 150, categories=frozenset({"a"}))
    on_b = terms("POINTS_MULTIPLIER", 150, categories=frozenset({"b"}))

    # when
    result = quote(99, lines, offers=[on_a, on_b])

    # then: 0.99 x 1.5 = 1.485 -> 1 point in all, rounded once; the base alone is 0
    assert result.points_to_earn == 1
    assert result.points_to_earn - result.offer_points == 0
    assert [o.points for o in result.applied_offers] == [1]


# -- a new offer -----------------------------------------------------------------------------------


def new(**fields) -> NewOffer:
    values = {"title": "Coffee week", "description": "Double points", "kind": "BONUS_POINTS"}
    values.update({"value": 100, **fields})
    return NewOffer(**values)


def test_a_valid_offer_is_cleaned() -> None:
    # when
    made = rules.check_new_offer(
        new(
            title="  Coffee week ", categories=["Coffee", "tea", "coffee"], tier_codes=["GOLD"],
            weekdays=[5, 1], hour_from=7, hour_to=10, starts_at=NOW + DAY,
            ends_at=NOW + 8 * DAY, uses_per_member=1, rollout_percent=25,
        ),
        PROGRAM,
        now=NOW,
    )  # fmt: skip

    # then
    assert (made.title, made.categories, made.weekdays, made.tier_codes) == (
        "Coffee week",
        ["coffee", "tea"],
        [1, 5],
        ["GOLD"],
    )
    assert (made.hour_from, made.hour_to, made.uses_per_member, made.created_at) == (7, 10, 1, NOW)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": " "}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"description": ""}, "description"),
        ({"kind": "FREE_LUNCH"}, "kind"),
        ({"value": 0}, "value"),
        ({"kind": "POINTS_MULTIPLIER", "value": 100}, "value"),
        ({"kind": "PERCENT_DISCOUNT", "value": 101}, "value"),
        ({"categories": ["Coffee beans"]}, "categories"),
        ({"min_spend": 0}, "minSpend"),
        ({"tier_codes": ["DIAMOND"]}, "tierCodes"),
        ({"weekdays": [0]}, "weekdays"),
        ({"hour_from": 7}, "hourFrom"),
        ({"hour_from": 24, "hour_to": 2}, "hourFrom"),
        ({"hour_from": 7, "hour_to": 7}, "hourTo"),
        ({"ends_at": NOW}, "endsAt"),
        ({"starts_at": NOW + 2 * DAY, "ends_at": NOW + DAY}, "endsAt"),
        ({"starts_at": dt.datetime(2027, 1, 1)}, "startsAt"),
        ({"rollout_percent": 0}, "rolloutPercent"),
        ({"rollout_percent": 101}, "rolloutPercent"),
        ({"uses_per_member": 0}, "usesPerMember"),
        ({"audience": "ROBOTS"}, "audience"),
    ],
)
def test_refuses_an_offer_that_cannot_apply(fields, field) -> None:
    # when / then
    with pytest.raises(InvalidInput) as raised:
        rules.check_new_offer(new(**fields), PROGRAM, now=NOW)
    assert raised.value.field == field


# -- personalization -------------------------------------------------------------------------------


def test_affinity_is_a_recency_weighted_share_of_spend() -> None:
    # given: 10.00 of coffee today, 10.00 of wine half a year ago, 5.00 without a category
    history = [
        Spend(NOW, "coffee", 1000),
        Spend(NOW - 365 * DAY // 2, "wine", 1000),
        Spend(NOW, None, 500),
        Spend(NOW - 400 * DAY, "coffee", 10**6),  # too old to count
    ]

    # when
    shares = rules.affinity(history, now=NOW)

    # then: weights 1, 183/365, 1
    wine = Fraction(183, 365) * 1000
    total = 1000 + wine + 500
    assert shares == {"coffee": 1000 / total, "wine": wine / total}


def test_ranking_puts_the_members_moment_then_their_habits_first_with_reasons() -> None:
    # given
    member = facts(tier_code="GOLD", birth_date=dt.date(1990, 6, 20), early_access_days=2)
    coffee = offer("coffee", categories=["coffee"], created_at=NOW - 3 * DAY)
    wine = offer("wine", categories=["wine"], created_at=NOW - 3 * DAY)
    gold = offer("gold", tier_codes=["GOLD"], created_at=NOW - 3 * DAY)
    plain = offer("plain", created_at=NOW - 3 * DAY)
    newer = offer("newer", created_at=NOW - DAY)
    birthday = offer("birthday", audience=Audience.BIRTHDAY)
    early = offer("early", starts_at=NOW + DAY)
    welcome = offer("welcome", audience=Audience.NEW_MEMBERS)  # not a new member: left out
    silver = offer("silver", tier_codes=["SILVER"])  # not the member's tier: left out
    shares = {"coffee": Fraction(1, 2), "wine": Fraction(1, 10)}

    # when
    ranked = rules.rank(
        [plain, silver, wine, coffee, gold, welcome, birthday, early, newer],
        member, shares, PROGRAM, now=NOW,
    )  # fmt: skip

    # then
    assert [(r.offer.title, r.reason) for r in ranked] == [
        ("birthday", "Happy birthday month! A treat for you"),
        ("early", "Early access for Gold members"),
        ("coffee", "You often buy coffee"),
        ("gold", "For Gold members"),
        ("wine", "You have bought wine lately"),
        ("newer", "For every member"),
        ("plain", "For every member"),
    ]
    assert ranked == rules.rank(
        [newer, early, birthday, gold, coffee, wine, plain], member, shares, PROGRAM, now=NOW
    )


def test_a_lapsed_member_is_won_back() -> None:
    # given
    lapsed = facts(last_purchase_at=NOW - 90 * DAY)
    back = offer("back", audience=Audience.WIN_BACK)

    # when
    ranked = rules.rank([back], lapsed, {}, PROGRAM, now=NOW)

    # then
    assert [r.reason for r in ranked] == ["We miss you: it has been a while since your last visit"]


def test_rank_cursors_round_trip_and_refuse_garbage() -> None:
    # given
    ranked = rules.rank([offer("a"), offer("b")], facts(), {}, PROGRAM, now=NOW)

    # when
    key = rules.decode_rank_cursor(rules.encode_rank_cursor(ranked[0]))

    # then
    assert key == rules.rank_key(ranked[0])
    assert [r for r in ranked if rules.rank_key(r) > key] == ranked[1:]
    with pytest.raises(InvalidCursor):
        rules.decode_rank_cursor("bm90LWEtY3Vyc29y")
