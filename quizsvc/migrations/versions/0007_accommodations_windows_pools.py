"""Accommodations and their audit trail; exam windows open as well as close

Question pools need no schema: a pooled exam's extra questions are frozen in its
``questions`` JSON like the others, each with its pool line.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accommodations",
        sa.Column("exam_id", sa.String(length=32), nullable=False),
        sa.Column("learner_id", sa.String(length=200), nullable=False),
        sa.Column("extra_minutes", sa.Integer(), nullable=True),
        sa.Column("time_multiplier", sa.Float(), nullable=True),
        sa.Column("extra_attempts", sa.Integer(), nullable=False),
        sa.Column("close_extension_minutes", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"]),
        sa.ForeignKeyConstraint(["updated_by"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("exam_id", "learner_id"),
    )
    op.create_table(
        "accommodation_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exam_id", sa.String(length=32), nullable=False),
        sa.Column("learner_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("changed_by", sa.Integer(), nullable=False),
        sa.Column("changed_by_role", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved_attempts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"]),
        sa.ForeignKeyConstraint(["changed_by"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_accommodation_changes_exam_id", "accommodation_changes", ["exam_id"])
    op.create_index("ix_accommodation_changes_learner_id", "accommodation_changes", ["learner_id"])
    op.create_index("ix_accommodation_changes_changed_at", "accommodation_changes", ["changed_at"])
    with op.batch_alter_table("exams") as batch:
        batch.add_column(sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exams") as batch:
        batch.drop_column("opens_at")
    op.drop_table("accommodation_changes")
    op.drop_table("accommodations")
