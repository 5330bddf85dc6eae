"""The learner's pages: dashboard, practice, the timed exam, the review and appeals."""

from __future__ import annotations

from flask import render_template

from quizsvc.web.core import current_learner_id, learner_required, page_blueprint

pages = page_blueprint("app_learner", __name__)


@pages.get("/dashboard")
@learner_required
def dashboard() -> str:
    return render_template("app_dashboard.html", learner_id=current_learner_id())
