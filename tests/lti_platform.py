"""A minimal LTI 1.3 platform for the tests: an OIDC auth endpoint, a JWKS, a token endpoint
and AGS score collection, served over real HTTP by a thread."""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from quizsvc.lms import lti
from quizsvc.store import AGS_SCORE_SCOPE

LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Platform:
    """A minimal LTI 1.3 platform: OIDC auth endpoint, JWKS, token endpoint, AGS scores."""

    client_id: str = "quizsvc-tool"
    deployment_id: str = "deployment-1"
    key: rsa.RSAPrivateKey = field(default_factory=new_rsa_key)
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    #: Set by the test: the tool's launch URL and JWKS (to check client assertions).
    tool_launch_url: str = ""
    tool_jwks_url: str = ""
    #: Shapes the next id_tokens: claims are updated with this, None values removed.
    overrides: dict[str, Any] = field(default_factory=dict)
    sign_with: rsa.RSAPrivateKey | None = None
    message_type: str = lti.RESOURCE_LINK_REQUEST
    roles: list[str] = field(default_factory=lambda: [LEARNER_ROLE])
    custom: dict[str, Any] = field(default_factory=dict)
    user: str = "lms-user-42"
    scores_status: int = 200
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    deep_link_returns: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def start(self) -> None:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/jwks":
                    public = json.loads(RSAAlgorithm.to_jwk(platform.key.public_key()))
                    self.reply(200, {"keys": [{**public, "kid": platform.kid, "alg": "RS256"}]})
                elif url.path == "/auth":
                    self.reply_html(platform.authorize(dict(urllib.parse.parse_qsl(url.query))))
                else:
                    self.reply(404, {})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = urllib.parse.urlsplit(self.path).path
                if path == "/token":
                    form = dict(urllib.parse.parse_qsl(body.decode()))
                    status, reply = platform.token(form)
                    self.reply(status, reply)
                elif path.endswith("/lineitem/scores"):
                    status = platform.score(
                        path, dict(self.headers.items()), body.decode("utf-8", "replace")
                    )
                    self.reply(status, {})
                elif path == "/deep-link-return":
                    form = dict(urllib.parse.parse_qsl(body.decode()))
                    platform.deep_link_returns.append(form.get("JWT", ""))
                    self.reply_html("<p>Linked.</p>")
                else:
                    self.reply(404, {})

            def reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def reply_html(self, text: str) -> None:
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # One issuer per platform, so registrations never collide between tests.
        self.issuer = f"{self.url}/platform-{secrets.token_hex(4)}"
        self.lineitem = f"{self.url}/courses/7/lineitems/3/lineitem?type=quiz"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def registration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "deployment_ids": [self.deployment_id],
            "auth_login_url": f"{self.url}/auth",
            "auth_token_url": f"{self.url}/token",
            "jwks_url": f"{self.url}/jwks",
        }

    def claims(self, nonce: str) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": self.user,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": "Ada <b>Lovelace</b>",
            lti.VERSION_CLAIM: "1.3.0",
            lti.MESSAGE_TYPE_CLAIM: self.message_type,
            lti.DEPLOYMENT_ID_CLAIM: self.deployment_id,
            lti.ROLES_CLAIM: self.roles,
            lti.CONTEXT_CLAIM: {"id": "course-7", "title": "ML <Modeling>"},
            lti.CUSTOM_CLAIM: self.custom,
        }
        if self.message_type == lti.RESOURCE_LINK_REQUEST:
            claims[lti.TARGET_LINK_URI_CLAIM] = self.tool_launch_url
            claims[lti.RESOURCE_LINK_CLAIM] = {"id": "resource-link-1"}
            claims[lti.AGS_CLAIM] = {
                "scope": [LINEITEM_SCOPE, AGS_SCORE_SCOPE],
                "lineitem": self.lineitem,
            }
        else:
            claims[lti.DL_SETTINGS_CLAIM] = {
                "deep_link_return_url": f"{self.url}/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "data": "opaque-platform-data",
            }
        claims.update(self.overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def id_token(self, nonce: str) -> str:
        return jwt.encode(
            self.claims(nonce),
            self.sign_with or self.key,
            algorithm="RS256",
            headers={"kid": self.kid},
        )

    def authorize(self, query: dict[str, str]) -> str:
        """The OIDC authorization endpoint: answers with an auto-posting launch form."""
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": self.client_id,
            "redirect_uri": self.tool_launch_url,
            "login_hint": self.user,
        }
        for name, value in expected.items():
            if query.get(name) != value:
                self.problems.append(f"auth request {name}={query.get(name)!r}")
        fields = {"id_token": self.id_token(query.get("nonce", "")), "state": query["state"]}
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
            for name, value in fields.items()
        )
        return (
            f'<form id="launch" method="post" action="{html.escape(query["redirect_uri"])}">'
            f"{inputs}</form><script>document.getElementById('launch').submit();</script>"
        )

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Client-credentials grant with a JWT assertion checked against the tool's JWKS."""
        self.token_requests.append(form)
        try:
            assert form["grant_type"] == "client_credentials"
            assert form["client_assertion_type"] == (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            )
            assert AGS_SCORE_SCOPE in form["scope"].split()
            signing_key = jwt.PyJWKClient(self.tool_jwks_url).get_signing_key_from_jwt(
                form["client_assertion"]
            )
            claims = jwt.decode(
                form["client_assertion"],
                signing_key.key,
                algorithms=["RS256"],
                audience=f"{self.url}/token",
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
            assert claims["iss"] == claims["sub"] == self.client_id
        except (AssertionError, KeyError, jwt.PyJWTError) as exc:
            self.problems.append(f"token request refused: {exc!r}")
            return 400, {"error": "invalid_client"}
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def score(self, path: str, headers: dict[str, str], body: str) -> int:
        if self.scores_status != 200:
            return self.scores_status
        expected_path = urllib.parse.urlsplit(self.lineitem).path + "/scores"
        authorization = headers.get("Authorization", "")
        if (
            path != expected_path
            or authorization.removeprefix("Bearer ") not in self.tokens
            or headers.get("Content-Type") != "application/vnd.ims.lis.v1.score+json"
        ):
            self.problems.append(f"score refused: {path} {headers}")
            return 401
        self.scores.append(json.loads(body))
        return 200
