"""carrier network keys: the operations console across tenants

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("network", sa.String(length=32), nullable=True))
    with op.batch_alter_table("ops_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("network", sa.String(length=32), nullable=True))
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_carrier_created_at"),
                              ["carrier", "created_at"], unique=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_kind_opened_at"), ["kind", "opened_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_kind_opened_at"))
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipments_carrier_created_at"))
    with op.batch_alter_table("ops_alerts", schema=None) as batch_op:
        batch_op.drop_column("network")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("network")
