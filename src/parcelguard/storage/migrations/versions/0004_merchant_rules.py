"""merchant rules (CEL conditions per tenant); deleted rules keep their row

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:20:51.966636
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('merchant_rules',
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('expression', sa.Text(), nullable=False),
    sa.Column('on_input', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.BigInteger(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_merchant_rules_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('rule_id', name=op.f('pk_merchant_rules'))
    )
    with op.batch_alter_table('merchant_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchant_rules_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('merchant_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchant_rules_tenant_id'))

    op.drop_table('merchant_rules')
