"""The back office's member search: `members(search, first, after)`."""

from __future__ import annotations

import strawberry

from app.errors import DomainError
from app.graphql.context import Context
from app.graphql.members import Member
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsStaff
from app.graphql.stats import page_error, query_error
from app.kit.pagination import InvalidCursor, InvalidPageSize
from app.stats import queries as stats_queries


@strawberry.type
class AdminMembersQuery:
    @strawberry.field(
        permission_classes=[IsStaff],
        description="Members by a 16-digit card number (spaces allowed), a phone number with its "
        "country code, the start of an e-mail (with its @) or the start of a first or last name "
        "(case and accents ignored). Administrators and managers. Bad search text is a top-level "
        'error with `extensions.code` INVALID_INPUT and `extensions.field` "search".',
    )
    async def members(
        self,
        info: strawberry.Info[Context, None],
        search: str,
        first: int = 10,
        after: str | None = None,
    ) -> Connection[Member]:
        ctx = info.context
        try:
            async with ctx.reading() as session:
                page = await stats_queries.search_members(
                    session, ctx.actor, search=search, first=first, after=after
                )
        except (InvalidCursor, InvalidPageSize) as error:
            raise page_error(error) from None
        except DomainError as error:
            raise query_error(error) from None
        return connection(page, lambda row: Member(row=row))
