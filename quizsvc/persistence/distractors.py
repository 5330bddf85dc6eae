"""Distractors an instructor took out of a card's questions.

Item statistics flag a card's wrong options that no one picks (dead) or that stronger
learners pick more than weaker ones; an instructor then suppresses the option for that card,
and exams built afterwards draw it no more (``build_exam(suppressed_distractors=...)``).
Nothing is deleted: lifting a suppression stamps the row, so who suppressed what, when, and
who undid it stays on record.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from quizsvc.exams.distractors import compact
from quizsvc.persistence.base import Base, StoreBase, UTCDateTime, new_id

#: Longest option text accepted (option texts of the bank are far shorter).
MAX_OPTION_TEXT = 1000
MAX_REASON = 500


class DistractorSuppression(Base):
    """One suppression of one option text for one card; in force while ``lifted_at`` is
    None."""

    __tablename__ = "distractor_suppressions"
    __table_args__ = (Index("ix_distractor_suppressions_card", "card_id", "text_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card_id: Mapped[str] = mapped_column(String(64))
    #: The option as shown.
    text: Mapped[str] = mapped_column(String(MAX_OPTION_TEXT))
    #: ``quizsvc.exams.distractors.compact`` of the text: case, punctuation and plurals
    #: never make a second suppression of the same option.
    text_key: Mapped[str] = mapped_column(String(MAX_OPTION_TEXT))
    reason: Mapped[str | None] = mapped_column(String(MAX_REASON), nullable=True)
    #: The API key ids of who suppressed and who lifted it.
    suppressed_by: Mapped[int | None] = mapped_column(Integer)
    suppressed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_by: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, default=None)

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class AlreadySuppressed(Exception):
    """The option is already suppressed for the card (``existing_id``: the suppression in
    force)."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(f"already suppressed by {existing_id}")
        self.existing_id = existing_id


class DistractorStore(StoreBase):
    """Suppressed distractors per card, with their audit trail."""

    def suppress_distractor(
        self, card_id: str, text: str, by: int | None, reason: str | None = None
    ) -> DistractorSuppression:
        """Suppress ``text`` for ``card_id``; raises :class:`AlreadySuppressed` when a
        suppression of the same option is in force."""
        key = compact(text)
        with self.write_session() as session:
            existing = session.scalars(
                select(DistractorSuppression)
                .where(
                    DistractorSuppression.card_id == card_id,
                    DistractorSuppression.text_key == key,
                    DistractorSuppression.lifted_at.is_(None),
                )
                .with_for_update()
            ).first()
            if existing is not None:
                raise AlreadySuppressed(existing.id)
            row = DistractorSuppression(
                id=new_id(),
                card_id=card_id,
                text=text,
                text_key=key,
                reason=reason,
                suppressed_by=by,
                suppressed_at=datetime.now(UTC),
            )
            session.add(row)
            return row

    def lift_distractor_suppression(
        self, card_id: str, suppression_id: str, by: int | None
    ) -> DistractorSuppression | None:
        """Undo a suppression in force (None if the card has no such one in force)."""
        with self.write_session() as session:
            row = session.scalars(
                select(DistractorSuppression)
                .where(
                    DistractorSuppression.id == suppression_id,
                    DistractorSuppression.card_id == card_id,
                    DistractorSuppression.lifted_at.is_(None),
                )
                .with_for_update()
            ).first()
            if row is None:
                return None
            row.lifted_by = by
            row.lifted_at = datetime.now(UTC)
            return row

    def distractor_suppressions(
        self, card_id: str, include_lifted: bool = False
    ) -> list[DistractorSuppression]:
        """The card's suppressions, oldest first (lifted ones only when asked)."""
        query = select(DistractorSuppression).where(DistractorSuppression.card_id == card_id)
        if not include_lifted:
            query = query.where(DistractorSuppression.lifted_at.is_(None))
        with self.session() as session:
            return list(
                session.scalars(
                    query.order_by(DistractorSuppression.suppressed_at, DistractorSuppression.id)
                )
            )

    def suppressed_distractors(self) -> dict[str, tuple[str, ...]]:
        """Card id -> option texts suppressed in force: what ``build_exam`` is given."""
        with self.session() as session:
            rows = session.execute(
                select(DistractorSuppression.card_id, DistractorSuppression.text)
                .where(DistractorSuppression.lifted_at.is_(None))
                .order_by(DistractorSuppression.card_id, DistractorSuppression.text_key)
            ).all()
        found: dict[str, list[str]] = {}
        for card_id, text in rows:
            found.setdefault(card_id, []).append(text)
        return {card_id: tuple(texts) for card_id, texts in found.items()}
