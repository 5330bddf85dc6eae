"""Which hosts quizsvc may send requests to (webhooks, grade passback): the SSRF guard.

Anyone who can subscribe a webhook or register an LMS chooses a URL that the server itself
will POST to. Without a guard that reaches services only the server can see (a database on
127.0.0.1, the cloud metadata service on 169.254.169.254, the office network). So a target
must be an http(s) URL without credentials whose host resolves only to public addresses,
unless the operator lists the host in ``QUIZSVC_OUTBOUND_ALLOW_HOSTS`` (an on-premise LMS).

:meth:`OutboundPolicy.check` returns the one address that was checked; the sender connects to
that address rather than resolving the name again, so DNS cannot answer differently between
the check and the connection (rebinding). No Flask here: the API checks at subscription time
and the senders check again at every send, with the same policy.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

_C_OCTAL = re.compile(r"0[0-7]*")
_C_DECIMAL = re.compile(r"[1-9][0-9]*")
_C_HEX = re.compile(r"0[xX][0-9a-fA-F]*")


class OutboundTargetError(ValueError):
    """A URL the service will not send to; the message is short and safe to show or log."""


class TargetRefused(OutboundTargetError):
    """The URL itself, or an address its host resolves to, is not allowed: sending again will
    not help."""


class HostNotResolved(OutboundTargetError):
    """The host name does not resolve now (a DNS failure may be temporary)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to ``address`` and speak to ``host`` (Host header, TLS name)."""

    scheme: str
    host: str
    port: int
    #: Path and query string as sent in the request line ("/" when the URL has none).
    path: str
    address: str


def _c_integer(text: str) -> int | None:
    """One part of a dotted IPv4 literal in C ``inet_aton`` notation (0x.., 0.., decimal)."""
    if _C_HEX.fullmatch(text):
        return int(text[2:] or "0", 16)
    if _C_OCTAL.fullmatch(text):
        return int(text, 8)
    if _C_DECIMAL.fullmatch(text):
        return int(text)
    return None


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a C resolver reads in ``host``: besides a.b.c.d also 2130706433,
    0x7f000001, 0177.0.0.1 and short forms such as 127.1 (the last part fills the rest)."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "127.0.0.1." is the same address
    if not 1 <= len(parts) <= 4:
        return None
    values = [_c_integer(part) for part in parts]
    if any(value is None for value in values):
        return None
    *leading, last = [value for value in values if value is not None]
    if any(value > 255 for value in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for index, value in enumerate(leading):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is written as one, in any form a resolver accepts;
    None for a name. IPv4-mapped IPv6 addresses come back as the IPv4 address."""
    if ":" in host:
        try:
            found: IPAddress = ipaddress.IPv6Address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            return None
    else:
        parsed = _inet_aton(host)
        if parsed is None:
            return None
        found = parsed
    return _unmapped(found)


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is on the wire."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _judged_as(address: IPAddress) -> IPAddress:
    """The address whose kind decides: the IPv4 address inside a mapped or a 6to4 (2002::/16)
    IPv6 address, which relays deliver to, else the address itself."""
    address = _unmapped(address)
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        return address.sixtofour
    return address


def refusal_reason(address: IPAddress) -> str | None:
    """Why the address is not a public one ("a loopback address", ...), None when it is."""
    address = _judged_as(address)
    # Most specific first: 0.0.0.0 is also "private", and so is 240.0.0.0/4 ("reserved").
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:  # also ::/8, so IPv4-compatible (::a.b.c.d) and NAT64 addresses
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        # e.g. 100.64.0.0/10 (carrier-grade NAT): neither "private" nor reachable publicly.
        return "a non-public address"
    return None


def _normal_host(host: str) -> str:
    """A host name as compared and sent: lower case, ASCII (IDNA), no trailing dot."""
    host = host.strip().lower().rstrip(".")
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise TargetRefused("the host name is not a valid domain name") from exc


@dataclass(frozen=True)
class OutboundPolicy:
    """Public addresses, plus what the operator allows: host names (any address they resolve
    to) and IP networks."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_setting(cls, allow_hosts: str) -> OutboundPolicy:
        """Parse ``QUIZSVC_OUTBOUND_ALLOW_HOSTS``: comma-separated names, IPs or CIDRs."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in allow_hosts.split(","):
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            literal = literal_address(entry)
            if literal is not None:
                networks.append(ipaddress.ip_network(literal))
            elif re.fullmatch(r"[A-Za-z0-9_.-]+", entry) and entry.strip("."):
                hosts.add(_normal_host(entry))
            else:
                raise ValueError(
                    f"QUIZSVC_OUTBOUND_ALLOW_HOSTS entry {entry!r} is not a host name, "
                    "an IP address or a CIDR network"
                )
        return cls(frozenset(hosts), tuple(networks))

    def _allows_address(self, address: IPAddress) -> bool:
        plain = _unmapped(address)
        return any(plain in network for network in self.allowed_networks)

    def check(self, url: str) -> Target:
        """Parse, resolve and check ``url``; raise TargetRefused or HostNotResolved.

        Every address the name resolves to must pass, not only the first: a resolver that
        answers with a public and a private address must not get a chance to pick.
        """
        parts = urllib.parse.urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise TargetRefused("only http and https URLs are allowed")
        if parts.username is not None or parts.password is not None:
            raise TargetRefused("URLs with credentials (user:password@) are not allowed")
        if not parts.hostname:
            raise TargetRefused("the URL has no host")
        try:
            port = parts.port if parts.port is not None else DEFAULT_PORTS[scheme]
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise TargetRefused("the URL's port is not a number from 1 to 65535")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

        literal = literal_address(parts.hostname)
        host = parts.hostname if literal is not None else _normal_host(parts.hostname)
        addresses = [literal] if literal is not None else self._resolve(host, port)
        if host not in self.allowed_hosts:
            for address in addresses:
                reason = refusal_reason(address)
                if reason is not None and not self._allows_address(address):
                    where = "is" if literal is not None else "resolves to"
                    raise TargetRefused(
                        f"the host {where} {reason}; only public addresses and the hosts in "
                        "QUIZSVC_OUTBOUND_ALLOW_HOSTS are allowed"
                    )
        return Target(scheme, host, port, path, str(_unmapped(addresses[0])))

    @staticmethod
    def _resolve(host: str, port: int) -> list[IPAddress]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise HostNotResolved("the host name does not resolve") from exc
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _canonname, sockaddr in infos:
            # Drop an IPv6 zone ("fe80::1%eth0"): the address alone decides.
            text = str(sockaddr[0]).split("%", 1)[0]
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError as exc:
                raise TargetRefused("the host resolves to something that is not an IP") from exc
        if not addresses:
            raise HostNotResolved("the host name does not resolve")
        return addresses


#: No exceptions: only public addresses. What senders use unless given the operator's list.
PUBLIC_ONLY = OutboundPolicy()
