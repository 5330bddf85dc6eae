"""The web app at ``/app``: server-rendered pages for learners and staff, signed in with an
API key or a one-time sign-in link. Shared machinery lives in :mod:`quizsvc.web.core`."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """Every page blueprint of the web app; a new page module adds its blueprint here."""
    from quizsvc.web import instructor, learner, sign_in

    return [sign_in.pages, learner.pages, instructor.pages]
