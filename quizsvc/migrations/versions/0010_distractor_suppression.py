"""Distractors an instructor suppressed per card, with who and when (and who lifted them)

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "distractor_suppressions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("card_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("text_key", sa.String(length=1000), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("suppressed_by", sa.Integer(), nullable=True),
        sa.Column("suppressed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_by", sa.Integer(), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_distractor_suppressions_card", "distractor_suppressions", ["card_id", "text_key"]
    )


def downgrade() -> None:
    op.drop_index("ix_distractor_suppressions_card", table_name="distractor_suppressions")
    op.drop_table("distractor_suppressions")
