# ruff: noqa: RUF001, RUF002 (Russian text is Cyrillic on purpose)
"""What a push says, per event type, in English and Russian. Pure: no session, no clock, no I/O.

Transactional messages (the member's own points, tier, rewards) are always sent; marketing ones
(offers, birthday wishes) only to members who consented. A language other than English or Russian
gets English. Numbers come from the event's data, formatted the language's way (1,540 / 1 540).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Language = Literal["en", "ru"]
LANGUAGES: tuple[Language, ...] = ("en", "ru")
DEFAULT_LANGUAGE: Language = "en"

TRANSACTIONAL = frozenset(
    {
        "points.earned",
        "points.redeemed",
        "points.reversed",
        "points.adjusted",
        "points.expiring",
        "points.expired",
        "tier.changed",
        "reward.redeemed",
        "voucher.redeemed",
        "referral.completed",
    }
)
MARKETING = frozenset({"offer.available", "member.birthday"})

_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
NBSP = "\u00a0"
_DOUBLE_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    marketing: bool


def is_marketing(event_type: str) -> bool:
    return event_type in MARKETING


def has_message(event_type: str) -> bool:
    return event_type in TRANSACTIONAL or event_type in MARKETING


def is_locale(value: str) -> bool:
    """A language tag as phones send it: `en`, `ru-RU`, `pt_BR`, `zh-Hant-TW`."""
    return len(value) <= 35 and _LOCALE.match(value) is not None


def language_for(locale: str | None) -> Language:
    """The language messages are written in for this locale: its language if we have it,
    English otherwise."""
    if locale:
        primary = re.split(r"[-_]", locale, maxsplit=1)[0].lower()
        for language in LANGUAGES:
            if primary == language:
                return language
    return DEFAULT_LANGUAGE


def message_for(event_type: str, data: Mapping[str, Any], language: Language) -> Message | None:
    """The push for this event in this language; None when the event type has no push."""
    build = _BUILDERS.get(event_type)
    if build is None:
        return None
    title, body = build(_Data(data), language)
    # a name that ends a sentence with its own period ("Main st.") takes no second one
    body = _DOUBLE_PERIOD.sub(".", body)
    return Message(title=title, body=body, marketing=is_marketing(event_type))


# -- formatting ----------------------------------------------------------------------------------


def number(value: int, language: Language) -> str:
    """1540 → "1,540" in English, "1 540" (a no-break space) in Russian."""
    grouped = f"{abs(value):,}"
    if language == "ru":
        grouped = grouped.replace(",", NBSP)
    return ("-" if value < 0 else "") + grouped


def points(value: int, language: Language) -> str:
    """ "1 point", "120 points"; "1 балл", "2 балла", "5 баллов", "21 балл"."""
    count = abs(value)
    if language == "ru":
        if count % 10 == 1 and count % 100 != 11:
            word = "балл"
        elif count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
            word = "балла"
        else:
            word = "баллов"
    else:
        word = "point" if count == 1 else "points"
    return f"{number(count, language)}{NBSP if language == 'ru' else ' '}{word}"


_EN_MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_RU_MONTHS = (
    *("января", "февраля", "марта", "апреля", "мая", "июня"),
    *("июля", "августа", "сентября", "октября", "ноября", "декабря"),
)


def date(value: dt.date, language: Language) -> str:
    """ "1 July 2026" / "1 июля 2026 г." """
    if language == "ru":
        return f"{value.day} {_RU_MONTHS[value.month - 1]} {value.year}{NBSP}г."
    return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"


class _Data:
    """The event's data, read defensively: a missing or mistyped value reads as absent."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def integer(self, key: str) -> int | None:
        value = self._data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def text(self, key: str) -> str | None:
        value = self._data.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def day(self, key: str) -> dt.date | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return dt.datetime.fromisoformat(value).date()
        except ValueError:
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return None


def _balance(data: _Data, language: Language) -> str:
    balance = data.integer("available")
    if balance is None:
        balance = data.integer("balance")
    if balance is None:
        return ""
    label = "Баланс" if language == "ru" else "Balance"
    return f" {label}: {number(balance, language)}."


def _tier_name(data: _Data) -> str:
    """The tier's name if the event has it, else its code read as a name (GOLD → Gold)."""
    name = data.text("toName")
    if name:
        return name
    return (data.text("to") or "").replace("_", " ").capitalize()


# -- the messages --------------------------------------------------------------------------------


def _earned(data: _Data, language: Language) -> tuple[str, str]:
    amount = points(data.integer("points") or 0, language)
    store = data.text("storeName")
    if language == "ru":
        where = f" за покупку в «{store}»" if store else " за покупку"
        return "Баллы начислены", f"Вы получили {amount}{where}.{_balance(data, language)}"
    where = f" at {store}" if store else ""
    return "Points earned", f"You earned {amount}{where}.{_balance(data, language)}"


def _redeemed(data: _Data, language: Language) -> tuple[str, str]:
    amount = points(data.integer("points") or 0, language)
    store = data.text("storeName")
    if language == "ru":
        where = f" в «{store}»" if store else ""
        return "Оплата баллами", f"Вы оплатили покупку{where}: {amount}.{_balance(data, language)}"
    where = f" at {store}" if store else ""
    return "Paid with points", f"You paid {amount}{where}.{_balance(data, language)}"


def _reversed(data: _Data, language: Language) -> tuple[str, str]:
    taken = data.integer("pointsReversed") or 0
    restored = data.integer("pointsRestored") or 0
    if language == "ru":
        parts = []
        if taken:
            parts.append(f"списано {points(taken, language)}")
        if restored:
            parts.append(f"возвращено {points(restored, language)}")
        what = " и ".join(parts) or "баллы пересчитаны"
        return "Возврат покупки", f"После возврата покупки {what}.{_balance(data, language)}"
    parts = []
    if taken:
        parts.append(f"{points(taken, language)} taken back")
    if restored:
        parts.append(f"{points(restored, language)} given back")
    what = " and ".join(parts) or "your points were recounted"
    return "Purchase refunded", f"After the refund: {what}.{_balance(data, language)}"


def _adjusted(data: _Data, language: Language) -> tuple[str, str]:
    change = data.integer("points") or 0
    amount = points(change, language)
    if language == "ru":
        verb = "начислено" if change >= 0 else "списано"
        return "Баланс изменён", f"На ваш счёт {verb} {amount}.{_balance(data, language)}"
    verb = "added to" if change >= 0 else "taken from"
    return "Balance changed", f"{amount} {verb} your account.{_balance(data, language)}"


def _expiring(data: _Data, language: Language) -> tuple[str, str]:
    count = data.integer("points") or 0
    when = data.day("expiresAt")
    if language == "ru":
        on = date(when, language) if when else "Скоро"
        return (
            "Баллы сгорают",
            f"{on} сгорят баллы: {number(count, language)}. Успейте их потратить.",
        )
    on = f" on {date(when, language)}" if when else " soon"
    verb, them = ("expires", "it") if count == 1 else ("expire", "them")
    return "Points expiring", f"{points(count, language)} {verb}{on}. Use {them} before then."


def _expired(data: _Data, language: Language) -> tuple[str, str]:
    count = data.integer("points") or 0
    if language == "ru":
        return (
            "Баллы сгорели",
            f"Истёк срок действия баллов: {number(count, language)}.{_balance(data, language)}",
        )
    return "Points expired", f"{points(count, language)} expired.{_balance(data, language)}"


def _tier(data: _Data, language: Language) -> tuple[str, str]:
    name = _tier_name(data)
    upgrade = data.text("reason") == "purchase"
    if language == "ru":
        if upgrade:
            return "Новый уровень", f"Поздравляем! Ваш уровень теперь «{name}»."
        return "Уровень изменён", f"Ваш уровень теперь «{name}»."
    if upgrade:
        return "New tier", f"Congratulations! You are now {name}."
    return "Tier changed", f"Your tier is now {name}."


def _reward(data: _Data, language: Language) -> tuple[str, str]:
    name = data.text("title") or ""
    cost = data.integer("points")
    if language == "ru":
        price = f" за {points(cost, language)}" if cost else ""
        return "Награда получена", f"Вы получили «{name}»{price}.{_balance(data, language)}"
    price = f" for {points(cost, language)}" if cost else ""
    return "Reward redeemed", f"You got {name}{price}.{_balance(data, language)}"


def _voucher(data: _Data, language: Language) -> tuple[str, str]:
    name = data.text("title")
    if language == "ru":
        what = f" «{name}»" if name else ""
        return "Купон использован", f"Ваш купон{what} использован."
    what = f" for {name}" if name else ""
    return "Voucher used", f"Your voucher{what} was used."


def _referral(data: _Data, language: Language) -> tuple[str, str]:
    # The event goes to the referrer: the new member's first purchase settled the referral.
    bonus = data.integer("referrerPoints") or 0
    if language == "ru":
        gift = f" Вам начислено {points(bonus, language)}." if bonus else ""
        return "Бонус за друга", f"Ваш друг сделал первую покупку.{gift}"
    gift = f" You got {points(bonus, language)}." if bonus else ""
    return "Referral bonus", f"Your friend made their first purchase.{gift}"


def _offer(data: _Data, language: Language) -> tuple[str, str]:
    name = data.text("title") or ""
    until = data.day("validUntil")
    if language == "ru":
        end = f" до {date(until, language)}" if until else ""
        return "Новое предложение", f"«{name}»{end}. Откройте приложение, чтобы подключить."
    end = f", until {date(until, language)}" if until else ""
    return "New offer", f"{name}{end}. Open the app to activate it."


def _birthday(data: _Data, language: Language) -> tuple[str, str]:
    bonus = data.integer("points")
    if language == "ru":
        gift = f" Дарим вам {points(bonus, language)}." if bonus else ""
        return "С днём рождения!", f"Поздравляем с днём рождения!{gift}{_balance(data, language)}"
    gift = f" Here are {points(bonus, language)} from us." if bonus else ""
    return "Happy birthday!", f"Happy birthday!{gift}{_balance(data, language)}"


_BUILDERS: dict[str, Callable[[_Data, Language], tuple[str, str]]] = {
    "points.earned": _earned,
    "points.redeemed": _redeemed,
    "points.reversed": _reversed,
    "points.adjusted": _adjusted,
    "points.expiring": _expiring,
    "points.expired": _expired,
    "tier.changed": _tier,
    "reward.redeemed": _reward,
    "voucher.redeemed": _voucher,
    "referral.completed": _referral,
    "offer.available": _offer,
    "member.birthday": _birthday,
}
assert set(_BUILDERS) == TRANSACTIONAL | MARKETING
