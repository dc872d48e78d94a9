"""The operator's member search: by card number, phone, the start of an e-mail or of a name.

Each kind of search is one range of one index, read in the index's order with `LIMIT first+1`
(a keyset page): a million members cost what ten do.
- card: the unique index on `members.card_number` (exact);
- phone: the index on `members.phone` (exact, E.164);
- e-mail: the unique index on `members.email`, byte-wise ordered (prefix);
- name: `ix_members_name_key` ("first last") and `ix_members_surname_key` ("last first"), two
  ranges merged: a member shows once, under the first key that matches.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from sqlalchemy import Select, and_, not_, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, StaffActor, SystemActor
from app.errors import Forbidden
from app.kit import pagination
from app.kit.pagination import InvalidCursor, Page
from app.members import service as members_service
from app.members.models import Member
from app.stats import rules


def require_member_reader(actor: Actor | None) -> None:
    """Administrators and managers look members up (the back office, the service desk);
    cashiers find the member at the till by the code or the typed card number."""
    if isinstance(actor, SystemActor):
        return
    if isinstance(actor, StaffActor) and actor.role in ("ADMIN", "MANAGER"):
        return
    raise Forbidden("Only administrators and managers search members.")


def term_of(search: str) -> rules.SearchTerm:
    return rules.parse_search(
        search,
        name_key=members_service.search_key(search),
        email=members_service.normalize_email(search),
    )


def _encode(kind: str, key: str, member_id: uuid.UUID) -> str:
    raw = json.dumps([kind, key, str(member_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> tuple[str, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found_kind, key, member_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if found_kind != kind or not isinstance(key, str) or not isinstance(member_id, str):
            raise TypeError("a cursor of another search")
        return key, uuid.UUID(member_id)
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise InvalidCursor("The cursor is not one this search returned.") from exc


def _after(key_column: Any, after: tuple[str, uuid.UUID] | None) -> Any:
    if after is None:
        return true()
    key, member_id = after
    return or_(key_column > key, and_(key_column == key, col(Member.id) > member_id))


def _keyed(term: rules.SearchTerm, after: tuple[str, uuid.UUID] | None, limit: int) -> Select[Any]:
    """(member id, sort key) of the matches after the cursor, in the order of the index."""
    if term.kind == "card":
        key_column: Any = col(Member.card_number)
        match: Any = key_column == term.value
    elif term.kind == "phone":
        key_column = col(Member.phone)
        match = key_column == term.value
    elif term.kind == "email":
        key_column = col(Member.email)
        low, high = rules.prefix_range(term.value)
        match = and_(key_column >= low, key_column < high)
    else:
        low, high = rules.prefix_range(term.value)
        name, surname = col(Member.name_key), col(Member.surname_key)
        by_name = and_(name >= low, name < high)
        first: Any = (
            select(col(Member.id).label("id"), name.label("key"))
            .where(by_name, _after(name, after))
            .order_by(name, col(Member.id))
            .limit(limit)
        )
        second: Any = (
            select(col(Member.id).label("id"), surname.label("key"))
            .where(surname >= low, surname < high, not_(by_name), _after(surname, after))
            .order_by(surname, col(Member.id))
            .limit(limit)
        )
        both = union_all(select(first.subquery()), select(second.subquery())).subquery()
        return select(both.c.id, both.c.key).order_by(both.c.key, both.c.id).limit(limit)
    return (
        select(col(Member.id), key_column)
        .where(match, _after(key_column, after))
        .order_by(key_column, col(Member.id))
        .limit(limit)
    )


def search_statement(search: str, *, first: int = 10, after: str | None = None) -> Select[Any]:
    """The statement a search runs (the tests EXPLAIN it)."""
    term = term_of(search)
    return _keyed(term, _decode(after, term.kind) if after else None, first + 1)


async def search_members(
    session: AsyncSession,
    actor: Actor | None,
    *,
    search: str,
    first: int,
    after: str | None,
) -> Page[Member]:
    """Members matching what the operator typed, in the order of the key searched."""
    require_member_reader(actor)
    pagination.check_first(first)
    term = term_of(search)
    cursor = _decode(after, term.kind) if after else None
    rows = (await session.execute(_keyed(term, cursor, first + 1))).all()
    page = rows[:first]
    members = await members_service.find_members(session, [member_id for member_id, _ in page])
    return Page(
        items=[members[member_id] for member_id, _ in page],
        cursors=[_encode(term.kind, key, member_id) for member_id, key in page],
        has_next=len(rows) > first,
    )
