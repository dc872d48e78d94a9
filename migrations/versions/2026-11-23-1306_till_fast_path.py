"""the till's hot path: account-row summaries (issue 3)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 13:06:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_expiry_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("qualifying_total", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("referral_pending", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Existing accounts: the exact values, from their lots and entries.
    op.execute(
        """
        UPDATE member_accounts SET
          next_expiry_at = (
            SELECT MIN(point_lots.expires_at) FROM point_lots
            WHERE point_lots.member_id = member_accounts.member_id AND point_lots.remaining > 0
          ),
          qualifying_total = COALESCE((
            SELECT SUM(ledger_entries.qualifying) FROM ledger_entries
            WHERE ledger_entries.member_id = member_accounts.member_id
          ), 0),
          referral_pending = EXISTS (
            SELECT 1 FROM members
            WHERE members.id = member_accounts.member_id AND members.referred_by_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM referrals WHERE referrals.member_id = members.id)
          )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("member_accounts", schema=None) as batch_op:
        batch_op.drop_column("referral_pending")
        batch_op.drop_column("qualifying_total")
        batch_op.drop_column("next_expiry_at")
