"""consumer notifications: subscriptions and the notices owed them

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 10:05:39.855020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notice_subscriptions',
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('to_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('to_digest', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('quiet', sa.String(length=11), nullable=True),
    sa.Column('tz', sa.String(length=40), nullable=False),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('unsubscribed_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('subscription_id', name=op.f('pk_notice_subscriptions'))
    )
    with op.batch_alter_table('notice_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_subscriptions_tenant_id_tracking_no'), ['tenant_id', 'tracking_no'], unique=False)
        batch_op.create_index('uq_notice_subscriptions_live', ['tenant_id', 'tracking_no', 'to_digest'], unique=True, sqlite_where=sa.text('unsubscribed_at IS NULL'), postgresql_where=sa.text('unsubscribed_at IS NULL'))

    op.create_table('notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('topic', sa.String(length=48), nullable=False),
    sa.Column('ref', sa.String(length=100), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('send_after', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.BigInteger(), nullable=True),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['subscription_id'], ['notice_subscriptions.subscription_id'], name=op.f('fk_notices_subscription_id_notice_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('subscription_id', 'topic', 'ref', name=op.f('uq_notices_subscription_id_topic_ref'))
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_state_send_after'), ['state', 'send_after'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_state_send_after'))

    op.drop_table('notices')
    with op.batch_alter_table('notice_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('uq_notice_subscriptions_live', sqlite_where=sa.text('unsubscribed_at IS NULL'), postgresql_where=sa.text('unsubscribed_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_notice_subscriptions_tenant_id_tracking_no'))

    op.drop_table('notice_subscriptions')
