"""Who is acting. Services take an Actor and check it against every object they touch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.errors import Forbidden


@dataclass(frozen=True, slots=True)
class MemberActor:
    member_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class StaffActor:
    staff_id: uuid.UUID
    role: str  # CASHIER | MANAGER | ADMIN
    store_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"

    def can_act_in(self, store_id: uuid.UUID) -> bool:
        return self.is_admin or store_id in self.store_ids


@dataclass(frozen=True, slots=True)
class SystemActor:
    """The CLI and the worker."""

    name: str = "system"


Actor = MemberActor | StaffActor | SystemActor


def require_self(actor: Actor | None, member_id: uuid.UUID) -> None:
    """A member reads and changes only itself; admins and the system may act on anyone."""
    if isinstance(actor, MemberActor) and actor.member_id == member_id:
        return
    if isinstance(actor, StaffActor) and actor.is_admin:
        return
    if isinstance(actor, SystemActor):
        return
    raise Forbidden("You may only see and change your own account.")


def require_admin(actor: Actor | None) -> None:
    if isinstance(actor, SystemActor) or (isinstance(actor, StaffActor) and actor.is_admin):
        return
    raise Forbidden("Only an administrator may do this.")


def require_store(
    actor: Actor | None, store_id: uuid.UUID, *, field: str = "storeId"
) -> StaffActor:
    """Staff act only in the stores they are assigned to (admins everywhere). `field` names the
    input that led to the store (the store itself, a checkout, a purchase)."""
    if isinstance(actor, StaffActor) and actor.can_act_in(store_id):
        return actor
    raise Forbidden("You are not assigned to this store.", field=field)
