"""What the card and question endpoints share: the bank each request sees (the YAML bank
with the edits stored in the database, by this instance or another), and creating, editing
and retiring an item with its version checked.

Edits live in the database, so every instance behind a proxy sees them: each instance keeps
the YAML bank it started with and, at most every :data:`BANK_REFRESH_SECONDS` (and before
every edit), compares the number of stored versions with the one its bank was built at,
rebuilding the bank from the stored edits when it changed. An instance's own edits apply at
once. Requests to endpoints that never read the bank (:func:`bank_not_read_by`: starting an
attempt, autosaving, resuming, all of which use the exam's frozen copy) skip the check, so
that a class taking an exam adds no query for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from marshmallow import fields

from quizsvc.api.auth import current_principal
from quizsvc.api.errors import ApiError
from quizsvc.api.services import Services, services
from quizsvc.bank.editing import (
    BANK_FILE_VERSION,
    CARD,
    RETIRED_FIELD,
    EditedItem,
    EditRejected,
    check_card,
    check_question,
    effective_bank,
    field_diff,
    merged,
)
from quizsvc.bank.model import Bank
from quizsvc.persistence.cards import ItemVersion, ItemWrite, StaleVersion
from quizsvc.store import StoreUnavailable

log = logging.getLogger(__name__)

LIVE_BANK_KEY = "quizsvc.live_bank"
#: How stale another instance's edits may be in this one's bank (exam draws, card reads).
BANK_REFRESH_SECONDS = 1.0

_install_lock = threading.Lock()
#: Flask endpoints whose requests never read the bank (see :func:`bank_not_read_by`).
_ENDPOINTS_WITHOUT_BANK: set[str] = set()


def bank_not_read_by(*endpoints: str) -> None:
    """Declare Flask endpoints (``blueprint.View``) that never read the bank: their requests
    skip :func:`refresh_before_request`. The next request that reads the bank checks, so
    edits are as fresh there as before."""
    _ENDPOINTS_WITHOUT_BANK.update(endpoints)


class LiveBank:
    """The YAML bank this instance started with, and the stored edits applied to it."""

    def __init__(self, base: Bank) -> None:
        self.base = base
        self.revision: int | None = None
        self.versions: dict[str, int] = {}
        self.edited: dict[str, EditedItem] = {}
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self, state: Services, *, force: bool = False) -> None:
        """Rebuild ``state.bank`` when the stored edits changed since it was built."""
        if not force and time.monotonic() - self._checked_at < BANK_REFRESH_SECONDS:
            return
        with self._lock:
            # The count first: an edit committed between the two reads is then seen again
            # at the next check instead of never.
            revision = state.store.bank_edits_revision()
            self._checked_at = time.monotonic()
            if revision == self.revision:
                return
            edits = state.store.bank_edits()
            state.bank = effective_bank(self.base, edits)
            self.edited = {item.id: item for item in edits}
            self.versions = {item.id: item.version for item in edits}
            self.revision = revision

    def version_of(self, item_id: str) -> int:
        return self.versions.get(item_id, BANK_FILE_VERSION)


def live_bank(app: Flask | None = None) -> LiveBank:
    """This app's live bank, made on first use from the bank ``create_app`` loaded."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found: LiveBank | None = app.extensions.get(LIVE_BANK_KEY)
    if found is None:
        with _install_lock:
            found = app.extensions.get(LIVE_BANK_KEY)
            if found is None:
                found = LiveBank(app.extensions["quizsvc"].bank)
                app.extensions[LIVE_BANK_KEY] = found
    return found


def refresh_before_request() -> None:
    """Every request sees the edits of the last :data:`BANK_REFRESH_SECONDS`; a database
    outage leaves the bank as it was (the request itself reports the outage if it needs
    the database). Skipped for endpoints that never read the bank (the attempt hot path)."""
    if request.endpoint in _ENDPOINTS_WITHOUT_BANK:
        return
    try:
        live_bank().refresh(services())
    except StoreUnavailable as exc:
        log.warning("bank edits not refreshed: %s", exc)


def current_bank(*, force: bool = False) -> tuple[Bank, LiveBank]:
    state = services()
    live = live_bank()
    live.refresh(state, force=force)
    return state.bank, live


@dataclass(frozen=True)
class Saved:
    data: dict[str, Any]
    version: int
    retired: bool


def bank_field(description: str) -> fields.Raw:
    """A field of a card or question input schema. Any JSON value passes here: the item is
    checked by the bank's own validator (the rules of 'quizsvc bank validate'), which names
    the field of each problem."""
    return fields.Raw(allow_none=True, metadata={"description": description})


def etag(version: int) -> str:
    return f'"{version}"'


def staff_view(saved: Saved) -> dict[str, Any]:
    """A card or question as staff read it: its fields, its version and whether it is
    retired."""
    return {**saved.data, "version": saved.version, "retired": saved.retired}


def with_etag(saved: Saved, status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The staff view as a response that carries the version in ``ETag``."""
    return staff_view(saved), status, {"ETag": etag(saved.version)}


def matched_version(header: str | None, current: int) -> int | None:
    """The version an ``If-Match`` header names (``*`` names the current one); None when
    the header is missing or names no version."""
    if header is None:
        return None
    value = header.strip()
    if value == "*":
        return current
    value = value.removeprefix("W/").strip('"')
    return int(value) if value.isdigit() else None


def _stale(kind: str, item_id: str, current: int | None) -> ApiError:
    return ApiError(
        412,
        f"The {kind} {item_id!r} changed since you read it (it is at version {current}); "
        "read it again and apply your change to that version.",
        headers={"ETag": etag(current)} if current is not None else None,
    )


def _rejected(kind: str, error: EditRejected) -> ApiError:
    return ApiError(
        422,
        f"The {kind} is not valid: {', '.join(error.errors)} (the rules of 'bank validate').",
        {"json": error.errors},
    )


def _checker(kind: str) -> Callable[..., Any]:
    return check_card if kind == CARD else check_question


def _find(bank: Bank, kind: str, item_id: str) -> Any:
    if kind == CARD:
        return bank.get(item_id)
    return next((question for question in bank.questions if question.id == item_id), None)


def read_item(kind: str, item_id: str) -> Saved:
    """The item with its version; 404 when there is none."""
    bank, live = current_bank()
    item = _find(bank, kind, item_id)
    if item is None:
        raise ApiError(404, f"No {kind} with id {item_id!r}.")
    return Saved(item.to_dict(), live.version_of(item_id), item_id in bank.retired)


def create_item(kind: str, raw: Mapping[str, Any]) -> Saved:
    bank, _ = current_bank(force=True)
    try:
        item = _checker(kind)(bank, raw)
    except EditRejected as exc:
        raise _rejected(kind, exc) from exc
    data = item.to_dict()
    write = ItemWrite(
        kind, item.id, item.deck, data, field_diff(None, data), "created", based_on=None
    )
    return _save(kind, write)


def edit_item(kind: str, item_id: str, changes: Mapping[str, Any], if_match: str | None) -> Saved:
    """Apply ``changes`` (a merge patch) to the item at the version ``if_match`` names."""
    bank, live = current_bank(force=True)
    item = _find(bank, kind, item_id)
    if item is None:
        raise ApiError(404, f"No {kind} with id {item_id!r}.")
    current = live.version_of(item_id)
    based_on = matched_version(if_match, current)
    if based_on is None:
        raise ApiError(
            428,
            f"Send If-Match with the {kind}'s ETag (from GET), so that an edit made since "
            "you read it is not overwritten.",
        )
    if based_on != current:
        raise _stale(kind, item_id, current)
    if item_id in bank.retired:
        raise ApiError(409, f"The {kind} {item_id!r} is retired; create a new one instead.")
    before = item.to_dict()
    try:
        edited = _checker(kind)(bank, merged(before, changes), replacing=item_id)
    except EditRejected as exc:
        raise _rejected(kind, exc) from exc
    data = edited.to_dict()
    diff = field_diff(before, data)
    write = ItemWrite(
        kind,
        item_id,
        edited.deck,
        data,
        diff,
        "edited",
        based_on=current,
        bank_file_data=before if item_id not in live.edited else None,
    )
    if not diff:
        return Saved(data, current, False)
    return _save(kind, write)


def retire_item(kind: str, item_id: str, if_match: str | None) -> Saved:
    """Retire the item: never drawn again, still readable. Retiring twice changes nothing."""
    bank, live = current_bank(force=True)
    item = _find(bank, kind, item_id)
    if item is None:
        raise ApiError(404, f"No {kind} with id {item_id!r}.")
    current = live.version_of(item_id)
    based_on = matched_version(if_match, current) if if_match is not None else current
    if based_on != current:
        raise _stale(kind, item_id, current)
    data = item.to_dict()
    if item_id in bank.retired:
        return Saved(data, current, True)
    write = ItemWrite(
        kind,
        item_id,
        item.deck,
        data,
        {RETIRED_FIELD: {"before": False, "after": True}},
        "retired",
        based_on=current,
        bank_file_data=data if item_id not in live.edited else None,
        retire=True,
    )
    return _save(kind, write)


def _save(kind: str, write: ItemWrite) -> Saved:
    state = services()
    try:
        version = state.store.save_bank_item(write, current_principal(), state.clock())
    except StaleVersion as exc:
        if write.based_on is None:
            raise ApiError(
                422,
                f"The {kind} is not valid: id.",
                {"json": {"id": [f"{write.item_id!r} was just created by another request"]}},
            ) from exc
        raise _stale(kind, write.item_id, exc.current) from exc
    live_bank().refresh(state, force=True)
    return Saved(dict(write.data), version, write.retire)


def item_versions(kind: str, item_id: str) -> tuple[Saved, list[dict[str, Any]]]:
    """The item and its versions, oldest first; an item never edited has one, read from the
    YAML bank."""
    saved = read_item(kind, item_id)
    versions = services().store.bank_item_versions(item_id)
    if not versions:
        versions = [
            ItemVersion(
                item_id,
                kind,
                BANK_FILE_VERSION,
                "bank-file",
                None,
                None,
                None,
                None,
                {},
                saved.data,
            )
        ]
    return saved, [version.to_dict() for version in versions]


def version_history(kind: str, item_id: str) -> dict[str, Any]:
    """The body of ``GET .../versions``: the item's current version and all its versions."""
    saved, versions = item_versions(kind, item_id)
    return {"id": item_id, "version": saved.version, "retired": saved.retired, "items": versions}
