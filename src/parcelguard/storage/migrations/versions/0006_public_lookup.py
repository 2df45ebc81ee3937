"""public lookup: shipments by tracking number alone, wrong answers per tracking number;
shipments by tenant and creation time (dashboard periods)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_shipments_tracking_no'), 'shipments', ['tracking_no'], unique=False)
    op.create_index(op.f('ix_shipments_tenant_id_created_at'), 'shipments', ['tenant_id', 'created_at'], unique=False)
    op.create_table('lookup_failures',
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.BigInteger(), nullable=False),
    sa.Column('locked_until', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('tracking_no', name=op.f('pk_lookup_failures'))
    )


def downgrade() -> None:
    op.drop_table('lookup_failures')
    op.drop_index(op.f('ix_shipments_tenant_id_created_at'), table_name='shipments')
    op.drop_index(op.f('ix_shipments_tracking_no'), table_name='shipments')
