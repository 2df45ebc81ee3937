"""bus mode: committed position of each partition of the ingest stream

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


def downgrade() -> None:
    op.drop_table('bus_offsets')
