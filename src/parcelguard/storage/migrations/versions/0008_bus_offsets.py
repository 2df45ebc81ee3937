"""bus mode: committed position of each partition of the ingest stream, and the vehicle
readings a partition applied as copies; where each reading was applied (rebuild order)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 03:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bus_offsets',
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('partition', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('stream', 'partition', name=op.f('pk_bus_offsets'))
    )


    op.create_table('vehicle_copies',
    sa.Column('partition', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('ts_offset', sa.SmallInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('speed_kmh', sa.Float(), nullable=True),
    sa.Column('temperature_c', sa.Float(), nullable=True),
    sa.Column('humidity_pct', sa.Float(), nullable=True),
    sa.Column('shock_g', sa.Float(), nullable=True),
    sa.Column('light_lux', sa.Float(), nullable=True),
    sa.Column('battery_pct', sa.Float(), nullable=True),
    sa.Column('vehicle_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('ledger_index', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('partition', 'tenant_id', 'device_id', 'ts', name=op.f('pk_vehicle_copies'))
    )
    op.create_index(op.f('ix_vehicle_copies_partition_tenant_id_vehicle_id_ts'), 'vehicle_copies', ['partition', 'tenant_id', 'vehicle_id', 'ts'], unique=False)


    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_column('position')
    op.drop_table('vehicle_copies')
    op.drop_table('bus_offsets')
