"""the operator's maintained totals (issue 4)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 13:05:00

- `daily_totals`: per (store, UTC day, shard) counters, upserted with every movement;
- `member_accounts.last_purchase_at` / `prev_purchase_at`, and per day the histogram of them
  (`daily_totals.last_buyers` / `prev_buyers`, moved by the purchase's upsert): active and
  repeat buyers are a sum over 30 or 90 days' rows, no index on the accounts (a purchase's
  UPDATE of its account stays HOT on PostgreSQL);
- `members.name_key` / `surname_key` (filled here for existing members) and their indexes, and
  `members.email` in byte-wise order on PostgreSQL: the member search's prefix ranges.

After upgrading a database with history, run `loyalty stats rebuild` once: it fills the totals
and the purchase times from the ledger.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def _key(collated: bool) -> sa.types.TypeEngine:
    return sa.String(length=254, collation="C") if collated else sa.String(length=254)


def _search_key(text: str) -> str:
    """members_service.search_key as of this revision (frozen here: the code may move on)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    folded = unicodedata.normalize("NFC", bare.casefold())
    return " ".join(folded.split())[:254]


def _fill_name_keys() -> None:
    bind = op.get_bind()
    members = sa.table(
        "members",
        sa.column("id", sa.Uuid()),
        sa.column("first_name", sa.String()),
        sa.column("last_name", sa.String()),
        sa.column("name_key", sa.String()),
        sa.column("surname_key", sa.String()),
    )
    after = None
    while True:
        query = sa.select(members.c.id, members.c.first_name, members.c.last_name)
        if after is not None:
            query = query.where(members.c.id > after)
        rows = bind.execute(query.order_by(members.c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(
            sa.update(members)
            .where(members.c.id == sa.bindparam("b_id"))
            .values(name_key=sa.bindparam("b_name"), surname_key=sa.bindparam("b_surname")),
            [
                {
                    "b_id": member_id,
                    "b_name": _search_key(f"{first} {last or ''}"),
                    "b_surname": _search_key(f"{last} {first}") if last else None,
                }
                for member_id, first, last in rows
            ],
        )
        after = rows[-1][0]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "daily_totals",
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("joined", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("redeemed", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.BigInteger(), nullable=False),
        sa.Column("last_buyers", sa.BigInteger(), nullable=False),
        sa.Column("prev_buyers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "day", "shard", name=op.f("pk_daily_totals")),
    )
    with op.batch_alter_table("member_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("prev_purchase_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name_key", _key(postgres), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("surname_key", _key(postgres), nullable=True))
        if postgres:
            batch_op.alter_column(
                "email",
                existing_type=sa.String(length=254),
                type_=_key(True),
                existing_nullable=False,
            )
    _fill_name_keys()
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_name_key", ["name_key", "id"], unique=False)
        batch_op.create_index("ix_members_surname_key", ["surname_key", "id"], unique=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_surname_key")
        batch_op.drop_index("ix_members_name_key")
        if postgres:
            batch_op.alter_column(
                "email",
                existing_type=_key(True),
                type_=sa.String(length=254),
                existing_nullable=False,
            )
        batch_op.drop_column("surname_key")
        batch_op.drop_column("name_key")
    with op.batch_alter_table("member_accounts", schema=None) as batch_op:
        batch_op.drop_column("prev_purchase_at")
        batch_op.drop_column("last_purchase_at")
    op.drop_table("daily_totals")
