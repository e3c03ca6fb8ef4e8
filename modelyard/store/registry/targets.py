"""Which webhook URLs the server may call (SSRF defence, MLflow's CVE-2026-2393).

A target is ``http(s)://host[:port]/path`` without credentials. Unless the operator allows private
targets (``Settings.server.webhook_allow_private_targets``), every address the host resolves to must be a
public unicast address: loopback, private (RFC 1918, ULA), link-local (169.254/16: cloud metadata),
shared, multicast, reserved and unspecified addresses are refused, IPv4-mapped IPv6 included.
Numeric spellings (``2130706433``, ``0x7f.1``) resolve to what they mean, so they are caught too.

The check runs when a webhook is saved and again at each delivery, and the delivery then connects
to the address it checked (``Target.address``), so DNS rebinding between check and use gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelyard.exceptions import InvalidParameterValue

MAX_URL_LENGTH = 2000
ALLOWED_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    address: str | None  # the checked address to connect to (None: let the client resolve)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


def parse_url(url: object) -> tuple[str, str, int]:
    """(scheme, host, port) of a syntactically valid webhook URL, else InvalidParameterValue."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidParameterValue("Missing value for required parameter 'url'.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidParameterValue(f"Webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url) or "\\" in url:
        raise InvalidParameterValue("Webhook URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid webhook URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidParameterValue(
            f"Invalid webhook URL scheme '{parts.scheme}'. Allowed schemes are: {', '.join(ALLOWED_SCHEMES)}."
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidParameterValue("Webhook URLs may not carry credentials; use the webhook secret")
    host = parts.hostname
    if not host:
        raise InvalidParameterValue(f"Webhook URL must include a hostname: {url!r}")
    return scheme, host, port or (443 if scheme == "https" else 80)


def check(url: object, allow_private: bool) -> Target:
    """Validate ``url``; unless ``allow_private``, resolve it and require public addresses only."""
    scheme, host, port = parse_url(url)
    assert isinstance(url, str)
    if allow_private:
        return Target(url, scheme, host, port, None)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidParameterValue(f"Webhook URL host '{host}' cannot be resolved: {exc}") from None
    addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
    if not addresses:
        raise InvalidParameterValue(f"Webhook URL host '{host}' cannot be resolved")
    for address in addresses:
        if not _is_public(ipaddress.ip_address(address)):
            raise InvalidParameterValue(
                f"Webhook URL host '{host}' resolves to {address}, a loopback, private, link-local or "
                "otherwise non-public address; the server does not call those unless the operator sets "
                "MODELYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS=true"
            )
    return Target(url, scheme, host, port, addresses[0])
