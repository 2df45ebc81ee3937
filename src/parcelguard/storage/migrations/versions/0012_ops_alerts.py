"""operations alerts about facilities

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 10:33:39.902790
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ops_alerts',
    sa.Column('alert_id', sa.String(length=48), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('facility_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('opened_at', sa.BigInteger(), nullable=False),
    sa.Column('cleared_at', sa.BigInteger(), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_ops_alerts'))
    )
    with op.batch_alter_table('ops_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_alerts_tenant_id_opened_at'), ['tenant_id', 'opened_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ops_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_alerts_tenant_id_opened_at'))

    op.drop_table('ops_alerts')
