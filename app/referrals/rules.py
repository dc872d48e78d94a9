"""The rules of the referral and birthday bonuses. Pure: no session, no clock."""

from __future__ import annotations

import calendar
import datetime as dt

from app.program.rules import ProgramRules

# A birth date entered this many days or fewer before the birthday waits for the next one, so
# that nobody types tomorrow's date to collect a bonus.
BIRTH_DATE_NOTICE_DAYS = 30
# The job gives a birthday it missed (the worker was down) up to this many days late.
BIRTHDAY_CATCH_UP_DAYS = 7
FIRST_BIRTH_YEAR = 1900  # members' birth dates are checked to be on or after 1900-01-01


# -- referrals -----------------------------------------------------------------------------------


def qualifies(rules: ProgramRules, *, amount_paid: int) -> bool:
    """A purchase settles the referral when the money paid (after points) reaches the minimum."""
    return rules.referral_points > 0 and amount_paid >= rules.referral_min_purchase


def mailbox(email: str) -> str:
    """The mailbox an address delivers to, for comparing people: case and a `+tag` do not
    make another person (ann+2@example.com is ann@example.com)."""
    local, _, domain = email.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def same_person(email: str, phone: str | None, other_email: str, other_phone: str | None) -> bool:
    """Self-referral: the same mailbox, or the same phone number (E.164, as stored)."""
    if mailbox(email) == mailbox(other_email):
        return True
    return phone is not None and phone == other_phone


def month_start(now: dt.datetime) -> dt.datetime:
    """The start of the calendar month (UTC) the referral cap counts in."""
    moment = now.astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def under_cap(rules: ProgramRules, *, rewarded_this_month: int) -> bool:
    return rewarded_this_month < rules.referral_monthly_cap


# -- birthdays -----------------------------------------------------------------------------------


def birthday_in(birth_date: dt.date, year: int) -> dt.date:
    """The birthday's date in `year`: 29 February is kept on 28 February in common years."""
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return birth_date.replace(year=year)


def birthday_due(
    birth_date: dt.date | None,
    *,
    set_on: dt.date | None,
    today: dt.date,
    catch_up_days: int = BIRTHDAY_CATCH_UP_DAYS,
) -> dt.date | None:
    """The birthday to celebrate today: the latest one on or before `today`, at most
    `catch_up_days - 1` days ago; None when there is none, or when the birth date was entered
    `BIRTH_DATE_NOTICE_DAYS` days or fewer before it (that one waits for next year).
    `set_on` None: entered before this rule existed, long enough ago."""
    if birth_date is None:
        return None
    for year in (today.year, today.year - 1):
        if year <= birth_date.year:  # the day of birth itself is no birthday
            continue
        occurrence = birthday_in(birth_date, year)
        if occurrence > today:
            continue
        if (today - occurrence).days >= catch_up_days:
            return None
        if set_on is not None and (occurrence - set_on).days <= BIRTH_DATE_NOTICE_DAYS:
            return None
        return occurrence
    return None


def candidate_birth_dates(
    today: dt.date, *, catch_up_days: int = BIRTHDAY_CATCH_UP_DAYS
) -> list[dt.date]:
    """Every birth date (from FIRST_BIRTH_YEAR) whose birthday falls in the catch-up window
    ending today: what the job looks up with the index on the birth date."""
    found: set[dt.date] = set()
    for back in range(catch_up_days):
        day = today - dt.timedelta(days=back)
        for year in range(FIRST_BIRTH_YEAR, today.year):
            if day.month == 2 and day.day == 29:
                if calendar.isleap(year):
                    found.add(dt.date(year, 2, 29))
                continue
            found.add(dt.date(year, day.month, day.day))
            leap_day_kept_today = day.month == 2 and day.day == 28 and not calendar.isleap(day.year)
            if leap_day_kept_today and calendar.isleap(year):
                found.add(dt.date(year, 2, 29))
    return sorted(found)
