"""The program's rules, versioned in the database. Admins change them; entries name a version."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, StaffActor, require_admin
from app.clock import Clock
from app.db import Database
from app.errors import Conflict, InvalidInput, NotFound
from app.program import rules as program_rules
from app.program.models import ProgramVersion
from app.program.rules import CategoryRule, ProgramRules, Tier


def _to_rules(row: ProgramVersion) -> ProgramRules:
    return ProgramRules(
        version=row.version,
        name=row.name,
        currency=row.currency,
        earn_points=row.earn_points,
        earn_per_amount=row.earn_per_amount,
        point_value_points=row.point_value_points,
        point_value_amount=row.point_value_amount,
        redeem_min_points=row.redeem_min_points,
        redeem_max_percent=row.redeem_max_percent,
        pending_days=row.pending_days,
        expiry_days=row.expiry_days,
        tier_window_days=row.tier_window_days,
        tiers=tuple(Tier.from_json(t) for t in row.tiers),
        category_rules={
            name: CategoryRule(int(rule["multiplier_percent"]))
            for name, rule in row.category_rules.items()
        },
        referral_points=row.referral_points,
        referral_min_purchase=row.referral_min_purchase,
        referral_monthly_cap=row.referral_monthly_cap,
        birthday_points=row.birthday_points,
    )


def _to_row(rules: ProgramRules, *, now: dt.datetime, created_by: Any) -> ProgramVersion:
    values = {
        f.name: getattr(rules, f.name)
        for f in dataclasses.fields(rules)
        if f.name not in ("tiers", "category_rules")
    }
    return ProgramVersion(
        **values,
        tiers=[tier.to_json() for tier in rules.tiers],
        category_rules={name: rule.to_json() for name, rule in rules.category_rules.items()},
        created_at=now,
        created_by=created_by,
    )


class RulesCache:
    """The current rules for reads, kept for `ttl_seconds` per process: the hottest reads
    (MemberHome, the till) need them on every request, and they change rarely. A program change
    clears it in the process that made it; the others see it within `ttl_seconds`."""

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._rules: ProgramRules | None = None
        self._until = 0.0

    def fresh(self) -> ProgramRules | None:
        return self._rules if time.monotonic() < self._until else None

    def put(self, rules: ProgramRules) -> None:
        self._rules = rules
        self._until = time.monotonic() + self.ttl_seconds

    def clear(self) -> None:
        self._rules = None
        self._until = 0.0


async def rules_for(session: AsyncSession, cache: RulesCache | None) -> ProgramRules:
    """The current rules: from the process's short cache when one is given and fresh, else read
    (and cached). The till's writes use it too: a new version reaches every server process within
    the cache's TTL, and each purchase records the version it was computed with."""
    if cache is not None and (rules := cache.fresh()) is not None:
        return rules
    rules = await current_rules(session)
    if cache is not None:
        cache.put(rules)
    return rules


async def current_rules(session: AsyncSession) -> ProgramRules:
    row = await session.scalar(
        select(ProgramVersion).order_by(col(ProgramVersion.version).desc()).limit(1)
    )
    if row is None:
        raise NotFound("The program is not set up yet: run `loyalty migrate`.")
    return _to_rules(row)


async def rules_version(session: AsyncSession, version: int) -> ProgramRules:
    row = await session.get(ProgramVersion, version)
    if row is None:
        raise NotFound(f"No program version {version}.")
    return _to_rules(row)


async def ensure_program(
    session: AsyncSession, *, name: str, currency: str, now: dt.datetime
) -> ProgramRules:
    """Seed version 1 with DESIGN.md's defaults when the program has no version yet."""
    row = await session.scalar(select(ProgramVersion).limit(1))
    if row is not None:
        return await current_rules(session)
    rules = program_rules.check_rules(program_rules.default_rules(name=name, currency=currency))
    session.add(_to_row(rules, now=now, created_by=None))
    await session.flush()
    return rules


async def save_version(
    session: AsyncSession, actor: Actor, changed: ProgramRules, *, now: dt.datetime
) -> ProgramRules:
    """Write `changed` as the next version, after checking it. Admins only."""
    require_admin(actor)
    current = await current_rules(session)
    if changed.currency != current.currency:
        raise InvalidInput(
            "The program's currency cannot change: balances and history are in it.",
            field="currency",
        )
    new = dataclasses.replace(changed, version=current.version + 1)
    program_rules.check_rules(new)
    created_by = actor.staff_id if isinstance(actor, StaffActor) else None
    session.add(_to_row(new, now=now, created_by=created_by))
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            "Someone changed the program at the same moment. Reload it and try again."
        ) from None
    return new


# -- use cases -------------------------------------------------------------------------------------


async def update_program(
    db: Database, actor: Actor, clock: Clock, changes: dict[str, Any]
) -> ProgramRules:
    """Change any of the program's scalar rules (by ProgramRules field name)."""
    require_admin(actor)
    unknown = set(changes) - {f.name for f in dataclasses.fields(ProgramRules)} | (
        set(changes) & {"version", "tiers"}
    )
    if unknown:
        raise InvalidInput(f"Unknown program settings: {', '.join(sorted(unknown))}.")
    async with db.transaction() as session:
        current = await current_rules(session)
        if ("point_value_points" in changes) != ("point_value_amount" in changes):
            # One half of "N points are worth M": the other as the API shows it (the fewest
            # points worth whole minor units), so that "pointValue: 2" alone means 2 cents a
            # point where a point was a cent, not 2 cents for the 100 points configured once.
            points, amount = current.point_value_unit
            changes = {"point_value_points": points, "point_value_amount": amount, **changes}
        return await save_version(
            session, actor, dataclasses.replace(current, **changes), now=clock.now()
        )


async def set_tier(db: Database, actor: Actor, clock: Clock, tier: Tier) -> ProgramRules:
    """Add a tier, or change the one with the same code."""
    require_admin(actor)
    async with db.transaction() as session:
        current = await current_rules(session)
        return await save_version(
            session, actor, program_rules.with_tier(current, tier), now=clock.now()
        )
