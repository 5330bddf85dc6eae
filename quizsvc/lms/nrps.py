"""LTI Names and Role Provisioning Services: a course's members, as the platform lists them.

The access token comes from the platform's token endpoint by the same client-credentials
grant as AGS, with the NRPS scope; every page is fetched through the outbound guard, and
``Link: <...>; rel="next"`` pages are followed (on the memberships URL's own host only).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass

from quizsvc.lms.ags import request_access_token
from quizsvc.lms.lti import NRPS_SCOPE
from quizsvc.lms.outbound import PUBLIC_ONLY, OutboundPolicy
from quizsvc.lms.outbox import DeliveryError, expect_success, http_get, short_error

MEMBERSHIP_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
#: Enough for courses of tens of thousands at the platforms' usual page sizes; a platform
#: that links pages in a loop cannot keep the tool fetching.
MAX_PAGES = 100
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


class MembershipError(Exception):
    """The platform's membership service could not be read; the message is safe to show."""


@dataclass(frozen=True)
class Member:
    user_id: str
    roles: list[str]
    status: str = "Active"
    name: str | None = None
    email: str | None = None


def next_page(link_header: str) -> str | None:
    found = _NEXT_LINK.search(link_header)
    return found.group(1) if found else None


def fetch_members(
    memberships_url: str,
    token_url: str,
    client_id: str,
    kid: str,
    private_pem: str,
    policy: OutboundPolicy = PUBLIC_ONLY,
) -> list[Member]:
    """Every member of the course, following the platform's pages."""
    try:
        token, _ = request_access_token(
            token_url, client_id, kid, private_pem, [NRPS_SCOPE], policy
        )
    except DeliveryError as exc:
        raise MembershipError(f"no access token for the membership service: {exc}") from exc
    headers = {"Accept": MEMBERSHIP_MEDIA_TYPE, "Authorization": f"Bearer {token}"}
    members: list[Member] = []
    url: str | None = memberships_url
    for _ in range(MAX_PAGES):
        if url is None:
            break
        try:
            reply = http_get(url, headers, policy=policy)
            expect_success(reply, "the platform's membership service")
            body = json.loads(reply.body)
            rows = body["members"]
            if not isinstance(rows, list):
                raise TypeError("members is not a list")
        except DeliveryError as exc:
            raise MembershipError(str(exc)) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise MembershipError(
                short_error(f"the membership service's reply is not a membership container: {exc}")
            ) from exc
        for row in rows:
            if not isinstance(row, dict) or not row.get("user_id"):
                continue
            members.append(
                Member(
                    user_id=str(row["user_id"]),
                    roles=[str(role) for role in row.get("roles") or []],
                    status=str(row.get("status") or "Active"),
                    name=row.get("name") if isinstance(row.get("name"), str) else None,
                    email=row.get("email") if isinstance(row.get("email"), str) else None,
                )
            )
        url = next_page(reply.headers.get("link", ""))
        if url is not None and _origin(url) != _origin(memberships_url):
            raise MembershipError("the membership service linked its next page to another host")
    return members


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc.lower()
