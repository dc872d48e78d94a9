"""Staff and stores: `staffMe`, and the admin's `createStore` and `createStaff`."""

from __future__ import annotations

import enum
from typing import Annotated

import strawberry

from app.auth import service as auth_service
from app.auth.actors import StaffActor
from app.graphql.context import Context
from app.graphql.errors import ConflictError, ForbiddenError, InvalidInputError, user_errors
from app.graphql.permissions import IsAdmin, IsStaff
from app.staff import models as staff_models
from app.staff import service as staff_service
from app.stores import models as stores_models
from app.stores import service as stores_service


@strawberry.enum
class StaffRole(enum.Enum):
    CASHIER = "CASHIER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"


@strawberry.type
class Store:
    id: strawberry.ID
    code: str
    name: str
    timezone: str

    @classmethod
    def of(cls, row: stores_models.Store) -> Store:
        return cls(
            id=strawberry.ID(str(row.id)), code=row.code, name=row.name, timezone=row.timezone
        )


@strawberry.type
class Staff:
    row: strawberry.Private[staff_models.Staff]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def email(self) -> str:
        return self.row.email

    @strawberry.field
    def role(self) -> StaffRole:
        return StaffRole(self.row.role)

    @strawberry.field(description="The stores this account works in (admins act in every store).")
    async def stores(self, info: strawberry.Info[Context, None]) -> list[Store]:
        rows = await info.context.loaders["stores_of_staff"].load(self.row.id)
        return [Store.of(row) for row in rows]


@strawberry.input
class CreateStoreInput:
    code: str
    name: str
    timezone: str | None = strawberry.field(default=None, description="IANA; default UTC.")


@strawberry.input
class CreateStaffInput:
    email: str
    password: str
    role: StaffRole
    store_ids: list[strawberry.ID]


CreateStoreResult = Annotated[
    Store | InvalidInputError | ConflictError | ForbiddenError,
    strawberry.union("CreateStoreResult"),
]
CreateStaffResult = Annotated[
    Staff | InvalidInputError | ConflictError | ForbiddenError,
    strawberry.union("CreateStaffResult"),
]


@strawberry.type
class StaffQuery:
    @strawberry.field(permission_classes=[IsStaff], description="The signed-in staff account.")
    async def staff_me(self, info: strawberry.Info[Context, None]) -> Staff:
        ctx = info.context
        assert isinstance(ctx.actor, StaffActor)
        async with ctx.reading() as session:
            row = await staff_service.find_staff(session, ctx.actor.staff_id)
        assert row is not None  # the actor was loaded from this row for this request
        return Staff(row=row)

    @strawberry.field(permission_classes=[IsAdmin], description="Every store, by code.")
    async def stores(self, info: strawberry.Info[Context, None]) -> list[Store]:
        async with info.context.reading() as session:
            rows = await stores_service.list_stores(session)
        return [Store.of(row) for row in rows]


@strawberry.type
class StaffMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    @user_errors
    async def create_store(
        self, info: strawberry.Info[Context, None], input: CreateStoreInput
    ) -> CreateStoreResult:
        ctx = info.context
        row = await stores_service.create_store(
            ctx.db,
            ctx.actor,
            ctx.clock,
            stores_service.NewStore(code=input.code, name=input.name, timezone=input.timezone),
        )
        return Store.of(row)

    @strawberry.mutation(permission_classes=[IsAdmin])
    @user_errors
    async def create_staff(
        self, info: strawberry.Info[Context, None], input: CreateStaffInput
    ) -> CreateStaffResult:
        ctx = info.context
        row = await auth_service.create_staff(
            ctx.db,
            ctx.actor,
            ctx.clock,
            ctx.services.hasher,
            staff_service.NewStaff(
                email=input.email,
                role=input.role.value,
                store_ids=[str(i) for i in input.store_ids],
            ),
            password=input.password,
        )
        return Staff(row=row)
