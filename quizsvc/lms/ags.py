"""LTI Assignment and Grade Services: posting an attempt's score to the platform's line item.

The access token comes from the platform's token endpoint by the client-credentials grant
with a JWT client assertion signed by the tool's current key (IMS Security Framework 4.1).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from quizsvc.lms.lti import sign
from quizsvc.lms.outbound import PUBLIC_ONLY, OutboundPolicy
from quizsvc.lms.outbox import DeliveryError, Sender, expect_success, http_post
from quizsvc.store import AGS_SCORE_SCOPE, OutboxMessage, Store

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"


def client_assertion(client_id: str, token_url: str, kid: str, private_pem: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
    }
    return sign(claims, kid, private_pem)


def scores_url(lineitem_url: str) -> str:
    """``{lineitem}/scores``, keeping the line item URL's query string where it was."""
    parts = urllib.parse.urlsplit(lineitem_url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def request_access_token(
    token_url: str,
    client_id: str,
    kid: str,
    private_pem: str,
    scopes: list[str],
    policy: OutboundPolicy = PUBLIC_ONLY,
) -> tuple[str, int]:
    """(access token, lifetime in seconds) from the platform's token endpoint."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion(client_id, token_url, kid, private_pem),
            "scope": " ".join(scopes),
        }
    ).encode("ascii")
    reply = http_post(
        token_url, form, {"Content-Type": "application/x-www-form-urlencoded"}, policy=policy
    )
    expect_success(reply, "the platform's token endpoint")
    try:
        body: dict[str, Any] = json.loads(reply.body)
        token = str(body["access_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryError("the token endpoint's reply has no access_token") from exc
    return token, int(body.get("expires_in", 3600))


class AgsSender:
    """Sends ``ags_score`` outbox messages; access tokens are reused until near expiry.

    The token and score URLs come from the platform registration and the launch: both must
    pass ``policy`` (public addresses, plus QUIZSVC_OUTBOUND_ALLOW_HOSTS for an on-premise LMS).
    """

    def __init__(
        self,
        store: Store,
        wall_clock: Callable[[], float] = time.time,
        policy: OutboundPolicy = PUBLIC_ONLY,
    ) -> None:
        self.store = store
        self.wall_clock = wall_clock
        self.policy = policy
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _token(self, registration_id: str, refresh: bool) -> str:
        registration = self.store.get_registration(registration_id)
        if registration is None:
            raise DeliveryError(f"LTI registration {registration_id!r} no longer exists")
        key = self.store.signing_key(datetime.fromtimestamp(self.wall_clock(), UTC))
        if key is None:
            raise DeliveryError("the tool has no signing key; run 'quizsvc lti keys rotate'")
        cache_key = (registration_id, key.kid)
        with self._lock:
            cached = self._tokens.get(cache_key)
        if cached and not refresh and cached[1] > self.wall_clock() + 30:
            return cached[0]
        token, lifetime = request_access_token(
            registration.auth_token_url,
            registration.client_id,
            key.kid,
            key.private_pem,
            [AGS_SCORE_SCOPE],
            self.policy,
        )
        with self._lock:
            self._tokens[cache_key] = (token, self.wall_clock() + lifetime)
        return token

    def __call__(self, message: OutboxMessage) -> int:
        registration_id = str(message.payload["registration_id"])
        body = json.dumps(message.payload["score"]).encode("utf-8")
        url = scores_url(message.target)
        for refresh in (False, True):
            token = self._token(registration_id, refresh)
            headers = {"Content-Type": SCORE_MEDIA_TYPE, "Authorization": f"Bearer {token}"}
            reply = http_post(url, body, headers, policy=self.policy)
            if reply.status_code == 401 and not refresh:
                continue  # the cached token was revoked or expired early: get a new one
            return expect_success(reply, "the platform's score service")
        raise AssertionError("unreachable")


def ags_sender(store: Store, *, allow_hosts: str = "") -> Sender:
    """``allow_hosts``: QUIZSVC_OUTBOUND_ALLOW_HOSTS, the private hosts an LMS may be on."""
    return AgsSender(store, policy=OutboundPolicy.from_setting(allow_hosts))
