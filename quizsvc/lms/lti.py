"""LTI 1.3 (IMS Security Framework + Core + Deep Linking): keys, id_token checks, replies.

All JWT and JWKS work goes through PyJWT (with ``cryptography``); nothing here signs or
verifies by hand. No Flask: the HTTP layer (``quizsvc.api.lti``) passes plain values.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from quizsvc.lms.outbound import PUBLIC_ONLY, OutboundPolicy
from quizsvc.lms.outbox import DeliveryError, expect_success, http_get

LTI_VERSION = "1.3.0"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE_CLAIM = CLAIM + "message_type"
VERSION_CLAIM = CLAIM + "version"
DEPLOYMENT_ID_CLAIM = CLAIM + "deployment_id"
TARGET_LINK_URI_CLAIM = CLAIM + "target_link_uri"
RESOURCE_LINK_CLAIM = CLAIM + "resource_link"
ROLES_CLAIM = CLAIM + "roles"
CUSTOM_CLAIM = CLAIM + "custom"
CONTEXT_CLAIM = CLAIM + "context"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DL_SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL_CONTENT_ITEMS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DL_ERRORMSG_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/errormsg"
DL_MSG_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
#: The one content item type this tool answers a Deep Linking request with.
RESOURCE_LINK_ITEM = "ltiResourceLink"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
#: Context (course membership) roles of LTI 1.3 (appendix A.2.2) whose holders may choose the
#: exams of a course. Only context roles: institution and system roles say what a person is
#: at the school or in the LMS, not in this course (an institution's Instructor may be a
#: learner here), so none of them counts (LTI 1.3 section 5.3.7).
MEMBERSHIP_ROLES = "http://purl.imsglobal.org/vocab/lis/v2/membership"
STAFF_CONTEXT_ROLES = ("Administrator", "ContentDeveloper", "Instructor")
#: The context role URIs of staff: the principal roles, and their sub-roles
#: (``membership/Instructor#TeachingAssistant``), never a sub-role of another principal role
#: such as ``membership/Learner#Instructor``. The simple names ("Instructor") are the
#: spec's deprecated short form of the same context roles.
STAFF_ROLES = frozenset(
    [f"{MEMBERSHIP_ROLES}#{role}" for role in STAFF_CONTEXT_ROLES] + list(STAFF_CONTEXT_ROLES)
)
STAFF_SUB_ROLE_PREFIXES = tuple(f"{MEMBERSHIP_ROLES}/{role}#" for role in STAFF_CONTEXT_ROLES)
#: How long the tool's JWKS may be cached (its Cache-Control max-age): a rotated key is
#: published at least this long before it signs.
JWKS_MAX_AGE_SECONDS = 300

SIGNING_ALGORITHM = "RS256"
KEY_BITS = 2048
#: Clock difference tolerated between the platform and this tool, in seconds.
LEEWAY_SECONDS = 60
#: The longest an id_token may claim to be valid after it was issued.
MAX_TOKEN_LIFETIME_SECONDS = 3600
JWKS_TIMEOUT_SECONDS = 10


class LaunchError(Exception):
    """A launch that must be refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- the tool's keys ----------------------------------------------------------------------------


def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def new_kid() -> str:
    return uuid.uuid4().hex


def public_jwk(private_pem: str, kid: str) -> dict[str, Any]:
    """The public half only: ``n`` and ``e``, never a private parameter."""
    private = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"], "kid": kid, "alg": "RS256", "use": "sig"}


def jwks(keys: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A JWK Set of the public keys of ``(kid, private_pem)`` pairs."""
    return {"keys": [public_jwk(pem, kid) for kid, pem in keys]}


def sign(claims: Mapping[str, Any], kid: str, private_pem: str) -> str:
    return jwt.encode(dict(claims), private_pem, algorithm=SIGNING_ALGORITHM, headers={"kid": kid})


# -- launches -----------------------------------------------------------------------------------


def learner_id_for(issuer: str, subject: str) -> str:
    """A stable learner id for an LMS user: the same ``iss`` + ``sub`` always maps to it."""
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()
    return f"lti:{digest[:32]}"


def new_state() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class PlatformRegistration:
    issuer: str
    client_id: str
    deployment_ids: Sequence[str]
    jwks_url: str


@dataclass(frozen=True)
class Launch:
    issuer: str
    subject: str
    client_id: str
    deployment_id: str
    message_type: str
    roles: list[str]
    name: str | None = None
    resource_link_id: str | None = None
    target_link_uri: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    lineitem_url: str | None = None
    ags_scopes: list[str] = field(default_factory=list)
    deep_link_return_url: str | None = None
    #: Opaque to the tool and returned as sent (a string by the spec; some platforms send JSON).
    deep_link_data: Any = None
    context_title: str | None = None
    #: The platform's id of the course (context claim), and its NRPS memberships URL.
    context_id: str | None = None
    memberships_url: str | None = None
    #: Deep Linking: the content item types the platform accepts (None: it did not say).
    deep_link_accept_types: list[str] | None = None

    @property
    def is_staff(self) -> bool:
        return any(is_staff_role(role) for role in self.roles)


def is_staff_role(role: str) -> bool:
    """Whether an LTI role URI makes its holder staff of the course (see STAFF_ROLES)."""
    return role in STAFF_ROLES or role.startswith(STAFF_SUB_ROLE_PREFIXES)


def peek_issuer_and_client(id_token: str) -> tuple[str, list[str]]:
    """Unverified ``iss`` and candidate client ids, only to find whose keys verify it."""
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.DecodeError as exc:
        raise LaunchError(400, f"The id_token is not a JWT: {exc}.") from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise LaunchError(400, "The id_token has no 'iss' claim.")
    audience = claims.get("aud")
    candidates = [audience] if isinstance(audience, str) else list(audience or [])
    if isinstance(claims.get("azp"), str):
        candidates.insert(0, claims["azp"])
    return issuer, [c for c in candidates if isinstance(c, str)]


def platform_signing_key(id_token: str, jwks_url: str, policy: OutboundPolicy = PUBLIC_ONLY) -> Any:
    """The platform's public key for ``id_token`` (by its ``kid``), from the JWKS fetched
    through the outbound guard: a registration's JWKS URL is chosen by an admin, and must not
    reach what only the server can see unless QUIZSVC_OUTBOUND_ALLOW_HOSTS lists it."""
    try:
        reply = http_get(
            jwks_url, {"Accept": "application/json"}, JWKS_TIMEOUT_SECONDS, policy=policy
        )
        expect_success(reply, "the platform's JWKS URL")
    except DeliveryError as exc:
        raise LaunchError(502, f"Cannot fetch the platform's JWKS from {jwks_url}: {exc}") from exc
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
        key_set = jwt.PyJWKSet.from_dict(json.loads(reply.body))
    except jwt.DecodeError as exc:
        raise LaunchError(400, f"The id_token is not a JWT: {exc}.") from exc
    except (ValueError, jwt.PyJWKSetError) as exc:
        raise LaunchError(
            502, f"The platform's JWKS at {jwks_url} is not a key set: {exc}"
        ) from exc
    signing = [key for key in key_set.keys if key.public_key_use in (None, "sig")]
    matching = [key for key in signing if kid is None or key.key_id == kid]
    if kid is None and len(matching) != 1:
        raise LaunchError(401, "The id_token names no key ('kid') and the platform has several.")
    if not matching:
        raise LaunchError(401, f"No platform key verifies this id_token: no key {kid!r}.")
    return matching[0].key


def validate_id_token(
    id_token: str, platform: PlatformRegistration, expected_nonce: str, signing_key: Any
) -> Launch:
    """Signature, ``iss``, ``aud``/``azp``, ``exp``/``iat``, ``nonce``, deployment, LTI claims."""
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            signing_key,
            algorithms=[SIGNING_ALGORITHM],
            audience=platform.client_id,
            issuer=platform.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
        )
    except jwt.InvalidSignatureError as exc:
        raise LaunchError(401, "The id_token signature does not verify.") from exc
    except jwt.ExpiredSignatureError as exc:
        raise LaunchError(401, "The id_token has expired ('exp' is in the past).") from exc
    except jwt.InvalidAudienceError as exc:
        raise LaunchError(
            401, f"The id_token audience is not this tool's client id {platform.client_id!r}."
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise LaunchError(401, "The id_token issuer is not the registered platform.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise LaunchError(400, f"The id_token lacks the required claim {exc.claim!r}.") from exc
    except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError) as exc:
        raise LaunchError(401, f"The id_token is not valid yet: {exc}.") from exc
    except jwt.InvalidTokenError as exc:
        raise LaunchError(401, f"The id_token is invalid: {exc}.") from exc

    if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME_SECONDS:
        raise LaunchError(401, "The id_token lives longer than an LTI launch may.")
    if claims["iat"] > time.time() + LEEWAY_SECONDS:
        raise LaunchError(401, "The id_token was issued in the future ('iat').")
    audience = claims["aud"]
    audiences = [audience] if isinstance(audience, str) else list(audience)
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != platform.client_id:
        raise LaunchError(401, "The id_token 'azp' is not this tool's client id.")
    if not secrets.compare_digest(str(claims["nonce"]), expected_nonce):
        raise LaunchError(401, "The id_token nonce does not belong to this login.")

    def required(name: str, label: str) -> Any:
        value = claims.get(name)
        if value is None or value == "":
            raise LaunchError(400, f"The id_token lacks the required LTI claim {label!r}.")
        return value

    if required(VERSION_CLAIM, "version") != LTI_VERSION:
        raise LaunchError(400, f"Only LTI {LTI_VERSION} launches are supported.")
    message_type = required(MESSAGE_TYPE_CLAIM, "message_type")
    if message_type not in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST):
        raise LaunchError(400, f"Unsupported LTI message type {message_type!r}.")
    deployment_id = str(required(DEPLOYMENT_ID_CLAIM, "deployment_id"))
    if deployment_id not in platform.deployment_ids:
        raise LaunchError(403, f"Deployment {deployment_id!r} is not registered for this platform.")
    subject = str(required("sub", "sub"))
    roles = required(ROLES_CLAIM, "roles") if ROLES_CLAIM in claims else None
    if not isinstance(roles, list):
        raise LaunchError(400, "The id_token lacks the required LTI claim 'roles' (a list).")

    custom = claims.get(CUSTOM_CLAIM) or {}
    context = claims.get(CONTEXT_CLAIM) or {}
    if not isinstance(context, dict):
        context = {}
    ags = claims.get(AGS_CLAIM) or {}
    nrps = claims.get(NRPS_CLAIM) or {}
    memberships_url = nrps.get("context_memberships_url") if isinstance(nrps, dict) else None
    common: dict[str, Any] = {
        "issuer": platform.issuer,
        "subject": subject,
        "client_id": platform.client_id,
        "deployment_id": deployment_id,
        "message_type": message_type,
        "roles": [str(role) for role in roles],
        "name": claims.get("name"),
        "custom": dict(custom) if isinstance(custom, dict) else {},
        "context_title": context.get("title"),
        "context_id": str(context["id"]) if context.get("id") else None,
        "memberships_url": memberships_url if isinstance(memberships_url, str) else None,
    }
    if message_type == RESOURCE_LINK_REQUEST:
        link = required(RESOURCE_LINK_CLAIM, "resource_link")
        if not isinstance(link, dict) or not link.get("id"):
            raise LaunchError(400, "The id_token lacks the required LTI claim 'resource_link.id'.")
        return Launch(
            **common,
            resource_link_id=str(link["id"]),
            target_link_uri=str(required(TARGET_LINK_URI_CLAIM, "target_link_uri")),
            lineitem_url=ags.get("lineitem") if isinstance(ags, dict) else None,
            ags_scopes=[str(s) for s in ags.get("scope", [])] if isinstance(ags, dict) else [],
        )
    settings = required(DL_SETTINGS_CLAIM, "deep_linking_settings")
    if not isinstance(settings, dict) or not settings.get("deep_link_return_url"):
        raise LaunchError(400, "The id_token lacks 'deep_linking_settings.deep_link_return_url'.")
    accept_types = settings.get("accept_types")
    return Launch(
        **common,
        deep_link_return_url=str(settings["deep_link_return_url"]),
        deep_link_data=settings.get("data"),
        deep_link_accept_types=[str(t) for t in accept_types]
        if isinstance(accept_types, list)
        else None,
    )


def exam_link_item(
    launch_url: str, exam_id: str, title: str, score_maximum: float
) -> dict[str, Any]:
    """The ``ltiResourceLink`` content item of an exam, with a line item for its grades."""
    return {
        "type": RESOURCE_LINK_ITEM,
        "title": title,
        "url": launch_url,
        "custom": {"exam_id": exam_id},
        "lineItem": {"scoreMaximum": score_maximum, "label": title, "resourceId": exam_id},
    }


def deep_linking_response(
    *,
    client_id: str,
    platform_issuer: str,
    deployment_id: str,
    data: Any,
    content_items: Sequence[Mapping[str, Any]],
    kid: str,
    private_pem: str,
    errormsg: str | None = None,
    msg: str | None = None,
) -> str:
    """The signed ``LtiDeepLinkingResponse``: the chosen items (none when the instructor went
    back without choosing), with ``errormsg`` when the tool could not answer the request."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": platform_issuer,
        "iat": now,
        "exp": now + 600,
        "nonce": secrets.token_urlsafe(16),
        MESSAGE_TYPE_CLAIM: DEEP_LINKING_RESPONSE,
        VERSION_CLAIM: LTI_VERSION,
        DEPLOYMENT_ID_CLAIM: deployment_id,
        DL_CONTENT_ITEMS_CLAIM: [dict(item) for item in content_items],
    }
    if data is not None:
        claims[DL_DATA_CLAIM] = data
    if errormsg is not None:
        claims[DL_ERRORMSG_CLAIM] = errormsg
    if msg is not None:
        claims[DL_MSG_CLAIM] = msg
    return sign(claims, kid, private_pem)
