"""carrier push endpoints (sealed secrets), rejected payloads (sealed bodies), carrier ETAs,
facility positions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:41:35.123450
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('facilities',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('facility_id', sa.String(length=64), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'facility_id', name=op.f('pk_facilities'))
    )
    op.create_table('carrier_estimates',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('estimate', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'tracking_no', 'source', name=op.f('pk_carrier_estimates'))
    )
    op.create_table('rejected_payloads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=True),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('ref', sa.String(length=300), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('field', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('content_type', sa.String(length=200), nullable=True),
    sa.Column('body_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_payloads'))
    )
    with op.batch_alter_table('rejected_payloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rejected_payloads_tenant_id_id'), ['tenant_id', 'id'], unique=False)

    op.create_table('carrier_endpoints',
    sa.Column('endpoint_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_carrier_endpoints_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('endpoint_id', name=op.f('pk_carrier_endpoints'))
    )
    with op.batch_alter_table('carrier_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carrier_endpoints_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('carrier_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carrier_endpoints_tenant_id'))

    op.drop_table('carrier_endpoints')
    with op.batch_alter_table('rejected_payloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rejected_payloads_tenant_id_id'))

    op.drop_table('rejected_payloads')
    op.drop_table('carrier_estimates')
    op.drop_table('facilities')
