"""LTI rosters: the learners a course's Names and Role Provisioning Service listed

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lti_members",
        sa.Column("context_id", sa.String(length=32), nullable=False),
        sa.Column("learner_id", sa.String(length=200), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["context_id"], ["lti_contexts.id"]),
        sa.PrimaryKeyConstraint("context_id", "learner_id"),
    )
    op.create_index("ix_lti_members_learner_id", "lti_members", ["learner_id"])


def downgrade() -> None:
    op.drop_index("ix_lti_members_learner_id", table_name="lti_members")
    op.drop_table("lti_members")
