"""Helpers shared by the command groups."""

from __future__ import annotations

import click

from quizsvc.bank import Bank, BankError, load_bank
from quizsvc.config import ConfigError, Settings
from quizsvc.embedding import CachedEncoder, ModelLoadError
from quizsvc.runtime import build_bank_encoder


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def configured_bank(settings: Settings) -> Bank:
    try:
        return load_bank(settings.bank_dir)
    except BankError as exc:
        raise click.ClickException(str(exc)) from exc


def configured_encoder(settings: Settings, show_progress: bool = True) -> CachedEncoder:
    try:
        return build_bank_encoder(settings, show_progress=show_progress)
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc
