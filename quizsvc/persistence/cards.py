"""Cards and authored questions staff created, edited or retired over the API, with every
version.

The YAML bank is what the service starts from; ``bank_items`` holds the current state of
each item staff changed (the whole item, its version and whether it is retired), and
``bank_item_versions`` one row per version: who (the API key's id and label), when, the
diff of its fields and the item as it then was. An item from the YAML bank is version 1; its
first edit stores that version too, so every diff has its "before".

A write names the version it was based on and fails with :class:`StaleVersion` when another
write came first (on SQLite and PostgreSQL alike), so two concurrent edits never lose one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from quizsvc.bank.editing import BANK_FILE_VERSION, EditedItem
from quizsvc.persistence.base import Base, StoreBase, UTCDateTime
from quizsvc.persistence.keys import ApiKey, Principal

#: What made a version.
VERSION_ACTIONS = ("bank-file", "created", "edited", "retired")


class BankItem(Base):
    __tablename__ = "bank_items"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    #: "card" or "question"
    kind: Mapped[str] = mapped_column(String(16))
    deck: Mapped[str] = mapped_column(String(80))
    #: The whole item in its ``to_dict`` form.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BankItemVersion(Base):
    __tablename__ = "bank_item_versions"

    item_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    #: None for the version read from the YAML bank.
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    key_id: Mapped[int | None] = mapped_column(Integer)
    key_label: Mapped[str | None] = mapped_column(String(200))
    key_role: Mapped[str | None] = mapped_column(String(16))
    #: ``{field: {"before": ..., "after": ...}}``
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The item as this version left it.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class StaleVersion(Exception):
    """The item is no longer at the version the write was based on."""

    def __init__(self, item_id: str, current: int | None) -> None:
        super().__init__(f"{item_id} is at version {current}, not the one the edit was based on")
        self.item_id = item_id
        self.current = current


@dataclass(frozen=True)
class ItemVersion:
    item_id: str
    kind: str
    version: int
    action: str
    at: datetime | None
    key_id: int | None
    key_label: str | None
    key_role: str | None
    changes: Mapping[str, Any]
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "action": self.action,
            "at": self.at,
            "by": None
            if self.key_id is None
            else {"key_id": self.key_id, "label": self.key_label, "role": self.key_role},
            "changes": dict(self.changes),
            "item": dict(self.data),
        }


@dataclass(frozen=True)
class ItemWrite:
    """One change of an item: what it becomes and the diff that says how."""

    kind: str
    item_id: str
    deck: str
    data: Mapping[str, Any]
    changes: Mapping[str, Any]
    action: str
    #: The version the change was based on: ``None`` for a new item,
    #: ``BANK_FILE_VERSION`` for an item never edited since the YAML bank.
    based_on: int | None
    #: The item as the YAML bank has it, for its first edit.
    bank_file_data: Mapping[str, Any] | None = None
    retire: bool = False


def _edited_item(row: BankItem) -> EditedItem:
    return EditedItem(row.kind, row.id, row.data, row.version, row.retired_at is not None)


class CardStore(StoreBase):
    def bank_edits_revision(self) -> int:
        """A number that grows with every stored version: an instance whose bank was built
        at another number reloads the edits (versions are never deleted)."""
        with self.autocommit() as connection:
            found = connection.execute(select(func.count()).select_from(BankItemVersion))
            return int(found.scalar_one())

    def bank_edits(self) -> list[EditedItem]:
        """Every item staff changed, in the order they were first stored."""
        with self.session() as session:
            rows = session.scalars(select(BankItem).order_by(BankItem.created_at, BankItem.id))
            return [_edited_item(row) for row in rows]

    def bank_item(self, item_id: str) -> EditedItem | None:
        with self.session() as session:
            row = session.get(BankItem, item_id)
            return None if row is None else _edited_item(row)

    def bank_item_versions(self, item_id: str) -> list[ItemVersion]:
        with self.session() as session:
            rows = session.scalars(
                select(BankItemVersion)
                .where(BankItemVersion.item_id == item_id)
                .order_by(BankItemVersion.version)
            )
            return [
                ItemVersion(
                    row.item_id,
                    row.kind,
                    row.version,
                    row.action,
                    row.at,
                    row.key_id,
                    row.key_label,
                    row.key_role,
                    row.changes,
                    row.data,
                )
                for row in rows
            ]

    def save_bank_item(self, write: ItemWrite, principal: Principal | None, now: datetime) -> int:
        """Store ``write`` as the item's next version and return that version; raise
        :class:`StaleVersion` when the item is not at ``write.based_on`` any more (another
        edit came first), and then store nothing."""
        try:
            with self.write_session() as session:
                return self._save_bank_item(session, write, principal, now)
        except IntegrityError as exc:
            # Two first edits (or creations) of one item at once: the other one's row won.
            current = self.bank_item(write.item_id)
            raise StaleVersion(write.item_id, current.version if current else None) from exc

    def _save_bank_item(
        self, session: Session, write: ItemWrite, principal: Principal | None, now: datetime
    ) -> int:
        row = session.execute(
            select(BankItem).where(BankItem.id == write.item_id).with_for_update()
        ).scalar_one_or_none()
        current = row.version if row is not None else None
        if row is None and write.bank_file_data is not None:
            current = BANK_FILE_VERSION
        if current != write.based_on:
            raise StaleVersion(write.item_id, current)
        label = None
        if principal is not None:
            label = session.execute(
                select(ApiKey.label).where(ApiKey.id == principal.key_id)
            ).scalar_one_or_none()
        if row is None and write.bank_file_data is not None:
            session.add(
                BankItemVersion(
                    item_id=write.item_id,
                    version=BANK_FILE_VERSION,
                    kind=write.kind,
                    action="bank-file",
                    at=None,
                    key_id=None,
                    key_label=None,
                    key_role=None,
                    changes={},
                    data=dict(write.bank_file_data),
                )
            )
        version = 1 if current is None else current + 1
        if row is None:
            row = BankItem(id=write.item_id, kind=write.kind, created_at=now)
            session.add(row)
        row.deck = write.deck
        row.data = dict(write.data)
        row.version = version
        row.updated_at = now
        if write.retire:
            row.retired_at = now
        session.add(
            BankItemVersion(
                item_id=write.item_id,
                version=version,
                kind=write.kind,
                action=write.action,
                at=now,
                key_id=principal.key_id if principal else None,
                key_label=label,
                key_role=principal.role if principal else None,
                changes=dict(write.changes),
                data=dict(write.data),
            )
        )
        session.flush()
        return version
