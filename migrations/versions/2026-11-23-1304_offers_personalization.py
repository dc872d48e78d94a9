"""offers' conditions, uses and notices; the tier year before an upgrade (issue 4)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:04:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('store_ids', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('weekdays', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('hour_from', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hour_to', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('uses_per_member', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('audience', sa.String(length=20), nullable=False, server_default='EVERYONE'))
    # The JSON defaults only filled the existing rows: the model has none.
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.alter_column('store_ids', server_default=None)
        batch_op.alter_column('weekdays', server_default=None)

    op.create_table('offer_uses',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('purchase_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=True),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('discount', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_offer_uses_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_offer_uses_member_id_members')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_uses_offer_id_offers')),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_offer_uses_purchase_id_purchases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_uses')),
    sa.UniqueConstraint('member_id', 'offer_id', 'seq', name='uq_offer_uses_member_offer_seq')
    )
    with op.batch_alter_table('offer_uses', schema=None) as batch_op:
        batch_op.create_index('ix_offer_uses_member_purchase', ['member_id', 'purchase_id'], unique=False)

    # The tier review at the end of each member's tier year (app.jobs.review_tiers).
    with op.batch_alter_table('member_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_accounts_tier_year_ends_at'), ['tier_year_ends_at'], unique=False)

    # Who was told an offer is available to them (app.jobs.announce_offers), once per offer.
    op.create_table('offer_notices',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_offer_notices_member_id_members')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_notices_offer_id_offers')),
    sa.PrimaryKeyConstraint('offer_id', 'member_id', name=op.f('pk_offer_notices'))
    )
    op.create_table('offer_notice_scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('after_member_id', sa.Uuid(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_notice_scans'))
    )

    # A refund that takes an upgrade back restores the tier year the upgrade replaced.
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_year_ends_before', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_column('tier_year_ends_before')

    op.drop_table('offer_notice_scans')
    op.drop_table('offer_notices')

    with op.batch_alter_table('member_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_accounts_tier_year_ends_at'))

    with op.batch_alter_table('offer_uses', schema=None) as batch_op:
        batch_op.drop_index('ix_offer_uses_member_purchase')
    op.drop_table('offer_uses')

    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('audience')
        batch_op.drop_column('uses_per_member')
        batch_op.drop_column('hour_to')
        batch_op.drop_column('hour_from')
        batch_op.drop_column('weekdays')
        batch_op.drop_column('store_ids')
