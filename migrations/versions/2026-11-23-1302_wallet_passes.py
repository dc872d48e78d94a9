"""wallet passes and device registrations (issue 6)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallet_passes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("pass_type_id", sa.String(length=255), nullable=False),
        sa.Column("serial_number", sa.String(length=64), nullable=False),
        sa.Column("authentication_token", sa.String(length=64), nullable=False),
        sa.Column("face", sa.String(length=64), nullable=False),
        sa.Column("google_object_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_wallet_passes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_passes")),
        sa.UniqueConstraint("member_id", name="uq_wallet_passes_member"),
        sa.UniqueConstraint("pass_type_id", "serial_number", name="uq_wallet_passes_type_serial"),
    )
    op.create_table(
        "wallet_registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("pass_id", sa.Uuid(), nullable=False),
        sa.Column("device_library_id", sa.String(length=128), nullable=False),
        sa.Column("push_token", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_wallet_registrations_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["pass_id"], ["wallet_passes.id"], name=op.f("fk_wallet_registrations_pass_id_wallet_passes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_registrations")),
        sa.UniqueConstraint(
            "member_id", "pass_id", "device_library_id",
            name="uq_wallet_registrations_member_pass_device",
        ),
    )
    with op.batch_alter_table("wallet_registrations", schema=None) as batch_op:
        batch_op.create_index("ix_wallet_registrations_device", ["device_library_id"], unique=False)

    op.create_table(
        "wallet_dev_certificates",
        sa.Column("pass_type_id", sa.String(length=255), nullable=False),
        sa.Column("team_id", sa.String(length=20), nullable=False),
        sa.Column("ca_pem", sa.Text(), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pass_type_id", name=op.f("pk_wallet_dev_certificates")),
    )


def downgrade() -> None:
    op.drop_table("wallet_dev_certificates")
    with op.batch_alter_table("wallet_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_registrations_device")
    op.drop_table("wallet_registrations")
    op.drop_table("wallet_passes")
