"""Staff accounts: created by admins, bound to stores."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, require_admin
from app.errors import EmailTaken, InvalidInput
from app.kit.ids import parse_id
from app.members import service as members_service
from app.staff.models import Staff, StaffRole, StaffStore
from app.stores import service as stores_service


@dataclass(frozen=True, slots=True)
class NewStaff:
    email: str
    role: str
    store_ids: Sequence[str]


async def find_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff | None:
    return await session.get(Staff, staff_id)


async def find_staff_by_email(session: AsyncSession, email: str) -> Staff | None:
    return await session.scalar(
        select(Staff).where(col(Staff.email) == members_service.normalize_email(email))
    )


async def store_ids(session: AsyncSession, staff_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(col(StaffStore.store_id)).where(col(StaffStore.staff_id) == staff_id)
    )
    return list(rows.all())


async def store_ids_by_staff(
    session: AsyncSession, staff_ids: Sequence[uuid.UUID]
) -> Mapping[uuid.UUID, list[uuid.UUID]]:
    """For a DataLoader: the store ids of many staff members in one query."""
    result: dict[uuid.UUID, list[uuid.UUID]] = {staff_id: [] for staff_id in staff_ids}
    rows = await session.execute(
        select(col(StaffStore.staff_id), col(StaffStore.store_id)).where(
            col(StaffStore.staff_id).in_(list(staff_ids))
        )
    )
    for staff_id, store_id in rows.all():
        result[staff_id].append(store_id)
    return result


async def add_staff(
    session: AsyncSession,
    actor: Actor | None,
    new: NewStaff,
    *,
    password_hash: str,
    now: dt.datetime,
) -> Staff:
    """Insert a staff member bound to stores. The caller checked and hashed the password."""
    require_admin(actor)
    email = members_service.check_email(new.email)
    if new.role not in StaffRole.__members__:
        raise InvalidInput("The role is CASHIER, MANAGER or ADMIN.", field="role")
    ids: list[uuid.UUID] = []
    for raw in new.store_ids:
        store_id = parse_id(raw)
        if store_id is None:
            raise InvalidInput(f"{raw!r} is not a store id.", field="storeIds")
        ids.append(store_id)
    ids = list(dict.fromkeys(ids))
    stores = await stores_service.stores_by_ids(session, ids)
    if len(stores) != len(ids):
        raise InvalidInput("One of these stores does not exist.", field="storeIds")
    if not ids and new.role != StaffRole.ADMIN:
        raise InvalidInput("Cashiers and managers work in at least one store.", field="storeIds")
    if await find_staff_by_email(session, email) is not None:
        raise EmailTaken("A staff account with this e-mail exists already.", field="email")
    staff = Staff(email=email, password_hash=password_hash, role=new.role, created_at=now)
    session.add(staff)
    await session.flush()
    for store_id in ids:
        session.add(StaffStore(staff_id=staff.id, store_id=store_id))
    await session.flush()
    return staff
