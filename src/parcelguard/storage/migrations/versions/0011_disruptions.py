"""disruptions that delay parcels

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 10:19:35.926480
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('disruptions',
    sa.Column('disruption_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.BigInteger(), nullable=False),
    sa.Column('ends_at', sa.BigInteger(), nullable=False),
    sa.Column('extra_h', sa.Float(), nullable=False),
    sa.Column('cities', sa.Text(), nullable=False),
    sa.Column('facility_id', sa.String(length=64), nullable=True),
    sa.Column('polygon', sa.Text(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('cancelled_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('disruption_id', name=op.f('pk_disruptions'))
    )
    with op.batch_alter_table('disruptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disruptions_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_disruptions_tenant_id_created_at'), ['tenant_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('disruptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disruptions_tenant_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_disruptions_ends_at'))

    op.drop_table('disruptions')
