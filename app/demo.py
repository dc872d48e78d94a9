"""`loyalty demo`: a small program to click through. Idempotent: run it as often as you like."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from app.auth import service as auth_service
from app.auth.actors import StaffActor, SystemActor
from app.auth.passwords import PasswordHasher
from app.checkout import rules as till_rules
from app.checkout import service as checkout_service
from app.clock import Clock
from app.db import Database
from app.errors import EmailTaken
from app.kit.money import Money
from app.ledger import service as ledger_service
from app.members import service as members_service
from app.offers import rules as offer_rules
from app.offers import service as offers_service
from app.offers.models import Offer
from app.rewards import service as rewards_service
from app.rewards.models import Cause, Reward, RewardKind
from app.settings import Settings
from app.staff import service as staff_service
from app.stores import service as stores_service

SYSTEM = SystemActor("demo")
STORES = (("MAIN", "Main st.", "America/New_York"), ("AIRPORT", "Airport", "America/New_York"))
PASSWORD = "demo-Password-2026"


@dataclass(frozen=True, slots=True)
class Login:
    who: str
    email: str
    password: str
    note: str


async def seed(
    db: Database,
    settings: Settings,
    clock: Clock,
    hasher: PasswordHasher,
    progress: Callable[[str], None] = lambda line: None,
) -> list[Login]:
    """Create what is missing; `progress` hears one line per object, created or found."""
    store_ids = []
    for code, name, timezone in STORES:
        async with db.read() as session:
            store = await stores_service.find_store_by_code(session, code)
        if store is None:
            store = await stores_service.create_store(
                db, SYSTEM, clock, stores_service.NewStore(code, name, timezone)
            )
            progress(f"store {code} ({name}): created")
        else:
            progress(f"store {code} ({name}): exists")
        store_ids.append(str(store.id))

    staff: tuple[tuple[str, str, list[str], str], ...] = (
        ("admin@demo.example", "ADMIN", [], "admin: creates stores, staff, program rules"),
        ("manager@demo.example", "MANAGER", store_ids, "manager of both stores"),
        ("cashier@demo.example", "CASHIER", store_ids[:1], "cashier at Main st."),
    )
    logins = []
    for email, role, stores, note in staff:
        try:
            await auth_service.create_staff(
                db,
                SYSTEM,
                clock,
                hasher,
                staff_service.NewStaff(email, role, stores),
                password=PASSWORD,
            )
            progress(f"staff {email} ({role}): created")
        except EmailTaken:
            progress(f"staff {email} ({role}): exists")
        logins.append(Login(f"staff ({role})", email, PASSWORD, note))

    members = (
        members_service.NewMember(
            email="alice@demo.example", password=PASSWORD, first_name="Alice", last_name="Martin",
            phone="+14155550101", birth_date=dt.date(1990, 5, 17), marketing_consent=True,
        ),
        members_service.NewMember(
            email="boris@demo.example", password=PASSWORD, first_name="Борис", last_name="Иванов",
            birth_date=dt.date(1985, 11, 2), locale="ru",
        ),
    )  # fmt: skip
    async with db.read() as session:
        cashier = await staff_service.find_staff_by_email(session, "cashier@demo.example")
    assert cashier is not None
    till = StaffActor(cashier.id, cashier.role, frozenset(uuid.UUID(i) for i in store_ids[:1]))
    secret = settings.member_code_secret.get_secret_value().encode()
    for new, baskets in zip(members, HISTORY, strict=True):
        try:
            await auth_service.register_member(db, settings, clock, hasher, new)
            progress(f"member {new.email}: created")
        except EmailTaken:
            progress(f"member {new.email}: exists")
        logins.append(Login("member", new.email, PASSWORD, f"member {new.first_name}"))
        async with db.read() as session:
            member = await members_service.find_member_by_email(session, new.email)
            assert member is not None
            account = (await ledger_service.accounts_by_member(session, [member.id]))[member.id]
        if account.entry_count:
            progress(f"member {new.email}: has history")
            continue
        opened = await checkout_service.scan_member_code(
            db, till, clock, secret, code=member.card_number, store_id=store_ids[0]
        )
        for receipt, lines, redeem in baskets:
            total = sum(amount for _, _, amount in lines)
            command = checkout_service.PurchaseCommand(
                checkout_id=str(opened.checkout.id),
                receipt_number=receipt,
                total=Money(total, settings.currency),
                lines=[
                    (till_rules.Line(sku, category, 1, amount), settings.currency)
                    for sku, category, amount in lines
                ],
                redeem_points=redeem,
                idempotency_key=f"demo-{receipt}",
            )
            result = await checkout_service.complete_purchase(db, till, clock, command)
            progress(
                f"member {new.email}: purchase {receipt}, {result.points_earned} points earned, "
                f"{result.points_redeemed} redeemed"
            )
    await _catalog(db, clock, progress)
    return logins


REWARDS = (
    rewards_service.NewReward(
        title="Free coffee", kind=RewardKind.FREE_PRODUCT, points_cost=300,
        description="Any coffee, any size, at any of our stores.",
    ),
    rewards_service.NewReward(
        title="Free croissant", kind=RewardKind.FREE_PRODUCT, points_cost=250, stock=50,
        description="Fresh from the oven, while the batch lasts.",
    ),
)  # fmt: skip
CAUSES = (
    rewards_service.NewCause(
        name="Trees for the city", description="Every 100 points plant a street tree."
    ),
)
OFFERS = (
    offer_rules.NewOffer(
        title="Double points on coffee", kind="POINTS_MULTIPLIER", value=200,
        description="Twice the points on every coffee line.", categories=("coffee",),
    ),
    offer_rules.NewOffer(
        title="50 bonus points on 20.00 or more", kind="BONUS_POINTS", value=50,
        description="Activate it, then spend 20.00 or more in one purchase.",
        min_spend=2000, requires_activation=True, uses_per_member=1,
    ),
)  # fmt: skip


async def _catalog(db: Database, clock: Clock, progress: Callable[[str], None]) -> None:
    """Rewards, a cause and offers, so that every screen of the app has something to show."""
    async with db.read() as session:
        rewards = set(await session.scalars(select(col(Reward.title))))
        causes = set(await session.scalars(select(col(Cause.name))))
        offers = set(await session.scalars(select(col(Offer.title))))
    for reward in REWARDS:
        if reward.title not in rewards:
            await rewards_service.create_reward(db, SYSTEM, clock, reward)
        progress(f"reward {reward.title}: {'exists' if reward.title in rewards else 'created'}")
    for cause in CAUSES:
        if cause.name not in causes:
            await rewards_service.create_cause(db, SYSTEM, clock, cause)
        progress(f"cause {cause.name}: {'exists' if cause.name in causes else 'created'}")
    for offer in OFFERS:
        if offer.title not in offers:
            await offers_service.create_offer(db, SYSTEM, clock, offer)
        progress(f"offer {offer.title}: {'exists' if offer.title in offers else 'created'}")


# Purchases at Main st. for each demo member: (receipt, [(sku, category, amount)], points redeemed).
HISTORY = (
    (
        (
            "R-1001",
            [("LATTE", "coffee", 450), ("CROISSANT", "bakery", 325), ("BEANS", "coffee", 12900)],
            0,
        ),
        ("R-1002", [("KETTLE", "home", 8999), ("GIFT-50", "gift-cards", 5000)], 0),
        ("R-1003", [("HEADPHONES", "electronics", 19999), ("CABLE", "electronics", 1499)], 100),
    ),
    (
        ("R-2001", [("TEA", "tea", 1250), ("HONEY", "grocery", 899)], 0),
        ("R-2002", [("BLENDER", "home", 15900)], 0),
    ),
)
