"""The review queue, the audit trail of grade changes, per-exam review threshold and appeal
window

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grade_reviews",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("attempt_id", sa.String(length=32), nullable=False),
        sa.Column("exam_id", sa.String(length=32), nullable=False),
        sa.Column("learner_id", sa.String(length=200), nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("automatic", sa.JSON(), nullable=False),
        sa.Column("appealed", sa.Boolean(), nullable=False),
        sa.Column("appeal_comment", sa.Text(), nullable=True),
        sa.Column("appealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attempt_id", "question_id"),
    )
    for column in ("attempt_id", "exam_id", "learner_id", "status", "created_at"):
        op.create_index(f"ix_grade_reviews_{column}", "grade_reviews", [column])
    op.create_table(
        "grade_changes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("attempt_id", sa.String(length=32), nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("grader_version", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_grade_changes_attempt_id", "grade_changes", ["attempt_id"])
    op.create_index("ix_grade_changes_changed_at", "grade_changes", ["changed_at"])
    with op.batch_alter_table("exams") as batch:
        batch.add_column(sa.Column("review_below", sa.Float(), nullable=True))
        batch.add_column(sa.Column("appeal_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exams") as batch:
        batch.drop_column("appeal_days")
        batch.drop_column("review_below")
    op.drop_table("grade_changes")
    op.drop_table("grade_reviews")
