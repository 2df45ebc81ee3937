"""claims for compensation, with the liability analysis they carry, and their timelines

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 05:48:59.606937
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('claims',
    sa.Column('claim_id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('shipment_id', sa.BigInteger(), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('claimant', sa.String(length=16), nullable=False),
    sa.Column('opened_by', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_claimed', sa.BigInteger(), nullable=False),
    sa.Column('amount_approved', sa.BigInteger(), nullable=True),
    sa.Column('amount_paid', sa.BigInteger(), nullable=True),
    sa.Column('payment_ref', sa.String(length=100), nullable=True),
    sa.Column('liable', sa.Text(), nullable=True),
    sa.Column('finding', sa.Text(), nullable=True),
    sa.Column('analysis', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('decided_at', sa.BigInteger(), nullable=True),
    sa.Column('settled_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_claims_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('claim_id', name=op.f('pk_claims'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_tenant_id_opened_at'), ['tenant_id', 'opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_tenant_id_settled_at'), ['tenant_id', 'settled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_tenant_id_tracking_no'), ['tenant_id', 'tracking_no'], unique=False)
        batch_op.create_index('uq_claims_active', ['shipment_id', 'kind', 'claimant'], unique=True, sqlite_where=sa.text("state <> 'settled'"), postgresql_where=sa.text("state <> 'settled'"))

    op.create_table('claim_steps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.claim_id'], name=op.f('fk_claim_steps_claim_id_claims')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_steps'))
    )
    with op.batch_alter_table('claim_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_steps_claim_id'), ['claim_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('claim_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_steps_claim_id'))

    op.drop_table('claim_steps')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('uq_claims_active', sqlite_where=sa.text("state <> 'settled'"), postgresql_where=sa.text("state <> 'settled'"))
        batch_op.drop_index(batch_op.f('ix_claims_tenant_id_tracking_no'))
        batch_op.drop_index(batch_op.f('ix_claims_tenant_id_settled_at'))
        batch_op.drop_index(batch_op.f('ix_claims_tenant_id_opened_at'))

    op.drop_table('claims')
