"""Which grader produced a grade: the package, the model weights and backend, the grading
settings and the verdict model. Same answer, same key and same version give the same grade;
a regrade compares versions to know what changed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from quizsvc import __version__
from quizsvc.grading.config import GradingConfig
from quizsvc.grading.verdict import VerdictModel


@dataclass(frozen=True)
class GraderVersion:
    package: str
    #: The encoder's fingerprint: backend, export recipe and sha256 of the model weights.
    encoder: str
    #: sha256 of the grading settings in force for the question (deck and card overrides
    #: included).
    config_sha256: str
    #: sha256 of the verdict model's parameters.
    verdict_model_sha256: str

    @property
    def id(self) -> str:
        """A short, stable name for the whole version."""
        encoded = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self)}


def grader_version(
    encoder_fingerprint: str, config: GradingConfig, verdict_model: VerdictModel
) -> GraderVersion:
    settings = json.dumps(config.to_dict(), sort_keys=True).encode()
    return GraderVersion(
        package=__version__,
        encoder=encoder_fingerprint,
        config_sha256=hashlib.sha256(settings).hexdigest(),
        verdict_model_sha256=verdict_model.fingerprint,
    )
