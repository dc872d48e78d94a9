"""rewards, vouchers, causes, donations, referrals, birthdays (issue 4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 13:03:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rewards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("points_cost", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=True),
        sa.Column("stock", sa.BigInteger(), nullable=True),
        sa.Column("tier_codes", sa.JSON(), nullable=False),
        sa.Column("store_ids", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voucher_valid_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rewards")),
    )
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.create_index("ix_rewards_created_id", ["created_at", "id"], unique=False)

    op.create_table(
        "vouchers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_store_id", sa.Uuid(), nullable=True),
        sa.Column("used_staff_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_vouchers_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_vouchers_reward_id_rewards")
        ),
        sa.ForeignKeyConstraint(
            ["used_store_id"], ["stores.id"], name=op.f("fk_vouchers_used_store_id_stores")
        ),
        sa.ForeignKeyConstraint(
            ["used_staff_id"], ["staff.id"], name=op.f("fk_vouchers_used_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("code", name="uq_vouchers_code"),
    )
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vouchers_member_issued", ["member_id", "issued_at", "id"], unique=False
        )
        batch_op.create_index("ix_vouchers_reward", ["reward_id"], unique=False)

    op.create_table(
        "causes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("total_points", sa.BigInteger(), nullable=False),
        sa.Column("donations", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_causes")),
        sa.UniqueConstraint("name", name="uq_causes_name"),
    )
    with op.batch_alter_table("causes", schema=None) as batch_op:
        batch_op.create_index("ix_causes_created_id", ["created_at", "id"], unique=False)

    op.create_table(
        "donations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("cause_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_donations_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["cause_id"], ["causes.id"], name=op.f("fk_donations_cause_id_causes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donations")),
    )
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_donations_member_created", ["member_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_donations_cause_created", ["cause_id", "created_at"], unique=False
        )

    op.create_table(
        "referrals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("referrer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
        sa.Column("member_points", sa.BigInteger(), nullable=False),
        sa.Column("referrer_points", sa.BigInteger(), nullable=False),
        sa.Column("member_entry_id", sa.Uuid(), nullable=True),
        sa.Column("referrer_entry_id", sa.Uuid(), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_referrals_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["members.id"], name=op.f("fk_referrals_referrer_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("member_id", name="uq_referrals_member_id"),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referrals_referrer_settled", ["referrer_id", "settled_at"], unique=False
        )

    op.create_table(
        "birthday_bonuses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("birthday", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_birthday_bonuses_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_birthday_bonuses")),
        sa.UniqueConstraint("member_id", "year", name="uq_birthday_bonuses_member_year"),
    )

    # When a member's birth date was set (NULL: before this revision, long enough ago), and the
    # birthday job's index.
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("birth_date_set_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_members_birth_date"), ["birth_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_birth_date"))
        batch_op.drop_column("birth_date_set_at")

    op.drop_table("birthday_bonuses")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_referrer_settled")

    op.drop_table("referrals")
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_index("ix_donations_cause_created")
        batch_op.drop_index("ix_donations_member_created")

    op.drop_table("donations")
    with op.batch_alter_table("causes", schema=None) as batch_op:
        batch_op.drop_index("ix_causes_created_id")

    op.drop_table("causes")
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_index("ix_vouchers_reward")
        batch_op.drop_index("ix_vouchers_member_issued")

    op.drop_table("vouchers")
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.drop_index("ix_rewards_created_id")

    op.drop_table("rewards")
