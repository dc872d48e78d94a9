"""The operator's member search: card, phone, e-mail prefix, name prefix; keyset pages; each
kind one range of one index (EXPLAIN on SQLite and on PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.actors import MemberActor, StaffActor, SystemActor
from app.errors import Forbidden, InvalidInput
from app.kit.pagination import InvalidCursor
from app.members import service as members_service
from app.stats import queries
from app.stats import service as stats_service
from tests.conftest import ON_POSTGRES
from tests.support import create_member

ADMIN = StaffActor(uuid.uuid4(), "ADMIN")


async def search(db, text_: str, *, first: int = 10, after: str | None = None, actor=ADMIN):
    async with db.read() as session:
        return await queries.search_members(session, actor, search=text_, first=first, after=after)


async def emails(db, text_: str, **kwargs) -> list[str]:
    return [member.email for member in (await search(db, text_, **kwargs)).items]


async def people(db, settings, clock) -> dict[str, object]:
    found = {}
    for email, first, last, phone in [
        ("ann.smith@example.com", "Ann", "Smith", "+14155550101"),
        ("annette@example.org", "Annette", None, None),
        ("jose@example.com", "José", "Åberg", "+4915112345678"),
        ("bob@example.com", "Bob", "Annan", None),
        ("zoe@example.com", "Zoë", "Anders", "+14155550199"),
    ]:
        _, member = await create_member(
            db, settings, clock, email=email, first_name=first, last_name=last, phone=phone
        )
        found[email] = member
    return found


async def test_finds_by_card_number_typed_with_spaces(db, settings, clock):
    # given
    members = await people(db, settings, clock)
    card = members["bob@example.com"].card_number  # type: ignore[attr-defined]

    # when
    found = await emails(db, f" {card[:4]} {card[4:8]}-{card[8:12]} {card[12:]} ")

    # then
    assert found == ["bob@example.com"]


async def test_finds_by_phone_in_international_form(db, settings, clock):
    # given
    await people(db, settings, clock)

    # when
    by_plus = await emails(db, "+1 (415) 555-0101")
    by_zeros = await emails(db, "0049 151 12345678")
    nobody = await emails(db, "+14155550100")

    # then
    assert (by_plus, by_zeros, nobody) == (["ann.smith@example.com"], ["jose@example.com"], [])


async def test_finds_by_the_start_of_an_email(db, settings, clock):
    # given
    await people(db, settings, clock)

    # when
    whole = await emails(db, " Ann.Smith@Example.com ")
    start = await emails(db, "ann")
    with_at = await emails(db, "an@")

    # then: without an @ "ann" is a name
    assert whole == ["ann.smith@example.com"]
    assert with_at == []
    assert await emails(db, "annette@") == ["annette@example.org"]
    assert start == ["ann.smith@example.com", "bob@example.com", "annette@example.org"]


async def test_finds_by_the_start_of_a_first_or_last_name(db, settings, clock):
    # given
    await people(db, settings, clock)

    # when
    ann = await emails(db, "ANN")  # Ann Smith, Annette; Bob Annan by his last name
    jose = await emails(db, "jose ab")  # accents and case ignored, first name then last
    aberg = await emails(db, "Åberg")
    zoe = await emails(db, "zoe anders")
    anders = await emails(db, "and")

    # then: ordered by the key that matched ("ann smith", "annan bob", "annette")
    assert ann == ["ann.smith@example.com", "bob@example.com", "annette@example.org"]
    assert (jose, aberg) == (["jose@example.com"], ["jose@example.com"])
    assert (zoe, anders) == (["zoe@example.com"], ["zoe@example.com"])


async def test_a_member_matching_both_names_shows_once(db, settings, clock):
    # given
    await create_member(
        db, settings, clock, email="a@example.com", first_name="Anna", last_name="Annis"
    )

    # when
    found = await emails(db, "ann")

    # then
    assert found == ["a@example.com"]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(db, settings, clock):
    # given: 7 members named Ann..., and Bob Annan
    for index in range(7):
        await create_member(
            db, settings, clock, email=f"m{index}@example.com", first_name=f"Ann{6 - index}"
        )
    await create_member(
        db, settings, clock, email="bob@example.com", first_name="Bob", last_name="Annan"
    )

    # when
    pages, after = [], None
    while True:
        page = await search(db, "ann", first=3, after=after)
        pages.append([member.first_name for member in page.items])
        if not page.has_next:
            break
        after = page.end_cursor

    # then
    assert pages == [["Ann0", "Ann1", "Ann2"], ["Ann3", "Ann4", "Ann5"], ["Ann6", "Bob"]]


@pytest.mark.parametrize(
    ("text_", "message"),
    [
        ("", "Type an e-mail"),
        ("   ", "Type an e-mail"),
        ("a", "at least 2 letters"),
        ("@", "more of the e-mail"),
        ("7000 0000 0000 0001", "check digit"),
        ("4155550123", "16 digits"),
        ("+12", "country code"),
        ("x" * 255, "at most 254"),
    ],
)
async def test_refuses_a_search_too_short_or_malformed(db, text_, message):
    # when / then
    with pytest.raises(InvalidInput) as refused:
        await search(db, text_)
    assert refused.value.field == "search"
    assert message in refused.value.message


async def test_refuses_a_cursor_of_another_search(db, settings, clock):
    # given
    await people(db, settings, clock)
    page = await search(db, "an", first=1)

    # when / then
    assert page.has_next
    with pytest.raises(InvalidCursor):
        await search(db, "ann.smith@", after=page.end_cursor)


@pytest.mark.parametrize(
    "actor",
    [StaffActor(uuid.uuid4(), "CASHIER", frozenset()), MemberActor(uuid.uuid4()), None],
)
async def test_only_administrators_and_managers_search(db, actor):
    # when / then
    with pytest.raises(Forbidden):
        await search(db, "ann", actor=actor)


async def test_managers_search(db, settings, clock):
    # given
    await people(db, settings, clock)
    manager = StaffActor(uuid.uuid4(), "MANAGER", frozenset())

    # when
    found = await emails(db, "bob@", actor=manager)

    # then
    assert found == ["bob@example.com"]


async def test_a_changed_name_is_found_by_its_new_key(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock, email="k@example.com", first_name="Kim")

    # when
    await members_service.update_profile(
        db, MemberActor(member.id), clock, members_service.ProfileChanges(last_name="Östberg")
    )

    # then
    assert await emails(db, "ostberg kim") == ["k@example.com"]
    assert await emails(db, "kim öst") == ["k@example.com"]


# -- every query by an index -----------------------------------------------------------------------


async def plan(conn: AsyncConnection, statement) -> str:
    """The plan of `statement` as one string: EXPLAIN QUERY PLAN on SQLite; EXPLAIN on
    PostgreSQL with sequential scans priced out, so a tiny table cannot hide a missing index."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    if ON_POSTGRES:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await conn.execute(text(f"EXPLAIN {compiled}"))
        return "\n".join(row[0] for row in rows)
    rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
    return "\n".join(row[-1] for row in rows)


def assert_no_full_scan(found: str, table: str) -> None:
    if ON_POSTGRES:
        assert f"Seq Scan on {table}" not in found, found
    else:
        assert f"SCAN {table}\n" not in found + "\n" and f"SCAN {table} " not in found, found


# SQLite names the indexes of unique constraints sqlite_autoindex_<table>_<n>: its plans are
# recognised by the index's range instead.
@pytest.mark.parametrize(
    ("search_text", "indexes"),
    [
        (
            "7000 0000 0000 0005",
            ["uq_members_card_number"] if ON_POSTGRES else ["INDEX", "(card_number=?)"],
        ),
        ("+14155550101", ["ix_members_phone"]),
        (
            "ann.smith@ex",
            ["uq_members_email"] if ON_POSTGRES else ["INDEX", "(email>? AND email<?)"],
        ),
        ("ann sm", ["ix_members_name_key", "ix_members_surname_key"]),
    ],
)
async def test_each_search_reads_one_index_range(db, search_text, indexes):
    # given: a search and its second page's cursor
    first = queries.search_statement(search_text)
    cursor = queries._encode(queries.term_of(search_text).kind, "k", uuid.uuid4())

    # when
    async with db.engine.connect() as conn:
        plans = [
            await plan(conn, first),
            await plan(conn, queries.search_statement(search_text, after=cursor)),
        ]

    # then
    for found in plans:
        assert_no_full_scan(found, "members")
        for index in indexes:
            assert index in found, found


async def test_the_numbers_read_by_index(db, clock):
    # given
    activity = stats_service.activity_statement(now=clock.now())
    program = stats_service.totals_statement(stats_service.ALL_STORES)

    # when
    async with db.engine.connect() as conn:
        activity_plan = await plan(conn, activity)
        totals_plan = await plan(conn, program)

    # then: both are a range of the program's rows, no account is read
    primary_key = "pk_daily_totals" if ON_POSTGRES else "sqlite_autoindex_daily_totals"
    for found in (activity_plan, totals_plan):
        assert primary_key in found, found
        assert_no_full_scan(found, "daily_totals")
        assert "member_accounts" not in found, found


def test_system_actor_may_search():
    queries.require_member_reader(SystemActor("cli"))
