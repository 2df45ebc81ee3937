"""identity-verified delivery: pickup codes (digests only) and the recipients' message outbox

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pickup_codes',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('code_digest', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.BigInteger(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.BigInteger(), nullable=True),
    sa.Column('used_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'tracking_no', name=op.f('pk_pickup_codes'))
    )
    op.create_table('consumer_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('to_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('body_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumer_messages'))
    )
    op.create_index(op.f('ix_consumer_messages_tenant_id_tracking_no'), 'consumer_messages', ['tenant_id', 'tracking_no'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_consumer_messages_tenant_id_tracking_no'), table_name='consumer_messages')
    op.drop_table('consumer_messages')
    op.drop_table('pickup_codes')
