"""alerts, alert notes, each shipment's next rule deadline and its ETA

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:54:17.659971
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('alert_id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('shipment_id', sa.BigInteger(), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('acknowledged_at', sa.BigInteger(), nullable=True),
    sa.Column('closed_at', sa.BigInteger(), nullable=True),
    sa.Column('escalated_at', sa.BigInteger(), nullable=True),
    sa.Column('assignee', sa.String(length=100), nullable=True),
    sa.Column('repeats', sa.Integer(), server_default='0', nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_alerts_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_shipment_id_state'), ['shipment_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_tenant_id_state_opened_at'), ['tenant_id', 'state', 'opened_at'], unique=False)

    op.create_table('alert_notes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.alert_id'], name=op.f('fk_alert_notes_alert_id_alerts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notes'))
    )
    with op.batch_alter_table('alert_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_notes_alert_id'), ['alert_id'], unique=False)

    with op.batch_alter_table('shipment_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_deadline_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('picked_up_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('lane', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('band', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('eta_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('eta_low_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('eta_high_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('eta_basis', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_shipment_states_delivered_at'), ['delivered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_states_next_deadline_at'), ['next_deadline_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('shipment_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_states_next_deadline_at'))
        batch_op.drop_index(batch_op.f('ix_shipment_states_delivered_at'))
        batch_op.drop_column('eta_basis')
        batch_op.drop_column('eta_high_at')
        batch_op.drop_column('eta_low_at')
        batch_op.drop_column('eta_at')
        batch_op.drop_column('band')
        batch_op.drop_column('lane')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('picked_up_at')
        batch_op.drop_column('next_deadline_at')

    with op.batch_alter_table('alert_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_notes_alert_id'))

    op.drop_table('alert_notes')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_tenant_id_state_opened_at'))
        batch_op.drop_index(batch_op.f('ix_alerts_shipment_id_state'))

    op.drop_table('alerts')
