"""Exports of an exam to the formats learning management systems import (QTI, GIFT, Moodle)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from quizsvc.api.auth import STAFF, roles_required
from quizsvc.api.exams import load_visible_exam
from quizsvc.lms.exports import EXPORT_FORMATS, export_exam, pool_groups

blp = Blueprint(
    "exports", __name__, url_prefix="/v1", description="Exam exports for learning platforms"
)


class ExportQuerySchema(Schema):
    format = fields.String(
        required=True,
        validate=validate.OneOf(list(EXPORT_FORMATS)),
        metadata={
            "description": "; ".join(
                f"{name}: {spec.description}" for name, spec in EXPORT_FORMATS.items()
            )
        },
    )


_FILE_RESPONSE = {
    "description": "The export, as a file to save (Content-Disposition: attachment).",
    "content": {
        spec.media_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
        for spec in EXPORT_FORMATS.values()
    },
}


@blp.route("/exams/<string:exam_id>/export")
class ExamExport(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.doc(responses={"200": _FILE_RESPONSE})
    def get(self, query: dict[str, Any], exam_id: str) -> Response:
        """The exam as QTI 1.2 (zip), GIFT or Moodle XML, for import into an LMS.

        Each question pool comes as a group the LMS draws from (a QTI section selecting N of
        its items; a GIFT / Moodle XML category to add N random questions from).

        Instructors and admins only: an export carries the answer key.
        """
        exam = load_visible_exam(exam_id)
        spec = EXPORT_FORMATS[query["format"]]
        keys, pools = pool_groups(exam.questions)
        response = Response(
            export_exam(spec.name, exam.title, keys, pools), content_type=spec.media_type
        )
        response.headers.set(
            "Content-Disposition", "attachment", filename=spec.filename(exam.title)
        )
        # The answer key should not linger in shared caches.
        response.headers["Cache-Control"] = "no-store"
        return response
