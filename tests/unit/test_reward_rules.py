"""The rules of rewards, vouchers, donations, referrals and birthdays, without a database."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidInput
from app.program.rules import default_rules
from app.referrals import rules as referral_rules
from app.rewards import rules

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
PROGRAM = default_rules(name="Test", currency="USD")


def offering(**changes) -> rules.Offering:
    values = {
        "active": True,
        "stock": None,
        "tier_codes": (),
        "starts_at": None,
        "ends_at": None,
    }
    values.update(changes)
    return rules.Offering(**values)


# -- availability --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "tier", "expected"),
    [
        ({}, "BRONZE", None),
        ({"stock": 1}, "BRONZE", None),
        ({"stock": 0}, "BRONZE", rules.Unavailable.OUT_OF_STOCK),
        ({"active": False}, "BRONZE", rules.Unavailable.INACTIVE),
        ({"starts_at": NOW + dt.timedelta(seconds=1)}, "BRONZE", rules.Unavailable.NOT_STARTED),
        ({"starts_at": NOW}, "BRONZE", None),
        ({"ends_at": NOW}, "BRONZE", rules.Unavailable.ENDED),
        ({"ends_at": NOW + dt.timedelta(seconds=1)}, "BRONZE", None),
        ({"tier_codes": ("GOLD", "PLATINUM")}, "SILVER", rules.Unavailable.TIER),
        ({"tier_codes": ("GOLD", "PLATINUM")}, "GOLD", None),
        ({"tier_codes": ("GOLD",)}, None, None),  # an operator's view: the tier is not checked
        ({"tier_codes": ("GOLD",), "stock": 0}, "SILVER", rules.Unavailable.TIER),
    ],
)
def test_unavailable_names_why(changes, tier, expected):
    # when
    reason = rules.unavailable(offering(**changes), tier_code=tier, now=NOW)

    # then
    assert reason == expected


# -- voucher codes -------------------------------------------------------------------------------


def test_new_codes_are_twelve_typeable_characters():
    # when
    codes = {rules.new_voucher_code() for _ in range(200)}

    # then
    assert len(codes) == 200
    assert all(re.fullmatch(r"[2-9A-HJ-NP-Z]{12}", code) for code in codes)


def test_format_groups_by_four():
    assert rules.format_voucher_code("ABCDEFGHJKLM") == "ABCD-EFGH-JKLM"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ABCD-EFGH-JKLM", "ABCDEFGHJKLM"),
        ("abcd efgh jklm", "ABCDEFGHJKLM"),
        (" abcdefghjklm ", "ABCDEFGHJKLM"),
        ("ABCD-EFGH-JKL", None),  # too short
        ("ABCD-EFGH-JKLMN", None),  # too long
        ("ABCD-EFGH-JKL0", None),  # 0 is not in the alphabet
        ("ABCD-EFGH-JKLI", None),  # nor is I
        ("ABCD-EFGH-JKL\x00", None),
        ("ＡBCD-EFGH-JKLM", None),  # a full-width letter
        ("A" * 41, None),
    ],
)
def test_normalize_reads_what_a_cashier_types(typed, expected):
    assert rules.normalize_voucher_code(typed) == expected


@given(st.text(alphabet=rules.CODE_ALPHABET, min_size=12, max_size=12))
def test_formatted_codes_read_back(code):
    assert rules.normalize_voucher_code(rules.format_voucher_code(code)) == code


# -- the admin's input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value", "field"),
    [
        (rules.check_points_cost, 0, "pointsCost"),
        (rules.check_points_cost, -5, "pointsCost"),
        (rules.check_points_cost, rules.MAX_POINTS_COST + 1, "pointsCost"),
        (rules.check_stock, -1, "stock"),
        (rules.check_value, -1, "value"),
        (rules.check_voucher_days, 0, "voucherValidDays"),
        (rules.check_kind, "CASH", "kind"),
        (rules.check_donation, 0, "points"),
        (rules.check_donation, -10, "points"),
        (rules.check_donation, rules.MAX_DONATION + 1, "points"),
    ],
)
def test_checks_name_the_field(check, value, field):
    # when
    with pytest.raises(InvalidInput) as raised:
        check(value)

    # then
    assert raised.value.field == field


def test_checks_pass_good_values():
    assert rules.check_points_cost(150) == 150
    assert rules.check_stock(None) is None
    assert rules.check_stock(0) == 0
    assert rules.check_voucher_days(None) == rules.DEFAULT_VOUCHER_DAYS
    assert rules.check_donation(1) == 1


def test_tier_codes_are_known_unique_and_in_tier_order():
    assert rules.check_tier_codes(PROGRAM, ["platinum", "GOLD", "GOLD"]) == ["GOLD", "PLATINUM"]
    assert rules.check_tier_codes(PROGRAM, None) == []
    with pytest.raises(InvalidInput) as raised:
        rules.check_tier_codes(PROGRAM, ["GOLD", "DIAMOND"])
    assert (raised.value.field, raised.value.message) == (
        "tierCodes",
        "No tier has the code DIAMOND.",
    )


def test_window_ends_after_it_starts():
    with pytest.raises(InvalidInput) as raised:
        rules.check_window(NOW, NOW)
    assert raised.value.field == "endsAt"
    assert rules.check_window(NOW, NOW + dt.timedelta(days=1)) == (
        NOW,
        NOW + dt.timedelta(days=1),
    )


def test_text_is_trimmed_and_bounded():
    assert rules.check_text("  Free   coffee ", field="title", limit=100, required=True) == (
        "Free coffee"
    )
    with pytest.raises(InvalidInput):
        rules.check_text("   ", field="title", limit=100, required=True)
    with pytest.raises(InvalidInput):
        rules.check_text("x" * 101, field="title", limit=100, required=True)
    with pytest.raises(InvalidInput):
        rules.check_description("bad\x00byte")


# -- referrals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_paid", "expected"),
    [(999, False), (1000, True), (25000, True)],
)
def test_a_purchase_of_ten_qualifies(amount_paid, expected):
    assert referral_rules.qualifies(PROGRAM, amount_paid=amount_paid) is expected


def test_nothing_qualifies_without_a_referral_bonus():
    from dataclasses import replace

    assert referral_rules.qualifies(replace(PROGRAM, referral_points=0), amount_paid=10**6) is False


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("ann@example.com", None), ("bob@example.com", None), False),
        (("ann@example.com", None), ("ANN@example.com", None), True),
        (("ann+2@example.com", None), ("ann@example.com", None), True),
        (("ann@example.com", "+14155550123"), ("bob@example.com", "+14155550123"), True),
        (("ann@example.com", None), ("bob@example.com", None), False),
        (("ann@example.org", None), ("ann@example.com", None), False),
    ],
)
def test_same_person_by_mailbox_or_phone(a, b, expected):
    assert referral_rules.same_person(*a, *b) is expected


def test_the_cap_counts_the_calendar_month():
    assert referral_rules.month_start(dt.datetime(2026, 6, 17, 8, 30, tzinfo=dt.UTC)) == (
        dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    )
    assert referral_rules.under_cap(PROGRAM, rewarded_this_month=9) is True
    assert referral_rules.under_cap(PROGRAM, rewarded_this_month=10) is False


# -- birthdays -----------------------------------------------------------------------------------

BORN = dt.date(1990, 6, 10)
LONG_AGO = dt.date(2020, 1, 1)


@pytest.mark.parametrize(
    ("today", "set_on", "expected"),
    [
        (dt.date(2026, 6, 9), LONG_AGO, None),  # the day before
        (dt.date(2026, 6, 10), LONG_AGO, dt.date(2026, 6, 10)),  # the day
        (dt.date(2026, 6, 16), LONG_AGO, dt.date(2026, 6, 10)),  # six days late: caught up
        (dt.date(2026, 6, 17), LONG_AGO, None),  # a week late: missed
        (dt.date(2026, 6, 10), None, dt.date(2026, 6, 10)),  # set before the rule existed
        (dt.date(2026, 6, 10), dt.date(2026, 5, 10), dt.date(2026, 6, 10)),  # 31 days before
        (dt.date(2026, 6, 10), dt.date(2026, 5, 11), None),  # set 30 days before: waits
        (dt.date(2026, 6, 10), dt.date(2026, 5, 9), dt.date(2026, 6, 10)),  # 32 days before
        (dt.date(2026, 6, 10), dt.date(2026, 6, 10), None),  # set on the day
    ],
)
def test_birthday_due(today, set_on, expected):
    assert referral_rules.birthday_due(BORN, set_on=set_on, today=today) == expected


def test_the_thirtieth_day_before_waits_and_the_thirty_first_does_not():
    # given: notice is counted in whole days before the birthday
    birthday = dt.date(2026, 6, 10)

    # then
    assert (birthday - dt.date(2026, 5, 11)).days == referral_rules.BIRTH_DATE_NOTICE_DAYS
    assert referral_rules.birthday_due(BORN, set_on=dt.date(2026, 5, 11), today=birthday) is None
    assert (
        referral_rules.birthday_due(BORN, set_on=dt.date(2026, 5, 10), today=birthday) == birthday
    )


def test_a_late_december_birthday_is_caught_up_in_january():
    assert referral_rules.birthday_due(
        dt.date(1990, 12, 30), set_on=LONG_AGO, today=dt.date(2027, 1, 2)
    ) == dt.date(2026, 12, 30)


def test_a_leap_day_birthday_is_kept_on_the_28th_in_common_years():
    born = dt.date(2000, 2, 29)
    assert referral_rules.birthday_in(born, 2027) == dt.date(2027, 2, 28)
    assert referral_rules.birthday_in(born, 2028) == dt.date(2028, 2, 29)
    assert referral_rules.birthday_due(born, set_on=LONG_AGO, today=dt.date(2027, 2, 28)) == (
        dt.date(2027, 2, 28)
    )
    assert referral_rules.birthday_due(born, set_on=LONG_AGO, today=dt.date(2028, 2, 28)) is None


def test_the_day_of_birth_is_no_birthday():
    assert (
        referral_rules.birthday_due(dt.date(2026, 6, 1), set_on=None, today=dt.date(2026, 6, 1))
        is None
    )


def test_candidates_cover_the_window_and_leap_days():
    # when
    dates = referral_rules.candidate_birth_dates(dt.date(2027, 3, 1), catch_up_days=2)

    # then: 1 March and 28 February of every year, and 29 February of leap years
    assert dt.date(1990, 3, 1) in dates
    assert dt.date(1990, 2, 28) in dates
    assert dt.date(2000, 2, 29) in dates
    assert dt.date(1990, 3, 2) not in dates
    assert dt.date(1990, 2, 27) not in dates
    assert len(dates) == 2 * (2027 - 1900) + len(
        [y for y in range(1900, 2027) if y % 4 == 0 and (y % 100 or y % 400 == 0)]
    )


@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31)),
    st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2030, 12, 31)),
)
def test_every_due_birthday_is_a_candidate(born, today):
    due = referral_rules.birthday_due(born, set_on=None, today=today)
    if due is not None:
        assert born in referral_rules.candidate_birth_dates(today)
