"""LTI: staged key rotation (activates_at), courses with their NRPS endpoint, launch contexts

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lti_keys", sa.Column("activates_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "lti_contexts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("registration_id", sa.String(length=32), nullable=False),
        sa.Column("lms_context_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("memberships_url", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["lti_registrations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("registration_id", "lms_context_id"),
    )
    op.add_column("lti_launches", sa.Column("context_id", sa.String(length=32), nullable=True))
    op.create_index("ix_lti_launches_context_id", "lti_launches", ["context_id"])


def downgrade() -> None:
    op.drop_index("ix_lti_launches_context_id", table_name="lti_launches")
    with op.batch_alter_table("lti_launches") as batch:
        batch.drop_column("context_id")
    op.drop_table("lti_contexts")
    with op.batch_alter_table("lti_keys") as batch:
        batch.drop_column("activates_at")
