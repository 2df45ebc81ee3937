"""initial schema: tenants, keys, shipments and their states, events, readings, devices, ledger

The ledger tables are append-only: triggers refuse UPDATE and DELETE on both backends.

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 17:58:29.080999
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

APPEND_ONLY = ("ledger_entries", "ledger_nodes", "ledger_checkpoints")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('devices',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=True),
    sa.Column('vehicle_id', sa.String(length=64), nullable=True),
    sa.Column('facility_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'device_id', name=op.f('pk_devices'))
    )
    op.create_table('ledger_checkpoints',
    sa.Column('size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_ledger_checkpoints'))
    )
    op.create_table('ledger_entries',
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('leaf', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('idx', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_tenant_id_tracking_no_idx'), ['tenant_id', 'tracking_no', 'idx'], unique=False)

    op.create_table('ledger_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_ledger_nodes'))
    )
    op.create_table('quarantined_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.Text(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_events'))
    )
    with op.batch_alter_table('quarantined_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_events_tenant_id_tracking_no'), ['tenant_id', 'tracking_no'], unique=False)

    op.create_table('readings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
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
    sa.Column('shipment_id', sa.BigInteger(), nullable=True),
    sa.Column('vehicle_id', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('ledger_index', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readings')),
    sa.UniqueConstraint('tenant_id', 'device_id', 'ts', name=op.f('uq_readings_tenant_id_device_id_ts'))
    )
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readings_shipment_id_ts'), ['shipment_id', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_readings_tenant_id_vehicle_id_ts'), ['tenant_id', 'vehicle_id', 'ts'], unique=False)

    op.create_table('tenants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants'))
    )
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_keys_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_api_keys'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('order_ref', sa.String(length=100), nullable=True),
    sa.Column('origin', sa.Text(), nullable=False),
    sa.Column('destination', sa.Text(), nullable=False),
    sa.Column('promised_by', sa.BigInteger(), nullable=True),
    sa.Column('promised_offset', sa.SmallInteger(), nullable=True),
    sa.Column('declared_value_fen', sa.BigInteger(), nullable=True),
    sa.Column('route_plan', sa.Text(), server_default='[]', nullable=False),
    sa.Column('devices', sa.Text(), server_default='[]', nullable=False),
    sa.Column('thresholds', sa.Text(), server_default='{}', nullable=False),
    sa.Column('recipient_masked', sa.Text(), nullable=True),
    sa.Column('recipient_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('lookup_digest', sa.String(length=64), nullable=True),
    sa.Column('spec_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_shipments_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('tenant_id', 'tracking_no', name=op.f('uq_shipments_tenant_id_tracking_no'))
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('shipment_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', sa.BigInteger(), nullable=False),
    sa.Column('occurred_offset', sa.SmallInteger(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('substatus', sa.String(length=40), nullable=True),
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('carrier_code', sa.String(length=40), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('facility_id', sa.String(length=64), nullable=True),
    sa.Column('location_name', sa.String(length=200), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('operator_id', sa.String(length=64), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('vehicle_id', sa.String(length=64), nullable=True),
    sa.Column('condition', sa.String(length=16), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('ledger_index', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_events_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('shipment_id', 'occurred_at', 'event_id', name=op.f('uq_events_shipment_id_occurred_at_event_id'))
    )
    op.create_table('shipment_states',
    sa.Column('shipment_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=24), server_default='info_received', nullable=False),
    sa.Column('status_changed_at', sa.BigInteger(), nullable=True),
    sa.Column('last_event_at', sa.BigInteger(), nullable=True),
    sa.Column('event_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('holder_kind', sa.String(length=16), nullable=True),
    sa.Column('holder_id', sa.String(length=64), nullable=True),
    sa.Column('vehicle_id', sa.String(length=64), nullable=True),
    sa.Column('location', sa.Text(), nullable=True),
    sa.Column('condition', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_states_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('shipment_id', name=op.f('pk_shipment_states'))
    )
    with op.batch_alter_table('shipment_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_states_tenant_id_status'), ['tenant_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_states_tenant_id_vehicle_id'), ['tenant_id', 'vehicle_id'], unique=False)
    _append_only()


def downgrade() -> None:
    _drop_append_only()
    with op.batch_alter_table('shipment_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_states_tenant_id_vehicle_id'))
        batch_op.drop_index(batch_op.f('ix_shipment_states_tenant_id_status'))

    op.drop_table('shipment_states')
    op.drop_table('events')
    op.drop_table('shipments')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_tenant_id'))

    op.drop_table('api_keys')
    op.drop_table('tenants')
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readings_tenant_id_vehicle_id_ts'))
        batch_op.drop_index(batch_op.f('ix_readings_shipment_id_ts'))

    op.drop_table('readings')
    with op.batch_alter_table('quarantined_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_events_tenant_id_tracking_no'))

    op.drop_table('quarantined_events')
    op.drop_table('ledger_nodes')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_tenant_id_tracking_no_idx'))

    op.drop_table('ledger_entries')
    op.drop_table('ledger_checkpoints')
    op.drop_table('devices')


def _append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION parcelguard_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION parcelguard_append_only()"
        )


def _drop_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        return
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS parcelguard_append_only()")
