"""Push messages per event type, in English and Russian, from the events' data; no database."""

import pytest

from app.notifications import messages
from app.outbox.events import EVENT_TYPES

NBSP = "\u00a0"


def test_earned_points_name_the_store_and_the_balance():
    data = {"points": 120, "storeName": "Main st.", "available": 1540, "pending": 0}

    en = messages.message_for("points.earned", data, "en")
    ru = messages.message_for("points.earned", data, "ru")

    assert en == messages.Message(
        "Points earned", "You earned 120 points at Main st. Balance: 1,540.", marketing=False
    )
    assert ru == messages.Message(
        "Баллы начислены",
        f"Вы получили 120{NBSP}баллов за покупку в «Main st.». Баланс: 1{NBSP}540.",
        marketing=False,
    )


@pytest.mark.parametrize(
    ("count", "en", "ru"),
    [
        (0, "0 points", "0 баллов"),
        (1, "1 point", "1 балл"),
        (2, "2 points", "2 балла"),
        (4, "4 points", "4 балла"),
        (5, "5 points", "5 баллов"),
        (11, "11 points", "11 баллов"),
        (12, "12 points", "12 баллов"),
        (21, "21 points", "21 балл"),
        (22, "22 points", "22 балла"),
        (111, "111 points", "111 баллов"),
        (1001, "1,001 points", f"1{NBSP}001 балл"),
        (1_000_000, "1,000,000 points", f"1{NBSP}000{NBSP}000 баллов"),
    ],
)
def test_points_agree_with_their_number(count, en, ru):
    assert messages.points(count, "en") == en
    assert messages.points(count, "ru") == ru.replace(" ", NBSP)


@pytest.mark.parametrize(
    ("event_type", "data", "en", "ru"),
    [
        (
            "points.redeemed",
            {"points": 500, "storeName": "Main st.", "available": 40},
            ("Paid with points", "You paid 500 points at Main st. Balance: 40."),
            ("Оплата баллами", "Вы оплатили покупку в «Main st.»: 500 баллов. Баланс: 40."),
        ),
        (
            "points.reversed",
            {"pointsReversed": 30, "pointsRestored": 200, "available": 1210},
            (
                "Purchase refunded",
                "After the refund: 30 points taken back and 200 points given back. Balance: 1,210.",
            ),
            (
                "Возврат покупки",
                "После возврата покупки списано 30 баллов и возвращено 200 баллов. Баланс: 1 210.",
            ),
        ),
        (
            "points.adjusted",
            {"points": -50, "reason": "goodwill", "available": 950},
            ("Balance changed", "50 points taken from your account. Balance: 950."),
            ("Баланс изменён", "На ваш счёт списано 50 баллов. Баланс: 950."),
        ),
        (
            "points.adjusted",
            {"points": 1, "available": 3},
            ("Balance changed", "1 point added to your account. Balance: 3."),
            ("Баланс изменён", "На ваш счёт начислено 1 балл. Баланс: 3."),
        ),
        (
            "points.expiring",
            {"points": 300, "expiresAt": "2026-07-01T12:00:00+00:00", "withinDays": 30},
            ("Points expiring", "300 points expire on 1 July 2026. Use them before then."),
            ("Баллы сгорают", "1 июля 2026 г. сгорят баллы: 300. Успейте их потратить."),
        ),
        (
            "points.expired",
            {"points": 3, "available": 0, "pending": 0},
            ("Points expired", "3 points expired. Balance: 0."),
            ("Баллы сгорели", "Истёк срок действия баллов: 3. Баланс: 0."),
        ),
        (
            "tier.changed",
            {"from": "SILVER", "to": "GOLD", "reason": "purchase"},
            ("New tier", "Congratulations! You are now Gold."),
            ("Новый уровень", "Поздравляем! Ваш уровень теперь «Gold»."),
        ),
        (
            "tier.changed",
            {"from": "GOLD", "to": "SILVER", "reason": "downgrade"},
            ("Tier changed", "Your tier is now Silver."),
            ("Уровень изменён", "Ваш уровень теперь «Silver»."),
        ),
        (
            "reward.redeemed",
            {"title": "Free coffee", "points": 250, "balance": 1250},
            ("Reward redeemed", "You got Free coffee for 250 points. Balance: 1,250."),
            ("Награда получена", "Вы получили «Free coffee» за 250 баллов. Баланс: 1 250."),
        ),
        (
            "voucher.redeemed",
            {"title": "Free coffee", "storeId": "x"},
            ("Voucher used", "Your voucher for Free coffee was used."),
            ("Купон использован", "Ваш купон «Free coffee» использован."),
        ),
        (
            "referral.completed",
            {"referrerPoints": 500, "memberPoints": 500},
            ("Referral bonus", "Your friend made their first purchase. You got 500 points."),
            ("Бонус за друга", "Ваш друг сделал первую покупку. Вам начислено 500 баллов."),
        ),
        (
            "offer.available",
            {"title": "Double points on coffee", "validUntil": "2026-06-30T23:59:59+00:00"},
            (
                "New offer",
                "Double points on coffee, until 30 June 2026. Open the app to activate it.",
            ),
            (
                "Новое предложение",
                "«Double points on coffee» до 30 июня 2026 г. Откройте приложение, чтобы подключить.",
            ),
        ),
        (
            "member.birthday",
            {"points": 200, "birthday": "2026-06-01", "balance": 1740},
            ("Happy birthday!", "Happy birthday! Here are 200 points from us. Balance: 1,740."),
            (
                "С днём рождения!",
                "Поздравляем с днём рождения! Дарим вам 200 баллов. Баланс: 1 740.",
            ),
        ),
    ],
)
def test_each_event_reads_its_numbers_in_both_languages(event_type, data, en, ru):
    english = messages.message_for(event_type, data, "en")
    russian = messages.message_for(event_type, data, "ru")

    assert english is not None and russian is not None
    assert (english.title, english.body) == en
    # Russian keeps numbers and their words together with no-break spaces
    assert (russian.title, russian.body.replace(NBSP, " ")) == ru


def test_marketing_is_offers_and_birthdays_only():
    # given every event type the outbox knows
    with_message = {t for t in EVENT_TYPES if messages.has_message(t)}

    # then
    assert {t for t in with_message if messages.is_marketing(t)} == {
        "offer.available",
        "member.birthday",
    }
    assert with_message == EVENT_TYPES - {"member.registered", "member.updated"}
    assert messages.message_for("member.registered", {}, "en") is None


def test_missing_numbers_leave_out_what_is_unknown():
    message = messages.message_for("points.earned", {"points": 5}, "en")

    assert message is not None
    assert message.body == "You earned 5 points."


def test_mistyped_data_reads_as_absent():
    message = messages.message_for(
        "points.expiring", {"points": "300", "expiresAt": "tomorrow"}, "en"
    )

    assert message is not None
    assert message.body == "0 points expire soon. Use them before then."


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("ru_RU", "ru"),
        ("RU", "ru"),
        ("en", "en"),
        ("en-GB", "en"),
        ("de-DE", "en"),
        ("uk", "en"),
        ("rus", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_languages_other_than_english_and_russian_get_english(locale, language):
    assert messages.language_for(locale) == language


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("en", True),
        ("ru-RU", True),
        ("pt_BR", True),
        ("zh-Hant-TW", True),
        ("e", False),
        ("english language", False),
        ("ru;DROP", False),
        ("x" * 36, False),
    ],
)
def test_locales_are_language_tags(value, ok):
    assert messages.is_locale(value) is ok


def test_one_point_agrees_with_its_verb():
    message = messages.message_for(
        "points.expiring", {"points": 1, "expiresAt": "2026-07-01T00:00:00+00:00"}, "en"
    )

    assert message is not None
    assert message.body == "1 point expires on 1 July 2026. Use it before then."
