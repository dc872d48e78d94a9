"""`loyalty demo`: the demo program is complete (every screen has something to show), its
ledger is clean, and seeding again changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from app import demo
from app.checkout.models import Purchase
from app.ledger.models import LedgerEntry
from app.offers.models import Offer
from app.rewards.models import Cause, Reward
from app.staff.models import Staff
from tests.service.ledger.scenario import assert_ledger_clean


async def counts(db) -> dict[str, int]:
    async with db.read() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in (
                ("staff", Staff), ("purchases", Purchase), ("entries", LedgerEntry),
                ("rewards", Reward), ("causes", Cause), ("offers", Offer),
            )
        }  # fmt: skip


async def test_seeds_a_complete_program_once(db, settings, clock, hasher):
    # given
    lines: list[str] = []

    # when: seeded twice
    logins = await demo.seed(db, settings, clock, hasher, progress=lines.append)
    first = await counts(db)
    again: list[str] = []
    await demo.seed(db, settings, clock, hasher, progress=again.append)

    # then
    assert [login.email for login in logins] == [
        "admin@demo.example", "manager@demo.example", "cashier@demo.example",
        "alice@demo.example", "boris@demo.example",
    ]  # fmt: skip
    assert first == {
        "staff": 3, "purchases": 5, "entries": 6, "rewards": 2, "causes": 1, "offers": 2,
    }  # fmt: skip
    assert await counts(db) == first
    assert "reward Free coffee: created" in lines
    assert "reward Free coffee: exists" in again
    assert not any(line.endswith(": created") for line in again)
    await assert_ledger_clean(db)
