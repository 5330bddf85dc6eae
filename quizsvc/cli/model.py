"""``quizsvc model``: the embedding model behind the configured encoder backend."""

from __future__ import annotations

import time

import click

from quizsvc.cli.common import settings_from_env
from quizsvc.config import ConfigError
from quizsvc.embedding import ModelLoadError
from quizsvc.embedding.factory import build_encoder, resolve_backend


@click.group()
def model() -> None:
    """The embedding model (QUIZSVC_MODEL, QUIZSVC_ENCODER_BACKEND)."""


@model.command("prepare")
def model_prepare() -> None:
    """Verify the weights and make the files the backend derives from them (the ONNX export).

    A server does this at start when the files are missing; running it once beforehand (the
    Docker image does it at build time) keeps that time out of every start.
    """
    settings = settings_from_env()
    began = time.perf_counter()
    try:
        backend = resolve_backend(settings)
        encoder = build_encoder(settings, prepare=True)
        vectors = encoder.encode(["a smoke test of the prepared model"])
    except (ConfigError, ModelLoadError) as exc:
        raise click.ClickException(str(exc)) from exc
    where = getattr(encoder, "onnx_path", None) or getattr(encoder, "model_path", "")
    click.echo(
        f"{backend}: ready in {time.perf_counter() - began:.1f} s, "
        f"{vectors.shape[1]}-dimensional vectors, {where}"
    )
