"""DataLoaders, built per request: one query per batch, never one per object."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from app.graphql.context import Context
from app.ledger import service as ledger_service
from app.staff import service as staff_service
from app.stores import service as stores_service


def build_loaders(ctx: Context) -> dict[str, DataLoader[Any, Any]]:
    return Loaders(ctx)


class Loaders(dict[str, DataLoader[Any, Any]]):
    """The request's loaders by name, each built when first asked for: most requests (the
    till's) ask for none."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    def __missing__(self, name: str) -> DataLoader[Any, Any]:
        loader = self[name] = DataLoader(load_fn=_LOADS[name](self.ctx))
        return loader


def _accounts(ctx: Context) -> Any:
    async def load(member_ids: Sequence[uuid.UUID]) -> list[Any]:
        async with ctx.reading() as session:
            found = await ledger_service.accounts_by_member(session, member_ids)
        return [found[member_id] for member_id in member_ids]

    return load


def _stores_of_staff(ctx: Context) -> Any:
    async def load(staff_ids: Sequence[uuid.UUID]) -> list[Any]:
        async with ctx.reading() as session:
            ids = await staff_service.store_ids_by_staff(session, staff_ids)
            stores = {
                store.id: store
                for store in await stores_service.stores_by_ids(
                    session, [s for each in ids.values() for s in each]
                )
            }
        return [
            sorted((stores[s] for s in ids[staff_id]), key=lambda store: store.code)
            for staff_id in staff_ids
        ]

    return load


_LOADS = {"account": _accounts, "stores_of_staff": _stores_of_staff}
